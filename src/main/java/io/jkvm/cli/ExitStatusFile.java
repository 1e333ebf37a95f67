package io.jkvm.cli;

import io.jkvm.machine.MachineException;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;

/**
 * --exit-status-file: the whole exit status, written when the run ends. Normally through a temporary file and a
 * rename, so a reader never sees half a status; in the sandbox, which may not create or rename files, into the file
 * itself, opened (created if missing, its old content kept) before the sandbox went up.
 */
final class ExitStatusFile {
    private final Path file;
    private FileChannel opened;

    ExitStatusFile(Path file) {
        this.file = file;
    }

    /** Opens the file now, for a write once no file may be opened. */
    void openBeforeSandbox() {
        try {
            opened = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE);
        } catch (IOException e) {
            throw failure(e);
        }
    }

    void write(String text) {
        try {
            if (opened != null) {
                try (FileChannel c = opened) {
                    byte[] bytes = text.getBytes(StandardCharsets.US_ASCII);
                    c.write(ByteBuffer.wrap(bytes), 0);
                    c.truncate(bytes.length);
                }
                return;
            }
            Path tmp = Files.createTempFile(file.toAbsolutePath().getParent(), ".jkvm-status", ".tmp");
            try {
                Files.writeString(tmp, text);
                Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } finally {
                Files.deleteIfExists(tmp);
            }
        } catch (IOException e) {
            throw failure(e);
        }
    }

    private MachineException failure(IOException e) {
        return new MachineException("cannot write --exit-status-file " + file + " (" + e.getMessage()
                + "): check the directory exists and is writable");
    }
}

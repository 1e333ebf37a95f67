package io.jkvm.migration;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.util.Set;

/** The pre-shared key both ends of a migration hold: the bytes of a file only its owner can read. */
public final class MigrationKey {
    private MigrationKey() {
    }

    static final int MIN_BYTES = 32;

    /** Reads a key file: at least 32 bytes, not readable by group or others (as ssh asks of a private key). */
    public static byte[] read(Path file) {
        try {
            Set<PosixFilePermission> mode = Files.getPosixFilePermissions(file);
            if (mode.contains(PosixFilePermission.GROUP_READ) || mode.contains(PosixFilePermission.OTHERS_READ)) {
                throw new MigrationException("migration key " + file + " is readable by other users: chmod 600 " + file);
            }
            byte[] key = Files.readAllBytes(file);
            if (key.length < MIN_BYTES) {
                throw new MigrationException("migration key " + file + " has " + key.length + " bytes, fewer than " + MIN_BYTES
                        + ": make one with head -c 32 /dev/urandom > " + file);
            }
            return key;
        } catch (NoSuchFileException e) {
            throw new MigrationException("migration key " + file + " does not exist: make one with head -c 32 /dev/urandom > " + file
                    + " and give both ends the same file");
        } catch (IOException e) {
            throw new MigrationException("cannot read migration key " + file + " (" + e.getMessage() + ")");
        }
    }
}

package io.jkvm.boot;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;

/**
 * An initramfs Linux unpacks into its root file system: a cpio archive in the "newc" format (the kernel's
 * Documentation/driver-api/early-userspace/buffer-format.rst), uncompressed, which the kernel accepts as it is. Made
 * here for the Linux cache's training, whose whole user space is one program run as /init.
 */
public final class Initramfs {
    private static final int REGULAR_EXECUTABLE = 0100755;

    private Initramfs() {
    }

    /** The archive of one file, {@code /init}: {@code init}'s bytes, a regular file the kernel may execute. */
    public static byte[] withInit(byte[] init) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        entry(out, 1, "init", REGULAR_EXECUTABLE, 1, init);
        entry(out, 0, "TRAILER!!!", 0, 0, new byte[0]); // the archive's end
        return out.toByteArray();
    }

    /**
     * One entry: the header's thirteen fields in eight hex digits each, the name with its NUL, the data, each padded
     * to four bytes.
     */
    private static void entry(ByteArrayOutputStream out, int inode, String name, int mode, int links, byte[] data) {
        byte[] nameBytes = (name + "\0").getBytes(StandardCharsets.US_ASCII);
        StringBuilder header = new StringBuilder("070701");
        // inode, mode, uid, gid, links, mtime, size, the device's major and minor, the special file's major and minor,
        // the name's size with its NUL, a checksum (none in this format)
        for (long field : new long[] {inode, mode, 0, 0, links, 0, data.length, 0, 0, 0, 0, nameBytes.length, 0}) {
            header.append(String.format("%08X", field));
        }
        out.writeBytes(header.toString().getBytes(StandardCharsets.US_ASCII));
        out.writeBytes(nameBytes);
        pad(out);
        out.writeBytes(data);
        pad(out);
    }

    private static void pad(ByteArrayOutputStream out) {
        while (out.size() % 4 != 0) {
            out.write(0);
        }
    }
}

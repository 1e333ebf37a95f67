package io.jkvm.boot;

import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The newc archive as the kernel reads it (Documentation/driver-api/early-userspace/buffer-format.rst): "070701", then
 * thirteen fields of eight hex digits, the name with its NUL padded so the data starts at a multiple of four, the data
 * padded likewise, and an entry named TRAILER!!! last.
 */
class InitramfsTest {
    private static final int HEADER = 6 + 13 * 8;

    private static long field(byte[] archive, int entry, int n) {
        return Long.parseLong(new String(archive, entry + 6 + 8 * n, 8, StandardCharsets.US_ASCII), 16);
    }

    @Test
    void oneExecutableInitThenTheTrailer() {
        byte[] init = {0x7f, 'E', 'L', 'F', 1, 2, 3}; // seven bytes: the data's padding shows
        byte[] archive = Initramfs.withInit(init);
        assertEquals("070701", new String(archive, 0, 6, StandardCharsets.US_ASCII));
        assertEquals(0100755, field(archive, 0, 1), "a regular file, rwxr-xr-x");
        assertEquals(7, field(archive, 0, 6), "its size");
        assertEquals(5, field(archive, 0, 11), "init and its NUL");
        assertEquals("init\0", new String(archive, HEADER, 5, StandardCharsets.US_ASCII));
        int data = HEADER + 5 + 1; // 115 bytes of header and name, padded to 116
        assertArrayEquals(init, Arrays.copyOfRange(archive, data, data + 7));
        int trailer = data + 8;
        assertEquals("070701", new String(archive, trailer, 6, StandardCharsets.US_ASCII));
        assertEquals(0, field(archive, trailer, 6), "the trailer holds no data");
        assertEquals(11, field(archive, trailer, 11));
        assertEquals("TRAILER!!!\0", new String(archive, trailer + HEADER, 11, StandardCharsets.US_ASCII));
        assertEquals(trailer + HEADER + 11 + 3, archive.length, "the archive ends padded to four bytes");
        assertEquals(0, archive.length % 4);
    }
}

package io.jkvm.linux;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.Random;
import java.util.zip.CRC32C;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

class PageChecksumTest {

    private static int crc(byte[] bytes, int from, int to) {
        CRC32C c = new CRC32C();
        c.update(bytes, from, to - from);
        return (int) c.getValue();
    }

    @Test
    void twoPartsCombinedAreTheCrcOfTheWhole() {
        Random random = new Random(19);
        byte[] bytes = new byte[70_000];
        random.nextBytes(bytes);
        for (int cut : new int[]{0, 1, 7, 8, 4096, 4104, 33_333, 69_999, 70_000}) {
            assertEquals(crc(bytes, 0, bytes.length), PageChecksum.combine(crc(bytes, 0, cut), crc(bytes, cut, bytes.length),
                    bytes.length - cut), "cut at " + cut);
        }
        assertNotEquals(crc(bytes, 0, bytes.length), PageChecksum.combine(crc(bytes, 0, 100), crc(bytes, 100, bytes.length),
                bytes.length - 101), "a wrong length gives another CRC");
    }

    /** 40 MiB with data, zero pages among it and a hole: summed in 1 to 4 parts, always the writer's checksum. */
    @Test
    void aFileSummedInPartsHasTheWritersChecksum(@TempDir Path dir) throws java.io.IOException {
        Path ram = dir.resolve("ram");
        long size = 40L << 20;
        long written;
        try (Mapping m = Mapping.anonymous(size, "test RAM");
             FileChannel out = FileChannel.open(ram, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
            Random random = new Random(7);
            for (long page = 0; page < size / 4096; page++) {
                if (page % 5 != 3 && (page < 1000 || page > 3000)) { // every fifth page zero, and a run of them
                    m.putByte(page * 4096 + random.nextInt(4096), (byte) (1 + random.nextInt(255)));
                }
            }
            written = m.writeNonZeroPagesTo(out);
            out.truncate(size);
            if (out.size() < size) {
                out.write(java.nio.ByteBuffer.allocate(1), size - 1);
            }
        }
        try (FileChannel in = FileChannel.open(ram)) {
            List<SparseFile.Extent> extents = SparseFile.dataExtents(ram, size);
            long data = PageChecksum.dataBytes(extents, size);
            for (int parts = 1; parts <= 4; parts++) {
                assertEquals(parts + 1, PageChecksum.bounds(extents, size, data, parts).size(), "the file splits in " + parts);
                assertEquals(written, PageChecksum.ofFile(in, extents, size, parts), parts + " parts");
            }
            // the same file described as one extent, zero pages read and left out
            assertEquals(written, PageChecksum.ofFile(in, List.of(new SparseFile.Extent(0, size)), size, 3));
            assertEquals(written, PageChecksum.ofFile(in, extents, size));
        }
    }
}

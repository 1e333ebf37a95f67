package io.jkvm.linux;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** lseek's data extents of a sparse file: the written runs are found, the holes between them skipped. */
class SparseFileTest {
    @Test
    void theWrittenRunsAreTheDataExtents(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("sparse");
        long size = 64L << 20;
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
            ch.write(ByteBuffer.wrap(new byte[]{1}), 0x10_0000);
            ch.write(ByteBuffer.wrap(new byte[]{2}), 0x300_0000);
            ch.write(ByteBuffer.allocate(1), size - 1);
        }
        List<SparseFile.Extent> extents = SparseFile.dataExtents(file, size);
        assertTrue(extents.stream().anyMatch(e -> e.start() <= 0x10_0000 && e.end() > 0x10_0000), extents.toString());
        assertTrue(extents.stream().anyMatch(e -> e.start() <= 0x300_0000 && e.end() > 0x300_0000), extents.toString());
        long data = extents.stream().mapToLong(e -> e.end() - e.start()).sum();
        assertTrue(data < 4L << 20, "the holes are skipped: " + data + " bytes of data in " + extents);
        for (int i = 1; i < extents.size(); i++) {
            assertTrue(extents.get(i - 1).end() <= extents.get(i).start(), "in order, apart");
        }
        assertEquals(List.of(), SparseFile.dataExtents(dir.resolve("empty").toFile().createNewFile() ? dir.resolve("empty") : null, 0));
    }

    /**
     * The writer's checksum is what the reader computes from the file it wrote, and extents smaller than a page (a
     * file system with 1 KiB blocks) that share one have the page summed once.
     */
    @Test
    void theFilesChecksumIsTheWritersAndAPageSharedByTwoExtentsIsSummedOnce(@TempDir Path dir) throws java.io.IOException {
        Path ram = dir.resolve("ram");
        long written;
        try (Mapping m = Mapping.anonymous(4 * 4096, "test RAM");
             java.nio.channels.FileChannel out = java.nio.channels.FileChannel.open(ram, java.nio.file.StandardOpenOption.CREATE_NEW,
                     java.nio.file.StandardOpenOption.WRITE)) {
            m.putByte(4096 + 10, (byte) 1);
            m.putByte(4096 + 3000, (byte) 2);
            m.putByte(3 * 4096, (byte) 3);
            written = m.writeNonZeroPagesTo(out);
        }
        try (java.nio.channels.FileChannel in = java.nio.channels.FileChannel.open(ram)) {
            long whole = PageChecksum.ofFile(in, List.of(new SparseFile.Extent(0, 4 * 4096)), 4 * 4096);
            long split = PageChecksum.ofFile(in, List.of(new SparseFile.Extent(4096, 4096 + 1024),
                    new SparseFile.Extent(4096 + 2048, 4096 + 4000), new SparseFile.Extent(3 * 4096, 3 * 4096 + 1)), 4 * 4096);
            assertEquals(written, whole);
            assertEquals(whole, split);
            assertNotEquals(whole, PageChecksum.ofFile(in, List.of(new SparseFile.Extent(0, 2 * 4096)), 4 * 4096),
                    "a page left out changes the sum");
        }
    }
}

package io.jkvm.linux;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.zip.CRC32C;

/**
 * The checksum of guest RAM a snapshot keeps: CRC32C over every 4 KiB page that is not all zeros, in address order,
 * each preceded by its offset as 8 big-endian bytes. A memory file is summed in parts on several threads at once;
 * the parts' CRCs are joined with {@link #combine}, so the result is the one sequential CRC the writer computed.
 */
public final class PageChecksum {
    static final long PAGE = 4096;
    private static final MemorySegment ZERO_PAGE = MemorySegment.ofArray(new byte[(int) PAGE]);
    /** CRC32C's polynomial, bit-reversed (the form java.util.zip.CRC32C computes with). */
    private static final int POLY = 0x82F63B78;
    /** x^(2^k) mod POLY for k = 0..31: what shifting a CRC by 2^k bits multiplies it by. */
    private static final int[] X_POW_2K = new int[32];
    /** Below this many bytes of data a file is summed on one thread: a thread's start would cost more than it saves. */
    private static final long PARALLEL_FROM = 16L << 20;

    static {
        X_POW_2K[0] = 1 << 30; // x^1, bit-reversed
        for (int k = 1; k < 32; k++) {
            X_POW_2K[k] = multiply(X_POW_2K[k - 1], X_POW_2K[k - 1]);
        }
    }

    private PageChecksum() {
    }

    /** Whether {@code page} is all zero bytes. */
    static boolean isZero(MemorySegment page) {
        return page.mismatch(ZERO_PAGE.asSlice(0, page.byteSize())) == -1;
    }

    /** Adds the page at offset {@code at} to {@code crc}; returns the bytes it added. */
    static long addPage(CRC32C crc, long at, MemorySegment page) {
        crc.update(ByteBuffer.allocate(8).putLong(0, at));
        crc.update(page.asByteBuffer());
        return 8 + page.byteSize();
    }

    /**
     * The CRC32C of A followed by B, from the CRC32C of A, that of B and B's length in bytes: A's CRC is shifted past
     * B's bits (a multiplication by x^(8 * lengthB) modulo the polynomial) and added to B's.
     */
    public static int combine(int crcA, int crcB, long lengthB) {
        int shift = 1 << 31; // x^0
        long bits = lengthB;
        for (int k = 3; bits != 0; k++, bits >>>= 1) { // 8 * lengthB = lengthB << 3: start at x^(2^3)
            if ((bits & 1) != 0) {
                shift = multiply(X_POW_2K[k & 31], shift);
            }
        }
        return multiply(shift, crcA) ^ crcB;
    }

    /** a * b modulo POLY, both bit-reversed polynomials (bit 31 is x^0). */
    private static int multiply(int a, int b) {
        int product = 0;
        for (int m = 1 << 31; m != 0; m >>>= 1) {
            if ((a & m) != 0) {
                product ^= b;
            }
            b = (b & 1) != 0 ? (b >>> 1) ^ POLY : b >>> 1;
        }
        return product;
    }

    /**
     * The checksum of a memory file of {@code size} bytes whose pages outside {@code extents} are known to be zero (its
     * holes): only the pages inside them are read, through {@code file} in large reads rather than a mapping, so the
     * kernel copies from its page cache and no page of the guest's mapping is faulted in. A page two extents share is
     * summed once. Large files are split into one part per processor (up to four), each summed on its own thread.
     */
    public static long ofFile(FileChannel file, List<SparseFile.Extent> extents, long size) throws IOException {
        int parts = dataBytes(extents, size) < PARALLEL_FROM ? 1 : Math.clamp(Runtime.getRuntime().availableProcessors(), 1, 4);
        return ofFile(file, extents, size, parts);
    }

    /** The bytes {@code extents} cover within a file of {@code size} bytes. */
    static long dataBytes(List<SparseFile.Extent> extents, long size) {
        long data = 0;
        for (SparseFile.Extent e : extents) {
            data += Math.min(e.end(), size) - Math.min(e.start(), size);
        }
        return data;
    }

    /** {@link #ofFile(FileChannel, List, long)} in (up to) {@code parts} parts, each on its own thread. */
    static long ofFile(FileChannel file, List<SparseFile.Extent> extents, long size, int parts) throws IOException {
        List<Long> bounds = bounds(extents, size, dataBytes(extents, size), parts);
        List<CompletableFuture<Part>> others = new ArrayList<>();
        for (int i = 1; i < bounds.size() - 1; i++) {
            long from = bounds.get(i);
            long to = bounds.get(i + 1);
            CompletableFuture<Part> part = new CompletableFuture<>();
            Thread.ofPlatform().daemon().name("jkvm-checksum-" + i).start(() -> {
                try {
                    part.complete(sum(file, extents, from, to));
                } catch (Throwable t) {
                    part.completeExceptionally(t);
                }
            });
            others.add(part);
        }
        Part whole = sum(file, extents, bounds.get(0), bounds.get(1));
        for (CompletableFuture<Part> f : others) {
            Part next;
            try {
                next = f.join();
            } catch (CompletionException e) {
                if (e.getCause() instanceof IOException io) {
                    throw io;
                }
                throw e.getCause() instanceof RuntimeException r ? r : e;
            }
            whole = new Part(combine(whole.crc(), next.crc(), next.length()), whole.length() + next.length());
        }
        return Integer.toUnsignedLong(whole.crc());
    }

    /** A part's CRC32C and how many bytes it covered. */
    private record Part(int crc, long length) {
    }

    /** Page-aligned offsets 0 = b0 < b1 < ... = size that split the data bytes into about {@code parts} equal shares. */
    static List<Long> bounds(List<SparseFile.Extent> extents, long size, long data, int parts) {
        List<Long> bounds = new ArrayList<>(List.of(0L));
        long share = data / parts;
        long seen = 0;
        for (SparseFile.Extent e : extents) {
            long start = Math.min(e.start(), size);
            long end = Math.min(e.end(), size);
            while (bounds.size() < parts && seen + (end - start) >= share * bounds.size()) {
                long cut = (start + share * bounds.size() - seen) & -PAGE;
                if (cut <= bounds.getLast() || cut >= size) {
                    break;
                }
                bounds.add(cut);
            }
            seen += end - start;
        }
        bounds.add(size);
        return bounds;
    }

    /** The CRC of the non-zero pages in [from, to), both page-aligned (or {@code to} the file's end). */
    private static Part sum(FileChannel file, List<SparseFile.Extent> extents, long from, long to) throws IOException {
        CRC32C crc = new CRC32C();
        long length = 0;
        ByteBuffer buffer = ByteBuffer.allocateDirect(1 << 20);
        MemorySegment window = MemorySegment.ofBuffer(buffer);
        long next = from; // the first page not summed yet: extents smaller than a page can share one
        for (SparseFile.Extent e : extents) {
            long at = Math.max(e.start() & -PAGE, next);
            long end = Math.min((e.end() + PAGE - 1) & -PAGE, to); // the pages the extent reaches into, whole
            while (at < end) {
                int chunk = (int) Math.min(buffer.capacity(), end - at);
                buffer.clear().limit(chunk);
                while (buffer.hasRemaining()) {
                    if (file.read(buffer, at + buffer.position()) < 0) {
                        throw new java.io.EOFException("the memory file ends at " + (at + buffer.position()) + ", before " + to);
                    }
                }
                for (int p = 0; p < chunk; p += (int) PAGE) {
                    MemorySegment page = window.asSlice(p, Math.min(PAGE, chunk - p));
                    if (!isZero(page)) {
                        length += addPage(crc, at + p, page);
                    }
                }
                at += chunk;
            }
            next = Math.max(next, at);
        }
        return new Part((int) crc.getValue(), length);
    }
}

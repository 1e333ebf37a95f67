package io.jkvm.emu;

import io.jkvm.linux.Mapping;

/**
 * Decoded blocks by guest-physical address, with the two ways they go stale:
 * <ul>
 * <li>the core's own stores: every RAM store checks a bitmap of the 64-byte lines that hold decoded code, and a hit
 * drops the page's blocks at once (self-modifying code, REP MOVS over code, XSAVE over code...);</li>
 * <li>writes the core does not see (the machine loading an image or doing DMA between two runs, another vCPU): a new
 * epoch, begun on every entry to {@code run()} and on serializing instructions, makes each block compare its bytes
 * with memory once before it runs again (x86 asks a CPU to serialize before running code another agent wrote).</li>
 * </ul>
 * Lines, not pages, so code sharing a page with data (small guests, the benchmarks) is not dropped at each store.
 */
final class CodeCache {
    static final int PAGE = 4096;

    private final Mapping ram;
    private final DecodedBlock[][] pages;   // by physical page number; null: nothing decoded there
    private final long[] codeLines;         // by physical page number: bit n set when line n holds decoded bytes
    private int epoch;

    CodeCache(Mapping ram) {
        this.ram = ram;
        int n = (int) (ram.size() / PAGE);
        this.pages = new DecodedBlock[n][];
        this.codeLines = new long[n];
    }

    /** The block decoded at {@code physical} that still matches memory, or null. */
    DecodedBlock find(long physical) {
        DecodedBlock[] page = pages[(int) (physical >>> 12)];
        if (page == null) {
            return null;
        }
        DecodedBlock b = page[(int) (physical & (PAGE - 1))];
        if (b == null || b.checkedEpoch == epoch) {
            return b;
        }
        for (int i = 0; i < b.bytes.length; i++) {
            if (ram.getByte(physical + i) != b.bytes[i]) {
                page[(int) (physical & (PAGE - 1))] = null;
                return null;
            }
        }
        b.checkedEpoch = epoch;
        return b;
    }

    /** Decodes the block at {@code physical} (in RAM, the whole page inside it) and keeps it. */
    DecodedBlock decode(long physical) {
        int pageNumber = (int) (physical >>> 12);
        int offset = (int) (physical & (PAGE - 1));
        DecodedBlock b = BlockDecoder.decode(ram, physical - offset, offset, epoch);
        DecodedBlock[] page = pages[pageNumber];
        if (page == null) {
            page = pages[pageNumber] = new DecodedBlock[PAGE];
        }
        page[offset] = b;
        int length = b.bytes.length;
        if (length > 0) {
            for (int line = offset >>> 6; line <= (offset + length - 1) >>> 6; line++) {
                codeLines[pageNumber] |= 1L << line;
            }
        }
        return b;
    }

    /**
     * A store of {@code size} (1-8) bytes at {@code physical}, inside RAM and inside one page; true when it dropped
     * decoded code (the block being run may be among it).
     */
    boolean stored(long physical, int size) {
        int pageNumber = (int) (physical >>> 12);
        if (pageNumber >= codeLines.length) {
            return false; // the partial page at the end of RAM, never decoded
        }
        long lines = codeLines[pageNumber];
        if (lines != 0) {
            int offset = (int) (physical & (PAGE - 1));
            long touched = (1L << (offset >>> 6)) | (1L << ((offset + size - 1) >>> 6));
            if ((lines & touched) != 0) {
                pages[pageNumber] = null;
                codeLines[pageNumber] = 0;
                return true;
            }
        }
        return false;
    }

    /** Memory may have been written where the core cannot see: check each block against it before it runs again. */
    void newEpoch() {
        epoch++;
    }
}

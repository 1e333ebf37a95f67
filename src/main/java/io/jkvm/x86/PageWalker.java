package io.jkvm.x86;

/** Translates a linear address through 4-level long-mode page tables read from guest-physical memory. */
public final class PageWalker {
    private PageWalker() {
    }

    /** Reads a 64-bit page-table entry at a guest-physical address; returns 0 (not present) outside RAM. */
    public interface PhysicalReader {
        long readLong(long physical);
    }

    /** The guest-physical address of {@code linear}, or -1 when a level is not present. */
    public static long translate(long cr3, long linear, PhysicalReader memory) {
        long table = cr3 & ControlBits.PTE_ADDRESS;
        for (int level = 4; level >= 1; level--) {
            int shift = 12 + 9 * (level - 1);
            long entry = memory.readLong(table + ((linear >>> shift) & 0x1FF) * 8);
            if ((entry & ControlBits.PTE_PRESENT) == 0) {
                return -1;
            }
            if (level == 1 || (level <= 3 && (entry & ControlBits.PTE_LARGE) != 0)) {
                long pageMask = (1L << shift) - 1;
                return (entry & ControlBits.PTE_ADDRESS & ~pageMask) | (linear & pageMask);
            }
            table = entry & ControlBits.PTE_ADDRESS;
        }
        return -1;
    }
}

package io.jkvm.emu;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

/**
 * The 4 KiB pages of guest RAM the software core has stored to since the last {@link #take()}: the core's dirty log,
 * as KVM keeps one for its vCPUs, for a migration's pre-copy rounds. Every vCPU of a machine marks the same one.
 */
public final class DirtyPages {
    private static final VarHandle WORD = MethodHandles.arrayElementVarHandle(long[].class);
    private final long[] bits;
    private final long pages;

    public DirtyPages(long ramSize) {
        this.pages = (ramSize + 4095) >>> 12;
        this.bits = new long[(int) ((pages + 63) >>> 6)];
    }

    public long pages() {
        return pages;
    }

    /** Marks the page holding {@code physical}. */
    public void mark(long physical) {
        long page = physical >>> 12;
        int word = (int) (page >>> 6);
        long bit = 1L << (page & 63);
        if (((long) WORD.getOpaque(bits, word) & bit) == 0) {
            WORD.getAndBitwiseOr(bits, word, bit);
        }
    }

    /** Marks every page: what a first round sends, and what to assume of writes the core did not see. */
    public void markAll() {
        for (int w = 0; w < bits.length; w++) {
            WORD.setVolatile(bits, w, -1L);
        }
    }

    /** The pages stored to since the last take (bit n of word w: page 64w + n), cleared as they are read. */
    public long[] take() {
        long[] out = new long[bits.length];
        for (int w = 0; w < bits.length; w++) {
            out[w] = (long) WORD.getAndSet(bits, w, 0L);
        }
        if ((pages & 63) != 0) {
            out[out.length - 1] &= (1L << (pages & 63)) - 1;
        }
        return out;
    }
}

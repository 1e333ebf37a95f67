package io.jkvm.emu;

/**
 * The decoded blocks of one guest-physical page, by the offset each starts at: an open-addressed table that grows to
 * twice the blocks it holds. A page of code holds tens of blocks, so this is a few hundred bytes where an array by
 * offset would take 16 KiB for every page with code. A block's own address is its key, so the table is blocks alone.
 */
final class PageBlocks {
    private DecodedBlock[] slots = new DecodedBlock[16];
    private int count;

    /** The block starting at {@code offset} (0-4095), or null. */
    DecodedBlock get(int offset) {
        DecodedBlock[] s = slots;
        int mask = s.length - 1;
        for (int i = slot(offset, mask); ; i = (i + 1) & mask) {
            DecodedBlock b = s[i];
            if (b == null || offsetOf(b) == offset) {
                return b;
            }
        }
    }

    /** Puts {@code b} at its offset; returns the block it replaces there, or null. */
    DecodedBlock put(DecodedBlock b) {
        int offset = offsetOf(b);
        int mask = slots.length - 1;
        for (int i = slot(offset, mask); ; i = (i + 1) & mask) {
            DecodedBlock old = slots[i];
            if (old == null) {
                slots[i] = b;
                if (++count * 2 > slots.length) {
                    grow();
                }
                return null;
            }
            if (offsetOf(old) == offset) {
                slots[i] = b;
                return old;
            }
        }
    }

    /** How many blocks it holds. */
    int size() {
        return count;
    }

    /** Each block it holds, in no order. */
    void forEach(java.util.function.Consumer<DecodedBlock> action) {
        for (DecodedBlock b : slots) {
            if (b != null) {
                action.accept(b);
            }
        }
    }

    /** Removes the blocks {@code gone} accepts. */
    void removeIf(java.util.function.Predicate<DecodedBlock> gone) {
        DecodedBlock[] old = slots;
        slots = new DecodedBlock[old.length];
        count = 0;
        refill(old, gone);
    }

    private void grow() {
        DecodedBlock[] old = slots;
        slots = new DecodedBlock[old.length * 2];
        count = 0;
        refill(old, b -> false);
    }

    /** Puts back the blocks of {@code old} that {@code gone} does not accept (the table has room for all). */
    private void refill(DecodedBlock[] old, java.util.function.Predicate<DecodedBlock> gone) {
        int mask = slots.length - 1;
        for (DecodedBlock b : old) {
            if (b != null && !gone.test(b)) {
                count++;
                int i = slot(offsetOf(b), mask);
                while (slots[i] != null) {
                    i = (i + 1) & mask;
                }
                slots[i] = b;
            }
        }
    }

    private static int offsetOf(DecodedBlock b) {
        return (int) b.physical & (CodeCache.PAGE - 1);
    }

    /** Fibonacci hashing: neighbouring offsets land apart, so a run of short blocks does not make one long probe. */
    private static int slot(int offset, int mask) {
        return (offset * 0x9E3779B1 >>> 16) & mask;
    }
}

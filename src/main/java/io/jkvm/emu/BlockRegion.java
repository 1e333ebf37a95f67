package io.jkvm.emu;

import java.util.Arrays;

/**
 * The decoded blocks one compiled method runs ({@link BlockCompiler}): the entry block first, then blocks of its page
 * and the pages near it that its direct branches, calls, calls' return sites and fall-throughs reach, each at its
 * linear offset from the entry ({@link RegionCompilation} finds them and checks their pages' translations). A branch
 * from one to another stays in the method, registers and flags in locals.
 */
record BlockRegion(BlockOp[][] blocks, long[] starts) {
    BlockRegion {
        if (blocks.length == 0 || blocks.length != starts.length || starts[0] != 0) {
            throw new IllegalArgumentException("a region starts with its entry block, at offset 0");
        }
    }

    /** The region of one block. */
    static BlockRegion of(BlockOp[] insns) {
        return new BlockRegion(new BlockOp[][]{insns}, new long[]{0});
    }

    /** Its first {@code n} blocks. */
    BlockRegion first(int n) {
        return new BlockRegion(Arrays.copyOf(blocks, n), Arrays.copyOf(starts, n));
    }

    /** The instructions of all its blocks, one block after the other. */
    BlockOp[] insns() {
        return Arrays.stream(blocks).flatMap(Arrays::stream).toArray(BlockOp[]::new);
    }

    /** The block starting {@code offset} bytes from the entry, or -1. */
    int blockAt(long offset) {
        for (int k = 0; k < starts.length; k++) {
            if (starts[k] == offset) {
                return k;
            }
        }
        return -1;
    }

    /**
     * Every offset a direct Jcc, JMP, CALL or fall-through of {@code insns}, starting at {@code start}, goes to, and
     * where a CALL's callee returns to (the method follows a RET there when the return address is that block's).
     */
    static long[] successors(BlockOp[] insns, long start) {
        long[] out = new long[insns.length + 2];
        int n = 0;
        long at = start;
        for (BlockOp d : insns) {
            at += d.length();
            if (d.op() == BlockOp.JCC || d.op() == BlockOp.JMP || d.op() == BlockOp.CALL) {
                out[n++] = at + d.imm();
            }
        }
        BlockOp last = insns[insns.length - 1];
        if (!last.endsBlock() || last.op() == BlockOp.CALL) {
            out[n++] = at;
        }
        return Arrays.copyOf(out, n);
    }
}

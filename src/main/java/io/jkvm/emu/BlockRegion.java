package io.jkvm.emu;

import java.util.Arrays;

/**
 * The decoded blocks one compiled method runs ({@link BlockCompiler}): the entry block first, then blocks of its page
 * and the pages near it that its direct branches, calls, calls' return sites and fall-throughs reach, each at its
 * linear offset from the entry ({@link RegionCompilation} finds them and checks their pages' translations). A branch
 * from one to another stays in the method, registers and flags in locals. {@code entryCut}: the entry block is its
 * decoded block cut before another block's start ({@link #ofOverlapping}), so its end is no end of the decoded block:
 * the method leaves there as a branch would, when that block is not in it.
 */
record BlockRegion(BlockOp[][] blocks, long[] starts, boolean entryCut) {
    BlockRegion {
        if (blocks.length == 0 || blocks.length != starts.length || starts[0] != 0) {
            throw new IllegalArgumentException("a region starts with its entry block, at offset 0");
        }
    }

    BlockRegion(BlockOp[][] blocks, long[] starts) {
        this(blocks, starts, false);
    }

    /** The region of one block. */
    static BlockRegion of(BlockOp[] insns) {
        return new BlockRegion(new BlockOp[][]{insns}, new long[]{0});
    }

    /**
     * The region of {@code blocks} at {@code starts}, each cut before the first of its instructions that another block
     * starts at, where it then falls through to that block. Decoded blocks overlap where a branch goes into the middle
     * of another block's straight run (a loop's back edge past its head, as XZ's range decoder has): each such
     * instruction is then in the method once, not in every block that runs it, and more of a loop fits in one method.
     */
    static BlockRegion ofOverlapping(BlockOp[][] blocks, long[] starts) {
        BlockOp[][] cut = new BlockOp[blocks.length][];
        for (int k = 0; k < blocks.length; k++) {
            cut[k] = upToAnother(blocks[k], starts[k], starts);
        }
        return new BlockRegion(cut, starts, cut[0].length < blocks[0].length);
    }

    /** The instructions of a block at {@code start} up to the first that one of {@code starts} is the address of. */
    private static BlockOp[] upToAnother(BlockOp[] insns, long start, long[] starts) {
        long at = start;
        for (int i = 0; i < insns.length - 1; i++) {
            at += insns[i].length();
            for (long other : starts) {
                if (other == at) {
                    return Arrays.copyOf(insns, i + 1);
                }
            }
        }
        return insns;
    }

    /** Its first {@code n} blocks. */
    BlockRegion first(int n) {
        return new BlockRegion(Arrays.copyOf(blocks, n), Arrays.copyOf(starts, n), entryCut);
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

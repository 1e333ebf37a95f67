package io.jkvm.emu;

/**
 * Runs of a block's 64-bit stack accesses (PUSH, POP, a CALL's push, RET's pop) with nothing between them that moves
 * RSP otherwise or reaches memory: the span they reach from RSP at the run's start is known when the block is
 * compiled, so one direct look-up of the whole span serves them all when it lies in one page
 * ({@link MemoryAccess#stackRead64}). A look-up of its own is some dozen instructions and two dependent loads an
 * access; a function's pushes and pops, and a RET after them, come in such runs.
 */
final class StackRuns {
    /**
     * A run starting at an instruction: the first byte of the span its accesses reach, from RSP before that
     * instruction, the span's length, and whether any of them stores.
     */
    record Run(int from, int span, boolean stores) {
    }

    /** The run starting at each instruction of the region, or null. */
    private final Run[] starting;
    /** Whether each instruction's stack access is one of a run's. */
    private final boolean[] member;

    private StackRuns(int insns) {
        starting = new Run[insns];
        member = new boolean[insns];
    }

    /** The runs of {@code insns}, whose blocks start at {@code first} (one more entry: the end). */
    static StackRuns of(BlockOp[] insns, int[] first) {
        StackRuns runs = new StackRuns(insns.length);
        for (int k = 0; k + 1 < first.length; k++) {
            int start = -1, count = 0, delta = 0, from = 0, to = 0;
            boolean stores = false;
            for (int i = first[k]; i <= first[k + 1]; i++) {
                BlockOp d = i < first[k + 1] ? insns[i] : null;
                boolean pushes = d != null
                        && ((d.op() == BlockOp.PUSH_REG || d.op() == BlockOp.PUSH_IMM) && d.size() == 8
                        || d.op() == BlockOp.CALL);
                boolean pops = d != null && (d.op() == BlockOp.POP_REG && d.size() == 8 || d.op() == BlockOp.RET);
                if (pushes || pops) {
                    if (start < 0) {
                        start = i;
                        count = 0;
                        delta = 0;
                        from = Integer.MAX_VALUE;
                        to = Integer.MIN_VALUE;
                        stores = false;
                    }
                    int at = pushes ? delta - 8 : delta;
                    from = Math.min(from, at);
                    to = Math.max(to, at + 8);
                    stores |= pushes;
                    delta += pushes ? -8 : 8;
                    count++;
                    runs.member[i] = true;
                    if (d.op() == BlockOp.CALL || d.op() == BlockOp.RET || d.op() == BlockOp.POP_REG && d.reg() == 4) {
                        runs.end(start, i, count, from, to, stores); // RIP, or RSP (POP RSP), goes elsewhere
                        start = -1;
                    }
                } else if (start >= 0 && (d == null || !AddressRuns.between(d, 1L << 4))) {
                    runs.end(start, i - 1, count, from, to, stores);
                    start = -1;
                }
            }
        }
        return runs;
    }

    /** Records the run of {@code start}..{@code last}, or unmarks its one access: a look-up of its own is as cheap. */
    private void end(int start, int last, int count, int from, int to, boolean stores) {
        if (count >= 2) {
            starting[start] = new Run(from, to - from, stores);
            return;
        }
        for (int i = start; i <= last; i++) {
            member[i] = false;
        }
    }

    /** Whether there is any run: the method then sets the run's locals at its entry. */
    boolean any() {
        for (Run r : starting) {
            if (r != null) {
                return true;
            }
        }
        return false;
    }

    /** The run starting at instruction {@code i}, or null. */
    Run startingAt(int i) {
        return starting[i];
    }

    /** Whether instruction {@code i}'s stack access is one of a run's, so it takes the run's look-up. */
    boolean member(int i) {
        return member[i];
    }
}

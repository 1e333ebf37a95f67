package io.jkvm.emu;

/**
 * Runs of a block's loads and stores of one memory operand: the same base, index, scale, displacement, segment and
 * size, with nothing between them that writes those registers, reaches memory, branches or changes a translation (a
 * load, then arithmetic on registers, then the store back: a limb of a long multiply, a counter, a field updated).
 * The run's first access looks the operand's page up once (in the direct write entries when the run stores, a page
 * a store may reach directly being one a read may), and each access of the run takes that host address, or looks
 * itself up on its full path when there is none. Loads with a register destination other than the operand's own
 * registers and MOV stores qualify; read-modify-write instructions have their one look-up already.
 */
final class AddressRuns {
    /** Whether instruction {@code i} starts a run, and whether the run stores (its look-up in the write entries). */
    private final boolean[] starts;
    private final boolean[] stores;
    /** Whether instruction {@code i}'s access is one of a run's. */
    private final boolean[] member;

    private AddressRuns(int insns) {
        starts = new boolean[insns];
        stores = new boolean[insns];
        member = new boolean[insns];
    }

    /** The runs of {@code insns}, whose blocks start at {@code first} (one more entry: the end). */
    static AddressRuns of(BlockOp[] insns, int[] first) {
        AddressRuns runs = new AddressRuns(insns.length);
        for (int k = 0; k + 1 < first.length; k++) {
            int end = first[k + 1];
            for (int i = first[k]; i < end; i++) {
                if (!access(insns[i])) {
                    continue;
                }
                BlockOp head = insns[i];
                long operand = operandRegisters(head);
                int last = i, count = 1;
                boolean anyStore = BlockCompiler.storesToMemory(head);
                boolean open = (BlockCompiler.registersWritten(head) & operand) == 0;
                for (int j = i + 1; open && j < end; j++) {
                    BlockOp d = insns[j];
                    if (access(d) && sameOperand(head, d)) {
                        last = j;
                        count++;
                        anyStore |= BlockCompiler.storesToMemory(d);
                        open = (BlockCompiler.registersWritten(d) & operand) == 0;
                    } else if (!between(d, operand)) {
                        break;
                    }
                }
                if (count >= 2) {
                    runs.starts[i] = true;
                    runs.stores[i] = anyStore;
                    for (int j = i; j <= last; j++) {
                        runs.member[j] = access(insns[j]) && sameOperand(head, insns[j]);
                    }
                    i = last;
                }
            }
        }
        return runs;
    }

    /**
     * Whether {@code d} is an access a run may hold: a load of its memory operand at its own size into a register
     * (MOV, an ALU operation or CMP into a register, CMP or TEST of memory), or a MOV store, addressed without RIP.
     */
    private static boolean access(BlockOp d) {
        if (d.rm() != BlockOp.MEMORY || d.base() == BlockOp.RIP || !BlockCompiler.compiled(d)) {
            return false;
        }
        return switch (d.op()) {
            case BlockOp.MOV_REG_RM, BlockOp.ALU_REG_RM, BlockOp.TEST_RM_REG, BlockOp.TEST_RM_IMM, BlockOp.MOV_RM_REG,
                 BlockOp.MOV_RM_IMM -> true;
            case BlockOp.ALU_RM_REG, BlockOp.ALU_RM_IMM -> d.sub() == 7; // CMP: a read alone
            default -> false;
        };
    }

    private static boolean sameOperand(BlockOp a, BlockOp b) {
        return a.base() == b.base() && a.index() == b.index() && a.scale() == b.scale() && a.disp() == b.disp()
                && a.seg() == b.seg() && a.size() == b.size();
    }

    /** The registers the operand's address is made of, as a mask of register numbers. */
    private static long operandRegisters(BlockOp d) {
        return (d.base() >= 0 ? 1L << d.base() : 0) | (d.index() >= 0 ? 1L << d.index() : 0);
    }

    /**
     * Whether {@code d} may stand between a run's accesses: a compiled form on registers alone that reaches no memory,
     * branches nowhere, changes no translation and leaves the operand's registers.
     */
    private static boolean between(BlockOp d, long operand) {
        return switch (d.op()) {
            case BlockOp.JCC, BlockOp.JMP, BlockOp.CALL, BlockOp.RET, BlockOp.JMP_RM, BlockOp.CALL_RM, BlockOp.LOCKED,
                 BlockOp.SSE, BlockOp.PAUSE, BlockOp.RDTSC, BlockOp.INTERPRETED -> false;
            default -> BlockCompiler.compiled(d) && !BlockCompiler.touchesMemory(d)
                    && (BlockCompiler.registersWritten(d) & operand) == 0;
        };
    }

    /** Whether instruction {@code i} starts a run: it looks the operand's page up before its access. */
    boolean startsAt(int i) {
        return starts[i];
    }

    /** Whether the run starting at {@code i} stores: its look-up is in the direct write entries. */
    boolean stores(int i) {
        return stores[i];
    }

    /** Whether instruction {@code i}'s access is one of a run's, so it takes the run's look-up. */
    boolean member(int i) {
        return member[i];
    }
}

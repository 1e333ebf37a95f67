package io.jkvm.emu;

/**
 * Runs of a block's loads and stores through one base: the same base, index, scale and segment (displacements and
 * sizes may differ, within a span of {@link #MAX_SPAN} bytes), with nothing between them that writes those registers,
 * reaches memory, branches or changes a translation (a load, arithmetic on registers, the store back: a limb of a
 * long multiply, a counter, a structure's fields, a frame's slots). The run's first access looks the span's page up
 * once (in the direct write entries when the run stores, a page a store may reach directly being one a read may), and
 * each access of the run takes its offset in that page, or looks itself up on its full path when the span is not on
 * one direct page. Loads into a register, CMP and TEST of memory, MOV stores and read-modify-writes (ALU operations,
 * INC, DEC, NOT, NEG, shifts and rotates of memory, whose read and store take the access's host address) qualify.
 * Through RSP, a run goes on across pushes, pops and RSP moved by an immediate: each access's place in the span is
 * known from RSP at the run's start.
 */
final class AddressRuns {
    /** The widest span a run's accesses may reach, so that its look-up finds one page about as often as each would. */
    static final int MAX_SPAN = 256;

    /**
     * A run starting at an instruction: the displacement of the span's first byte (its accesses' base, index and
     * segment added give its linear address), the span's length, and whether any of the accesses stores.
     */
    record Run(long from, int span, boolean stores) {
    }

    /** The run starting at each instruction, or null. */
    private final Run[] starting;
    /** Whether instruction {@code i}'s access is one of a run's. */
    private final boolean[] member;
    /** Where member {@code i}'s access is from the first byte of its run's span. */
    private final long[] offset;

    private AddressRuns(int insns) {
        starting = new Run[insns];
        member = new boolean[insns];
        offset = new long[insns];
    }

    /** The runs of {@code insns}, whose blocks start at {@code first} (one more entry: the end). */
    static AddressRuns of(BlockOp[] insns, int[] first) {
        AddressRuns runs = new AddressRuns(insns.length);
        long[] reach = new long[insns.length]; // each member's displacement from the base at the run's start
        for (int k = 0; k + 1 < first.length; k++) {
            int end = first[k + 1];
            for (int i = first[k]; i < end; i++) {
                if (!access(insns[i])) {
                    continue;
                }
                BlockOp head = insns[i];
                long operand = operandRegisters(head);
                long from = head.disp(), to = head.disp() + head.size(), moved = 0;
                int last = i, count = 1;
                boolean stores = BlockCompiler.storesToMemory(head);
                boolean open = (BlockCompiler.registersWritten(head) & operand) == 0;
                reach[i] = head.disp();
                for (int j = i + 1; open && j < end; j++) {
                    BlockOp d = insns[j];
                    long at = moved + d.disp(), move = head.base() == 4 && head.index() != 4 ? stackMove(d) : NO_MOVE;
                    long f = Math.min(from, at), t = Math.max(to, at + d.size());
                    if (access(d) && sameBase(head, d) && t - f <= MAX_SPAN) {
                        from = f;
                        to = t;
                        last = j;
                        count++;
                        stores |= BlockCompiler.storesToMemory(d);
                        open = (BlockCompiler.registersWritten(d) & operand) == 0;
                        runs.member[j] = true;
                        reach[j] = at;
                    } else if (move != NO_MOVE && (BlockCompiler.registersWritten(d) & operand & ~(1L << 4)) == 0) {
                        moved += move; // a push, a pop, or RSP moved by an immediate: the frame's slots move
                    } else if (!between(d, operand)) {
                        break;
                    }
                }
                if (count >= 2) {
                    runs.starting[i] = new Run(from, (int) (to - from), stores);
                    runs.member[i] = true;
                    for (int j = i; j <= last; j++) {
                        runs.offset[j] = reach[j] - from;
                    }
                    i = last;
                }
            }
        }
        return runs;
    }

    private static final long NO_MOVE = Long.MIN_VALUE;

    /**
     * How far {@code d} moves RSP when it is a form an RSP-based run may hold between its accesses, as it knows the
     * move when the block is compiled: an 8-byte PUSH of a register or an immediate, or POP of a register (not RSP's
     * own POP), or ADD or SUB of an immediate to RSP; else NO_MOVE. A push's store is one the block checks at once
     * (one to code ends the block).
     */
    private static long stackMove(BlockOp d) {
        if (!BlockCompiler.compiled(d)) {
            return NO_MOVE;
        }
        return switch (d.op()) {
            case BlockOp.PUSH_REG, BlockOp.PUSH_IMM -> d.size() == 8 ? -8 : NO_MOVE;
            case BlockOp.POP_REG -> d.size() == 8 && d.reg() != 4 ? 8 : NO_MOVE;
            case BlockOp.ALU_RM_IMM -> d.rm() == 4 && d.size() == 8 && (d.sub() == 0 || d.sub() == 5)
                    ? (d.sub() == 0 ? d.imm() : -d.imm()) : NO_MOVE;
            default -> NO_MOVE;
        };
    }

    /**
     * Whether {@code d} is an access a run may hold, at its operand's own size and addressed without RIP: a load into a
     * register (MOV, an ALU operation), CMP or TEST of memory, a MOV store, or a read-modify-write of memory.
     */
    private static boolean access(BlockOp d) {
        if (d.rm() != BlockOp.MEMORY || d.base() == BlockOp.RIP || !BlockCompiler.compiled(d)) {
            return false;
        }
        return switch (d.op()) {
            case BlockOp.MOV_REG_RM, BlockOp.ALU_REG_RM, BlockOp.TEST_RM_REG, BlockOp.TEST_RM_IMM, BlockOp.MOV_RM_REG,
                 BlockOp.MOV_RM_IMM, BlockOp.ALU_RM_REG, BlockOp.ALU_RM_IMM -> true; // CMP too
            default -> CompiledForms.readModifyWrite(d); // INC, DEC, NOT, NEG, shifts and rotates of memory
        };
    }

    private static boolean sameBase(BlockOp a, BlockOp b) {
        return a.base() == b.base() && a.index() == b.index() && a.scale() == b.scale() && a.seg() == b.seg();
    }

    /** The registers the operand's address is made of, as a mask of register numbers. */
    private static long operandRegisters(BlockOp d) {
        return (d.base() >= 0 ? 1L << d.base() : 0) | (d.index() >= 0 ? 1L << d.index() : 0);
    }

    /**
     * Whether {@code d} may stand between a run's accesses (this class's, and a stack run's with RSP as
     * {@code operand}): a compiled form on registers alone that reaches no memory, branches nowhere, changes no
     * translation and leaves the {@code operand} registers (a mask of register numbers).
     */
    static boolean between(BlockOp d, long operand) {
        return switch (d.op()) {
            case BlockOp.JCC, BlockOp.JMP, BlockOp.CALL, BlockOp.RET, BlockOp.JMP_RM, BlockOp.CALL_RM, BlockOp.LOCKED,
                 BlockOp.SSE, BlockOp.PAUSE, BlockOp.RDTSC, BlockOp.FENCE, BlockOp.INTERPRETED -> false;
            default -> BlockCompiler.compiled(d) && !BlockCompiler.touchesMemory(d)
                    && (BlockCompiler.registersWritten(d) & operand) == 0;
        };
    }

    /** The run starting at instruction {@code i}, or null: it looks the span's page up before its access. */
    Run startingAt(int i) {
        return starting[i];
    }

    /** Whether instruction {@code i}'s access is one of a run's, so it takes the run's look-up. */
    boolean member(int i) {
        return member[i];
    }

    /** Where member {@code i}'s access is from the first byte of its run's span. */
    long offset(int i) {
        return offset[i];
    }
}

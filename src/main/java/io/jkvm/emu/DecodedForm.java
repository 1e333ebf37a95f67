package io.jkvm.emu;

/**
 * A decoded instruction ({@link BlockOp}) as an object that runs it: the decoded tier's definition of each form. A
 * block's forms run by one virtual call each ({@link BlockExecution}), and a form is chosen at decode time on what a
 * switch would otherwise test at every run: its op, and for the frequent ones its operand size, a register or memory
 * operand and the ALU operation. Each form's {@link #run} is small, so the JIT compiles it on its own with the helpers
 * it calls inlined, whatever the guest's mix; a compiled region calls the form of an instruction it does not compile
 * ({@link BlockCompiler}), as a constant the JIT can inline there too. The forms by group: {@link DecodedMoves},
 * {@link DecodedArithmetic}, {@link DecodedBranches}, and the few below.
 */
abstract class DecodedForm {
    /** The instruction's length in bytes: the next instruction is at RIP plus this. */
    final int length;

    DecodedForm(BlockOp d) {
        length = d.length();
    }

    /**
     * Executes the instruction at RIP exactly as the interpreter does the same bytes; false when it transferred
     * control (the block is left). A fault leaves RIP at the instruction.
     */
    abstract boolean run(Core c);

    /** The end of an instruction that goes on to the next one. */
    final boolean onward(Core c) {
        c.rip += length;
        return true;
    }

    /**
     * The form that runs {@code d}; one that sets the flags before a store that may fault saves them first
     * ({@link SavingFlags}), so that whoever catches the fault restores them. An instruction the interpreter runs
     * inside a block needs no such form: {@link StepExecution#interpretInBlock} saves them as it starts.
     */
    static DecodedForm of(BlockOp d) {
        DecodedForm form = formOf(d);
        return d.flagsBeforeStore() && d.op() != BlockOp.INTERPRETED ? new SavingFlags(d, form) : form;
    }

    private static DecodedForm formOf(BlockOp d) {
        return switch (d.op()) {
            case BlockOp.JCC, BlockOp.JMP, BlockOp.CALL, BlockOp.RET, BlockOp.JMP_RM, BlockOp.CALL_RM ->
                    DecodedBranches.of(d);
            case BlockOp.MOV_RM_REG, BlockOp.MOV_REG_RM, BlockOp.MOV_RM_IMM, BlockOp.LEA, BlockOp.MOVZX, BlockOp.MOVSX,
                 BlockOp.PUSH_REG, BlockOp.PUSH_IMM, BlockOp.PUSH_RM, BlockOp.POP_REG, BlockOp.NOP, BlockOp.CMOV,
                 BlockOp.SETCC, BlockOp.SIGN_EXTEND_ACC, BlockOp.SIGN_FILL_DX, BlockOp.LEAVE, BlockOp.PUSHF,
                 BlockOp.BSWAP, BlockOp.MOV_FROM_SEG -> DecodedMoves.of(d);
            case BlockOp.ALU_RM_REG, BlockOp.ALU_REG_RM, BlockOp.ALU_RM_IMM, BlockOp.ALU_R64_R64, BlockOp.ALU_R32_R32,
                 BlockOp.TEST_RM_REG, BlockOp.TEST_RM_IMM, BlockOp.INC_DEC_R64, BlockOp.INC, BlockOp.DEC, BlockOp.NOT,
                 BlockOp.NEG, BlockOp.IMUL_IMM, BlockOp.IMUL_REG_RM, BlockOp.SHIFT, BlockOp.MUL_DIV, BlockOp.BIT_TEST ->
                    DecodedArithmetic.of(d);
            case BlockOp.PAUSE -> new Pause(d);
            case BlockOp.FENCE -> new Fence(d);
            case BlockOp.RDTSC -> new Rdtsc(d);
            case BlockOp.CLI -> new Cli(d);
            case BlockOp.SWAP_GS -> new SwapGs(d);
            case BlockOp.AC_FLAG -> new AcFlag(d);
            case BlockOp.SSE -> new Sse(d);
            case BlockOp.INTERPRETED -> new Interpreted(d);
            case BlockOp.LOCKED -> new Locked(d);
            default -> throw new IllegalArgumentException("no decoded form for op " + d.op());
        };
    }

    /**
     * A form whose instruction sets the flags before a store that may fault ({@link BlockOp#flagsBeforeStore}): it saves
     * them before it runs, here rather than by a test at each instruction of every block, and the fault's catcher (the
     * block executor, a compiled region's handler) puts them back.
     */
    static final class SavingFlags extends DecodedForm {
        final DecodedForm form;

        SavingFlags(BlockOp d, DecodedForm form) {
            super(d);
            this.form = form;
        }

        @Override
        boolean run(Core c) {
            c.saveFlags();
            return form.run(c);
        }
    }

    /**
     * A form that reads its operands from the op at each run, through the executor's operand helpers
     * ({@link BlockExecution#regOf}, {@link BlockExecution#operand}, ...): the less frequent variants.
     */
    abstract static class OfOp extends DecodedForm {
        final BlockOp d;

        OfOp(BlockOp d) {
            super(d);
            this.d = d;
        }

        /** The address of the next instruction. */
        final long next(Core c) {
            return c.rip + length;
        }
    }

    /** A form with a memory operand, its parts in fields, from which {@link BlockExecution#address} makes its address. */
    abstract static class WithMemory extends DecodedForm {
        private final long disp;
        private final int base, index, scale, seg;
        private final boolean stackAddressed;

        WithMemory(BlockOp d) {
            super(d);
            disp = d.disp();
            base = d.base();
            index = d.index();
            scale = d.scale();
            seg = d.seg();
            stackAddressed = d.stackAddressed();
        }

        final long address(Core c) {
            return c.address(disp, base, index, scale, seg, stackAddressed, c.rip + length);
        }

        final boolean stackAddressed() {
            return stackAddressed;
        }
    }

    static final class Pause extends DecodedForm {
        Pause(BlockOp d) {
            super(d);
        }

        @Override
        boolean run(Core c) {
            SystemInstructions.pause(c);
            return onward(c);
        }
    }

    static final class Fence extends DecodedForm {
        private final int kind;

        Fence(BlockOp d) {
            super(d);
            kind = d.sub();
        }

        @Override
        boolean run(Core c) {
            SystemInstructions.fence(kind);
            return onward(c);
        }
    }

    static final class Rdtsc extends DecodedForm {
        Rdtsc(BlockOp d) {
            super(d);
        }

        @Override
        boolean run(Core c) {
            SystemInstructions.rdtsc(c);
            return onward(c);
        }
    }

    static final class Cli extends DecodedForm {
        Cli(BlockOp d) {
            super(d);
        }

        @Override
        boolean run(Core c) {
            c.clearInterruptFlag();
            return onward(c);
        }
    }

    static final class SwapGs extends DecodedForm {
        SwapGs(BlockOp d) {
            super(d);
        }

        @Override
        boolean run(Core c) {
            SystemInstructions.swapgs(c);
            return onward(c);
        }
    }

    /** CLAC (sub 0) or STAC (sub 1). */
    static final class AcFlag extends DecodedForm {
        private final boolean set;

        AcFlag(BlockOp d) {
            super(d);
            set = d.sub() != 0;
        }

        @Override
        boolean run(Core c) {
            SystemInstructions.accessCheckFlag(c, set);
            return onward(c);
        }
    }

    static final class Sse extends OfOp {
        Sse(BlockOp d) {
            super(d);
        }

        @Override
        boolean run(Core c) {
            SseForms.run(c, d, d.rm() >= 0 ? 0 : c.address(d, next(c)));
            return onward(c);
        }
    }

    /** An instruction the interpreter runs inside the block, from its own decoding. */
    static final class Interpreted extends OfOp {
        Interpreted(BlockOp d) {
            super(d);
        }

        @Override
        boolean run(Core c) {
            long next = next(c);
            c.interpretInBlock(d.insn()); // it moves RIP itself: to next, or back to it when a REP stopped before its end
            return c.rip == next;
        }
    }

    /** A locked read-modify-write: one compare-and-swap where it can ({@link LockedInPlace}), else the interpreter's. */
    static final class Locked extends OfOp {
        Locked(BlockOp d) {
            super(d);
        }

        @Override
        boolean run(Core c) {
            long next = next(c);
            if (!LockedInPlace.run(c, d, c.address(d, next))) {
                c.interpretInBlock(d.insn()); // which moves RIP to next itself
            }
            c.rip = next;
            return true;
        }
    }
}

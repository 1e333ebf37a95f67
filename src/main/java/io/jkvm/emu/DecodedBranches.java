package io.jkvm.emu;

/** The decoded forms of near branches: Jcc, JMP, CALL and RET, relative and through a register or memory. */
final class DecodedBranches {
    private DecodedBranches() {
    }

    static DecodedForm of(BlockOp d) {
        return switch (d.op()) {
            case BlockOp.JCC -> jcc(d);
            case BlockOp.JMP -> new Jmp(d);
            case BlockOp.CALL -> new Call(d);
            case BlockOp.RET -> new Ret(d);
            case BlockOp.JMP_RM -> new JmpIndirect(d);
            case BlockOp.CALL_RM -> new CallIndirect(d);
            default -> throw new IllegalArgumentException("not a branch: op " + d.op());
        };
    }

    /**
     * A Jcc's form by its condition, the pair of codes that share a test (JO/JNO, JB/JAE, ...): each calls
     * {@link CpuState#condition} with its even code as a constant, so the JIT folds the condition's switch, and the odd
     * code negates it.
     */
    private static DecodedForm jcc(BlockOp d) {
        return switch (d.sub() >> 1) {
            case 0 -> new JccOverflow(d);
            case 1 -> new JccCarry(d);
            case 2 -> new JccZero(d);
            case 3 -> new JccBelowOrEqual(d);
            case 4 -> new JccSign(d);
            case 5 -> new JccParity(d);
            case 6 -> new JccLess(d);
            default -> new JccLessOrEqual(d);
        };
    }

    abstract static class Jcc extends DecodedForm {
        private final boolean negated;
        private final long offset;

        Jcc(BlockOp d) {
            super(d);
            negated = (d.sub() & 1) != 0;
            offset = d.imm();
        }

        /** To the target when {@code holds} (the even code's test) differs from the code's negation, else on. */
        final boolean branch(Core c, boolean holds) {
            long next = c.rip + length;
            if (holds != negated) {
                NearBranches.jump(c, next + offset, 8);
                return false;
            }
            c.rip = next;
            return true;
        }
    }

    static final class JccOverflow extends Jcc {
        JccOverflow(BlockOp d) {
            super(d);
        }

        @Override
        boolean run(Core c) {
            return branch(c, c.condition(0));
        }
    }

    static final class JccCarry extends Jcc {
        JccCarry(BlockOp d) {
            super(d);
        }

        @Override
        boolean run(Core c) {
            return branch(c, c.condition(2));
        }
    }

    static final class JccZero extends Jcc {
        JccZero(BlockOp d) {
            super(d);
        }

        @Override
        boolean run(Core c) {
            return branch(c, c.condition(4));
        }
    }

    static final class JccBelowOrEqual extends Jcc {
        JccBelowOrEqual(BlockOp d) {
            super(d);
        }

        @Override
        boolean run(Core c) {
            return branch(c, c.condition(6));
        }
    }

    static final class JccSign extends Jcc {
        JccSign(BlockOp d) {
            super(d);
        }

        @Override
        boolean run(Core c) {
            return branch(c, c.condition(8));
        }
    }

    static final class JccParity extends Jcc {
        JccParity(BlockOp d) {
            super(d);
        }

        @Override
        boolean run(Core c) {
            return branch(c, c.condition(10));
        }
    }

    static final class JccLess extends Jcc {
        JccLess(BlockOp d) {
            super(d);
        }

        @Override
        boolean run(Core c) {
            return branch(c, c.condition(12));
        }
    }

    static final class JccLessOrEqual extends Jcc {
        JccLessOrEqual(BlockOp d) {
            super(d);
        }

        @Override
        boolean run(Core c) {
            return branch(c, c.condition(14));
        }
    }

    static final class Jmp extends DecodedForm {
        private final long offset;

        Jmp(BlockOp d) {
            super(d);
            offset = d.imm();
        }

        @Override
        boolean run(Core c) {
            NearBranches.jump(c, c.rip + length + offset, 8);
            return false;
        }
    }

    static final class Call extends DecodedForm {
        private final long offset;

        Call(BlockOp d) {
            super(d);
            offset = d.imm();
        }

        @Override
        boolean run(Core c) {
            long next = c.rip + length;
            long target = NearBranches.target(c, next + offset, 8);
            c.push64(next);
            c.rip = target;
            return false;
        }
    }

    static final class Ret extends DecodedForm {
        Ret(BlockOp d) {
            super(d);
        }

        @Override
        boolean run(Core c) {
            long value = c.read64(c.r[4], true, false); // as pop64, RSP moved only once the target is canonical
            c.rip = NearBranches.target(c, value, 8);
            c.r[4] += 8;
            return false;
        }
    }

    static final class JmpIndirect extends DecodedForm.OfOp {
        JmpIndirect(BlockOp d) {
            super(d);
        }

        @Override
        boolean run(Core c) {
            NearBranches.jump(c, c.operand(d, 8, next(c)), 8);
            return false;
        }
    }

    static final class CallIndirect extends DecodedForm.OfOp {
        CallIndirect(BlockOp d) {
            super(d);
        }

        @Override
        boolean run(Core c) {
            long next = next(c);
            NearBranches.call(c, c.operand(d, 8, next), next, 8);
            return false;
        }
    }
}

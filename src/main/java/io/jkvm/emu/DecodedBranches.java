package io.jkvm.emu;

/** The decoded forms of near branches: Jcc, JMP, CALL and RET, relative and through a register or memory. */
final class DecodedBranches {
    private DecodedBranches() {
    }

    static DecodedForm of(BlockOp d) {
        return switch (d.op()) {
            case BlockOp.JCC -> new Jcc(d);
            case BlockOp.JMP -> new Jmp(d);
            case BlockOp.CALL -> new Call(d);
            case BlockOp.RET -> new Ret(d);
            case BlockOp.JMP_RM -> new JmpIndirect(d);
            case BlockOp.CALL_RM -> new CallIndirect(d);
            default -> throw new IllegalArgumentException("not a branch: op " + d.op());
        };
    }

    static final class Jcc extends DecodedForm {
        private final int cc;
        private final long offset;

        Jcc(BlockOp d) {
            super(d);
            cc = d.sub();
            offset = d.imm();
        }

        @Override
        boolean run(Core c) {
            long next = c.rip + length;
            if (c.condition(cc)) {
                NearBranches.jump(c, next + offset, 8);
                return false;
            }
            c.rip = next;
            return true;
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
            NearBranches.call(c, next + offset, next, 8);
            return false;
        }
    }

    static final class Ret extends DecodedForm {
        Ret(BlockOp d) {
            super(d);
        }

        @Override
        boolean run(Core c) {
            NearBranches.ret(c, 8);
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

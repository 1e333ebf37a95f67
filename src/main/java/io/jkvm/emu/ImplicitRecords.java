package io.jkvm.emu;

import java.lang.classfile.CodeBuilder;
import java.util.ArrayList;
import java.util.List;

import static io.jkvm.emu.BlockCompiler.CD_CORE;
import static java.lang.constant.ConstantDescs.CD_int;
import static java.lang.constant.ConstantDescs.CD_long;

/**
 * The flag records a branch to a pending block ({@link BodyState}: one whose first instructions only fault or exit
 * before one sets every flag) leaves as which of them it is, rather than in the pending locals: the CMP of a register
 * with an immediate or another register, or the TEST of a register with itself, whose operands are still in the
 * registers' locals wherever the record is read, as nothing between the instruction and the branch, and nothing in
 * the target block before its flags are set, writes them. A loop's back edge then carries one int round the loop
 * where it carried the record's six values, which the JIT kept in registers it is short of or in stack slots it
 * stored each round; the handlers and exits make the record again from the registers' locals.
 */
final class ImplicitRecords {
    /**
     * A record's shape: its operation ({@link CpuState#LAZY_SUB} or {@link CpuState#LAZY_LOGIC}) and size, the register
     * its destination is, and its source: a register, or (when that is -1) the constant {@code source}.
     */
    record Shape(int op, int size, int register, int sourceRegister, long source) {
        /** The registers the record is made from, as a bit set. */
        long registers() {
            return 1L << register | (sourceRegister >= 0 ? 1L << sourceRegister : 0);
        }

        // written out, as BodyState's keys: a launch's first compile would make the record's method handles
        @Override
        public boolean equals(Object o) {
            return o instanceof Shape s && op == s.op && size == s.size && register == s.register
                    && sourceRegister == s.sourceRegister && source == s.source;
        }

        @Override
        public int hashCode() {
            return (((op * 31 + size) * 31 + register) * 31 + sourceRegister) * 31 + Long.hashCode(source);
        }
    }

    /** The shape of the record compiled form {@code d} leaves, if it is one of those above; else null. */
    static Shape of(BlockOp d) {
        int size = d.op() == BlockOp.ALU_R64_R64 ? 8 : d.op() == BlockOp.ALU_R32_R32 ? 4 : d.size();
        if (size != 4 && size != 8 || !BlockCompiler.compiled(d)) {
            return null;
        }
        return switch (d.op()) {
            case BlockOp.ALU_RM_IMM -> d.sub() == 7 && d.rm() >= 0
                    ? new Shape(CpuState.LAZY_SUB, size, d.rm(), -1, d.imm() & CpuState.mask(size)) : null;
            case BlockOp.ALU_R64_R64, BlockOp.ALU_R32_R32 -> d.sub() == 7
                    ? new Shape(CpuState.LAZY_SUB, size, d.rm(), d.reg(), 0) : null;
            case BlockOp.ALU_RM_REG -> d.sub() == 7 && d.rm() >= 0
                    ? new Shape(CpuState.LAZY_SUB, size, d.rm(), d.reg(), 0) : null;
            case BlockOp.TEST_RM_REG -> d.rm() >= 0 && d.rm() == d.reg()
                    ? new Shape(CpuState.LAZY_LOGIC, size, d.rm(), -1, 0) : null;
            default -> null;
        };
    }

    private final List<Shape> shapes = new ArrayList<>();

    /** Numbers shape {@code s} among this region's, unless it has a number already. */
    void add(Shape s) {
        if (!shapes.contains(s)) {
            shapes.add(s);
        }
    }

    /** Shape {@code s}'s number among this region's, or -1. */
    int indexOf(Shape s) {
        return shapes.indexOf(s);
    }

    int count() {
        return shapes.size();
    }

    Shape get(int n) {
        return shapes.get(n);
    }

    /** The PENDING_OP local's value for shape {@code n}: negative, as a record's operation is not, nor the core's 0. */
    static int pendingOp(int n) {
        return -(n + 1);
    }

    /**
     * Writes record shape {@code r} to the core from its registers' locals, as the record in locals would have been:
     * CMP's destination and source and their difference, TEST's operand as destination and result; no carry.
     */
    static void emit(BodyState b, Shape r) {
        CodeBuilder cob = b.cob;
        cob.aload(BodyState.CORE).loadConstant(r.op()).putfield(CD_CORE, "lazyOp", CD_int);
        cob.aload(BodyState.CORE);
        b.loadRegister(r.register(), r.size());
        cob.putfield(CD_CORE, "lazyDst", CD_long);
        cob.aload(BodyState.CORE);
        pushSource(b, r);
        cob.putfield(CD_CORE, "lazySrc", CD_long);
        cob.aload(BodyState.CORE);
        b.loadRegister(r.register(), r.size());
        if (r.op() == CpuState.LAZY_SUB) {
            pushSource(b, r);
            cob.lsub();
        }
        cob.putfield(CD_CORE, "lazyRes", CD_long);
        cob.aload(BodyState.CORE).loadConstant(r.size()).putfield(CD_CORE, "lazySize", CD_int);
        cob.aload(BodyState.CORE).lconst_0().putfield(CD_CORE, "lazyCarry", CD_long);
    }

    private static void pushSource(BodyState b, Shape r) {
        if (r.sourceRegister() >= 0) {
            b.loadRegister(r.sourceRegister(), r.size());
        } else {
            b.cob.loadConstant(r.op() == CpuState.LAZY_LOGIC ? 0L : r.source());
        }
    }
}

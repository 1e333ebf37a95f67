package io.jkvm.emu;

import java.lang.classfile.CodeBuilder;
import java.lang.classfile.Label;
import java.lang.constant.MethodTypeDesc;

import static io.jkvm.emu.BlockCompiler.CD_CORE;
import static io.jkvm.emu.BodyState.CORE;
import static io.jkvm.emu.BodyState.VALUE;
import static io.jkvm.emu.BodyState.flagCarry;
import static io.jkvm.emu.BodyState.flagDst;
import static io.jkvm.emu.BodyState.flagRes;
import static io.jkvm.emu.BodyState.flagSrc;
import static io.jkvm.emu.CompiledForms.readRm;
import static io.jkvm.emu.CompiledForms.store;
import static java.lang.constant.ConstantDescs.CD_int;
import static java.lang.constant.ConstantDescs.CD_long;
import static java.lang.constant.ConstantDescs.CD_void;

/**
 * The bytecode of a compiled shift or rotate ({@link BlockOp#SHIFT}), for {@link CompiledForms}: by an immediate, its
 * value in place and its flags a lazy record (SHL, SHR, SAR), a rotation over the flags before it (ROL, ROR,
 * {@link BodyState#rotated}) or none where nothing sees them; by CL, and RCL and RCR, as the decoded form runs them.
 */
final class CompiledShifts {
    private static final java.lang.constant.ClassDesc CD_SHIFTS = BlockCompiler.desc(ShiftsAndBits.class);
    private static final MethodTypeDesc SHIFTED = MethodTypeDesc.of(CD_long, CD_CORE, CD_int, CD_int, CD_long, CD_int);

    private CompiledShifts() {
    }

    /** Emits shift {@code d}, instruction {@code i}, its flag record (if it makes one) in record {@code t}. */
    static void emit(BodyState b, BlockOp d, int i, int t) {
        CodeBuilder cob = b.cob;
        int size = d.size();
        if (d.imm() < 0) {
            shiftByCl(b, d, i, size);
            return;
        }
        int count = (int) d.imm() & (size == 8 ? 63 : 31); // not 0: that form runs through the executor
        // a register shift or ROL/ROR whose flags nothing sees computes its result alone (a memory one may
        // exit after its store); RCL and RCR read CF
        boolean quiet = (d.sub() >= 4 && d.rm() != BlockOp.MEMORY || BlockCompiler.rotatesRegister(d)) && b.flagsDeadAfter(i);
        // SHL, SHR and SAR leave a lazy record (operand, count, result, and the AF and OF they keep); RCL and RCR
        // compute their flags at once in the core
        int lazy = ShiftsAndBits.lazyOp(d.sub());
        // a ROL's or ROR's flags go over the flags before it, computed where they are seen (BodyState.rotated)
        boolean over = !quiet && d.sub() <= 1;
        if (over) {
            b.beforeRotation();
        } else if (!quiet && lazy == CpuState.LAZY_NONE) {
            b.materializeFlags(); // RCL and RCR read CF and keep some of them
        } else if (!quiet) {
            b.keptByShift();
            cob.lstore(flagCarry(t));
        }
        readRm(b, d, i, size);
        cob.lstore(VALUE);
        if (lazy != CpuState.LAZY_NONE) {
            if (!quiet) {
                cob.lload(VALUE).lstore(flagDst(t)).loadConstant((long) count).lstore(flagSrc(t));
            }
            shiftValue(cob, d.sub(), size, count);
            cob.lstore(VALUE);
            if (!quiet) {
                cob.lload(VALUE).lstore(flagRes(t));
            }
        } else if (quiet || over) {
            rotateValue(cob, d.sub(), size, count);
            cob.lstore(VALUE);
        } else {
            cob.aload(CORE).loadConstant(d.sub()).loadConstant(size).lload(VALUE).loadConstant(count)
                    .invokestatic(CD_SHIFTS, "shifted", SHIFTED).lstore(VALUE); // the JIT inlines it and its operation
        }
        cob.lload(VALUE);
        store(b, d, size);
        if (over) {
            cob.lload(VALUE).lstore(BodyState.ROTATED); // after the store: a fault there leaves the flags before
            b.rotatedOver(d.sub(), size, count);
        } else if (lazy == CpuState.LAZY_NONE && !quiet) {
            cob.aload(CORE).dup().getfield(CD_CORE, "shiftFlags", CD_long)
                    .invokevirtual(CD_CORE, "setArith", MethodTypeDesc.of(CD_void, CD_long));
        } else if (!quiet) {
            b.setFlags(lazy, size, t); // after the store: a fault there leaves the flags before
        }
    }

    /**
     * Pushes SHL/SAL (sub 4, 6), SHR (5) or SAR (7) of the VALUE local, {@code size} bytes zero-extended, by a masked,
     * non-zero {@code count}, as {@link ShiftsAndBits#shiftedValue}, in place (as {@link #rotateValue}).
     */
    private static void shiftValue(CodeBuilder cob, int sub, int size, int count) {
        int bits = 8 * size;
        switch (sub) {
            case 4, 6 -> {
                if (count >= bits) {
                    cob.lconst_0();
                    return;
                }
                cob.lload(VALUE).loadConstant(count).lshl();
            }
            case 5 -> {
                cob.lload(VALUE).loadConstant(count).lushr();
                return; // a masked count is below 64, and the value has no bits above its size
            }
            default -> {
                cob.lload(VALUE);
                if (bits < 64) {
                    cob.loadConstant(64 - bits).lshl().loadConstant(64 - bits).lshr(); // sign-extended
                }
                cob.loadConstant(Math.min(count, 63)).lshr();
            }
        }
        if (size != 8) {
            cob.loadConstant(CpuState.mask(size)).land();
        }
    }

    /**
     * Pushes ROL (sub 0) or ROR (1) of the VALUE local, {@code size} bytes zero-extended, by a masked {@code count}, as
     * {@link ShiftsAndBits#rotatedValue}: in place, as a call would cost the region its inlining budget.
     */
    private static void rotateValue(CodeBuilder cob, int sub, int size, int count) {
        int bits = 8 * size, c = count % bits;
        if (c == 0) {
            cob.lload(VALUE);
            return;
        }
        int left = sub == 0 ? c : bits - c; // a ROR by c is a ROL by the rest
        // the two shifts OR-ed, which C2 makes one host rotate (the JDK's rotateLeft is this bytecode, in a call)
        if (size == 8) {
            cob.lload(VALUE).loadConstant(left).lshl().lload(VALUE).loadConstant(64 - left).lushr().lor();
        } else if (size == 4) {
            cob.lload(VALUE).l2i().loadConstant(left).ishl().lload(VALUE).l2i().loadConstant(32 - left).iushr().ior()
                    .i2l().loadConstant(0xFFFF_FFFFL).land();
        } else {
            cob.lload(VALUE).loadConstant(left).lshl().lload(VALUE).loadConstant(bits - left).lushr().lor()
                    .loadConstant(CpuState.mask(size)).land();
        }
    }

    /**
     * A shift or rotate by CL, as its decoded form runs it: a count of 0 leaves the flags and the operand (a 32-bit one
     * is written back, so zero-extended); any other count sets the flags in the core at once. The flags of before are
     * written to the core first, so they are there either way.
     */
    private static void shiftByCl(BodyState b, BlockOp d, int i, int size) {
        CodeBuilder cob = b.cob;
        Label zero = cob.newLabel(), done = cob.newLabel();
        b.materializeFlags();
        readRm(b, d, i, size);
        cob.lstore(VALUE);
        shiftCount(b, size);
        cob.ifeq(zero);
        cob.aload(CORE).loadConstant(d.sub()).loadConstant(size).lload(VALUE);
        shiftCount(b, size);
        cob.invokestatic(CD_SHIFTS, "shifted", SHIFTED);
        store(b, d, size);
        cob.aload(CORE).dup().getfield(CD_CORE, "shiftFlags", CD_long)
                .invokevirtual(CD_CORE, "setArith", MethodTypeDesc.of(CD_void, CD_long));
        cob.goto_(done).labelBinding(zero);
        if (size == 4) {
            cob.lload(VALUE);
            store(b, d, size);
        }
        cob.labelBinding(done);
        b.flagsInCore();
    }

    /** Pushes the count CL gives a shift of {@code size} bytes, as an int. */
    private static void shiftCount(BodyState b, int size) {
        b.loadRegister(1, 1);
        b.cob.l2i().loadConstant(size == 8 ? 63 : 31).iand();
    }
}

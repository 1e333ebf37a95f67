package io.jkvm.emu;

import java.lang.classfile.CodeBuilder;
import java.lang.classfile.Label;
import java.lang.constant.ClassDesc;
import java.lang.constant.MethodTypeDesc;

import static io.jkvm.emu.BlockCompiler.CD_CORE;
import static io.jkvm.emu.BodyState.ADDRESS;
import static io.jkvm.emu.BodyState.CORE;
import static io.jkvm.emu.BodyState.VALUE;
import static io.jkvm.emu.BodyState.flagDst;
import static io.jkvm.emu.BodyState.flagSrc;
import static java.lang.constant.ConstantDescs.CD_int;
import static java.lang.constant.ConstantDescs.CD_long;

/** The bytecode of a {@link BlockOp#LOCKED} op, which {@link CompiledForms} hands here. */
final class CompiledLocked {
    private static final ClassDesc CD_LOCKED = BlockCompiler.desc(LockedInPlace.class);
    private static final MethodTypeDesc DIRECT = MethodTypeDesc.of(CD_long, CD_CORE, CD_long, CD_int),
            SWAP = MethodTypeDesc.of(CD_long, CD_CORE, CD_long, CD_int, CD_int, CD_long, CD_long);

    private CompiledLocked() {
    }

    /**
     * A {@link BlockOp#LOCKED} read-modify-write. On a direct, aligned operand, {@link LockedInPlace#swap} with the
     * registers in locals, then the flag record and the register XADD or a failed CMPXCHG loads, as
     * {@link LockedInPlace#run} leaves them; anywhere else, the interpreter's locked path as its decoded form runs it
     * (which may fault: the handler puts back the flags it saved). The two ways meet with the flags in the core.
     */
    static void emit(BodyState b, BlockOp d, int i, int t) {
        CodeBuilder cob = b.cob;
        int size = d.size(), kind = d.sub();
        long dirtyBefore = b.dirty;
        b.settleFlags();
        int flagOp = b.flagOp, flagSize = b.flagSize, flagSlot = b.flagSlot;
        Label slow = cob.newLabel(), done = cob.newLabel();
        CompiledForms.address(b, d, i);
        cob.aload(CORE).lload(ADDRESS).loadConstant(size).invokestatic(CD_LOCKED, "directAddress", DIRECT)
                .dup2().lstore(VALUE).lconst_0().lcmp().iflt(slow);
        cob.aload(CORE).lload(VALUE).loadConstant(kind).loadConstant(size);
        lockedSource(b, d);
        if (kind == 11) {
            b.loadRegister(0, size);
        } else {
            cob.lconst_0();
        }
        cob.invokestatic(CD_LOCKED, "swap", SWAP); // the value found, which no fault can follow
        switch (kind) {
            case 8, 9 -> CompiledForms.incDecRecord(b, kind == 8, size, t, false);
            case 11 -> { // CMP's record of the accumulator and the value found; a failed compare loads it
                Label equal = cob.newLabel();
                cob.lstore(flagSrc(t));
                b.loadRegister(0, size);
                cob.lstore(flagDst(t));
                b.setFlags(CompiledForms.aluRecord(b, 7, t), size, t);
                cob.lload(flagDst(t)).lload(flagSrc(t)).lcmp().ifeq(equal);
                cob.lload(flagSrc(t));
                b.storeRegister(0, size);
                cob.labelBinding(equal);
            }
            default -> { // the ALU operations, and XADD's sum (which loads the value found into its register)
                cob.lstore(flagDst(t));
                lockedSource(b, d);
                cob.lstore(flagSrc(t));
                b.setFlags(CompiledForms.aluRecord(b, kind == 10 ? 0 : kind & 7, t), size, t);
                if (kind == 10) {
                    cob.lload(flagDst(t));
                    b.storeRegister(d.reg(), size);
                }
            }
        }
        b.materializeFlags();
        long dirtyAfter = b.dirty;
        cob.goto_(done);
        cob.labelBinding(slow);
        b.dirty = dirtyBefore;
        b.setFlags(flagOp, flagSize, flagSlot);
        b.generic(d, i);
        b.dirty = dirtyAfter; // the locals equal the register file here, so writing them back again changes nothing
        cob.labelBinding(done);
    }

    /** Pushes what a {@link BlockOp#LOCKED} op applies: its immediate, 1 (INC, DEC), or its register. */
    private static void lockedSource(BodyState b, BlockOp d) {
        int kind = d.sub();
        if (LockedInPlace.readsRegister(kind)) {
            b.loadRegister(d.reg(), d.size());
        } else {
            b.cob.loadConstant(kind >= 16 ? d.imm() & CpuState.mask(d.size()) : 1L);
        }
    }
}

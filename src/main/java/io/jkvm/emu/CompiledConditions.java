package io.jkvm.emu;

import java.lang.classfile.CodeBuilder;
import java.lang.classfile.Label;
import java.lang.classfile.Opcode;
import java.lang.constant.ConstantDescs;
import java.lang.constant.MethodTypeDesc;

import static io.jkvm.emu.BodyState.flagCarry;
import static io.jkvm.emu.BodyState.flagDst;
import static io.jkvm.emu.BodyState.flagRes;
import static io.jkvm.emu.BodyState.flagSrc;

/**
 * The tests a compiled block makes of a flag record in its locals whose operation it knows (a condition code, CF),
 * emitted as the region's own bytecode: a long compare and a branch. Not calls to shared helpers: a branch inside a
 * helper that every region inlines has one profile for all of them, which a Linux boot fills both ways, and C2
 * then compiles a loop's exit as a branch to keep rather than a trap to leave by (a region of core_loop compiled after
 * a boot ran five times slower, docs/benchmarks.md). Each gives what {@link LazyFlags#condition} and {@link
 * LazyFlags#cf} give for the record; CompiledConditionsTest holds them to the interpreter.
 */
final class CompiledConditions {
    private CompiledConditions() {
    }

    /**
     * Pushes condition {@code cc} (the low nibble of Jcc, SETcc, CMOVcc) on the record {@code b} holds, when its
     * operation has a test of its own: ZF and SF for any, the orderings of SUB/CMP and of a logical operation, ADD's
     * carry. False: nothing pushed.
     */
    static boolean condition(BodyState b, int cc) {
        int test = cc >> 1; // as LazyFlags.condition numbers them: O, B, E, BE, S, P, L, LE
        boolean negate = (cc & 1) != 0, logic = b.flagOp == CpuState.LAZY_LOGIC, sub = b.flagOp == CpuState.LAZY_SUB;
        int res = flagRes(b.flagSlot), dst = flagDst(b.flagSlot), src = flagSrc(b.flagSlot);
        if (test == 2 || logic && test == 3) {
            signed(b, res);
            whether(b, Opcode.IFEQ, negate, true, 0); // ZF: the result's bytes all zero; BE after a logical operation
        } else if (test == 4 || logic && test == 6) {
            signed(b, res);
            whether(b, Opcode.IFLT, negate, true, 0); // SF; L after a logical operation (OF is 0)
        } else if (logic && test == 7) {
            signed(b, res);
            whether(b, Opcode.IFLE, negate, true, 0); // ZF or SF
        } else if (logic && test <= 1) {
            b.cob.loadConstant(negate ? 1 : 0); // OF and CF are 0
        } else if (sub && (test == 1 || test == 3)) {
            compareUnsigned(b, dst, src);
            decide(b, test == 1 ? Opcode.IFLT : Opcode.IFLE, negate, 0); // B, BE: the operands unsigned
        } else if (sub && (test == 6 || test == 7)) {
            signed(b, dst);
            signed(b, src);
            whether(b, test == 6 ? Opcode.IFLT : Opcode.IFLE, negate, false, 0); // L, LE: the operands signed
        } else if (b.flagOp == CpuState.LAZY_ADD && test == 1) {
            compareUnsigned(b, res, dst);
            decide(b, Opcode.IFLT, negate, 0); // the sum wrapped below the destination
        } else {
            return false;
        }
        return true;
    }

    /**
     * Pushes CF as a long, 1 or 0, from the record {@code b} holds when its operation's CF is a test of the record
     * (ADD, SUB, ADC, SBB, a logical operation) or a carry it kept (INC, DEC). False: nothing pushed.
     */
    static boolean carry(BodyState b) {
        CodeBuilder cob = b.cob;
        int res = flagRes(b.flagSlot), dst = flagDst(b.flagSlot), src = flagSrc(b.flagSlot), carry = flagCarry(b.flagSlot);
        switch (b.flagOp) {
            case CpuState.LAZY_LOGIC -> cob.lconst_0();
            case CpuState.LAZY_INC, CpuState.LAZY_DEC -> cob.lload(carry);
            case CpuState.LAZY_ADD, CpuState.LAZY_ADC -> { // the sum below the destination, or at it with a carry in
                compareUnsigned(b, res, dst);
                decide(b, Opcode.IFLT, false, b.flagOp == CpuState.LAZY_ADC ? carry : 0);
                cob.i2l();
            }
            case CpuState.LAZY_SUB, CpuState.LAZY_SBB -> { // the destination below the source, or at it with a borrow in
                compareUnsigned(b, dst, src);
                decide(b, Opcode.IFLT, false, b.flagOp == CpuState.LAZY_SBB ? carry : 0);
                cob.i2l();
            }
            default -> {
                return false;
            }
        }
        return true;
    }

    /**
     * Pushes the unsigned order of locals {@code x} and {@code y} as {@code flagSize}-byte values, -1, 0 or 1 as LCMP's:
     * at 8 bytes Long.compareUnsigned (which C2 compiles to one unsigned compare), below that the masked values' LCMP.
     */
    private static void compareUnsigned(BodyState b, int x, int y) {
        CodeBuilder cob = b.cob;
        if (b.flagSize == 8) {
            cob.lload(x).lload(y).invokestatic(ConstantDescs.CD_Long, "compareUnsigned",
                    MethodTypeDesc.of(ConstantDescs.CD_int, ConstantDescs.CD_long, ConstantDescs.CD_long));
        } else {
            long mask = CpuState.mask(b.flagSize);
            cob.lload(x).loadConstant(mask).land().lload(y).loadConstant(mask).land().lcmp();
        }
    }

    /** Pushes local {@code slot} as a signed {@code flagSize}-byte value: its sign bit moved to bit 63. */
    private static void signed(BodyState b, int slot) {
        b.cob.lload(slot);
        if (b.flagSize != 8) {
            b.cob.loadConstant(64 - 8 * b.flagSize).lshl();
        }
    }

    /**
     * Pushes 1 when the two longs on the stack compare (LCMP; with {@code againstZero}, the one long against 0) as
     * {@code holds} says, less 0 or 1 for a carry in local {@code carryIn} (0: none) — for ADC and SBB, at or below
     * counts then — else 0; {@code negate} turns it round. The branch is this method's own.
     */
    private static void whether(BodyState b, Opcode holds, boolean negate, boolean againstZero, int carryIn) {
        CodeBuilder cob = b.cob;
        if (againstZero) {
            cob.lconst_0();
        }
        cob.lcmp();
        decide(b, holds, negate, carryIn);
    }

    /** As {@link #whether}, from the comparison's -1, 0 or 1 on the stack. */
    private static void decide(BodyState b, Opcode holds, boolean negate, int carryIn) {
        CodeBuilder cob = b.cob;
        if (carryIn != 0) {
            cob.lload(carryIn).lconst_0().lcmp().isub(); // the carry in, 0 or 1
        }
        Label yes = cob.newLabel(), done = cob.newLabel();
        cob.branch(holds, yes).loadConstant(negate ? 1 : 0).goto_(done);
        cob.labelBinding(yes).loadConstant(negate ? 0 : 1).labelBinding(done);
    }
}

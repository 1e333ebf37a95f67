package io.jkvm.emu;

/**
 * The decoded forms that move data: MOV, LEA, MOVZX/MOVSX, PUSH/POP, CMOVcc, SETcc and the accumulator's sign
 * extensions; NOP. The frequent shapes (whole 4- or 8-byte registers, one memory operand) have forms of their own; the
 * others go through the executor's operand helpers.
 */
final class DecodedMoves {
    private DecodedMoves() {
    }

    static DecodedForm of(BlockOp d) {
        int size = d.size(), rm = d.rm();
        boolean wide = size == 8 || size == 4; // a whole register: a 32-bit result is zero-extended
        boolean memory = rm == BlockOp.MEMORY;
        boolean register = rm >= 0;
        return switch (d.op()) {
            case BlockOp.MOV_RM_REG -> !wide ? new ToRm(d) : register ? regReg(d, rm, d.reg()) : memory ? store(d) : new ToRm(d);
            case BlockOp.MOV_REG_RM -> !wide ? new FromRm(d) : register ? regReg(d, d.reg(), rm) : memory ? load(d) : new FromRm(d);
            case BlockOp.MOV_RM_IMM -> !wide ? new ImmToRm(d) : register ? new RegImm(d) : memory ? new StoreImm(d) : new ImmToRm(d);
            case BlockOp.LEA -> wide ? new Lea(d) : new LeaOf(d);
            case BlockOp.MOVZX -> wide && memory ? new LoadZeroExtended(d) : new ZeroExtend(d);
            case BlockOp.MOVSX -> new SignExtend(d);
            case BlockOp.PUSH_REG -> size == 8 ? new Push(d) : new PushReg(d);
            case BlockOp.PUSH_IMM -> new PushImm(d);
            case BlockOp.PUSH_RM -> new PushRm(d);
            case BlockOp.POP_REG -> size == 8 ? new Pop(d) : new PopReg(d);
            case BlockOp.NOP -> new Nop(d);
            case BlockOp.CMOV -> new Cmov(d);
            case BlockOp.SETCC -> new Setcc(d);
            case BlockOp.SIGN_EXTEND_ACC -> new SignExtendAccumulator(d);
            case BlockOp.SIGN_FILL_DX -> new SignFillDx(d);
            case BlockOp.LEAVE -> new Leave(d);
            case BlockOp.PUSHF -> new Pushf(d);
            case BlockOp.BSWAP -> new Bswap(d);
            case BlockOp.MOV_FROM_SEG -> new MovFromSeg(d);
            default -> throw new IllegalArgumentException("not a move: op " + d.op());
        };
    }

    // A form per operand size where the size would otherwise be a field: as a constant, the JIT folds the memory
    // accessor's switch on it and the mask.

    private static DecodedForm regReg(BlockOp d, int dst, int src) {
        return d.size() == 8 ? new RegReg64(d, dst, src) : new RegReg32(d, dst, src);
    }

    private static DecodedForm load(BlockOp d) {
        return d.size() == 8 ? new Load64(d) : new Load32(d);
    }

    private static DecodedForm store(BlockOp d) {
        return d.size() == 8 ? new Store64(d) : new Store32(d);
    }

    /** MOV between two 64-bit registers. */
    static final class RegReg64 extends DecodedForm {
        private final int dst, src;

        RegReg64(BlockOp d, int dst, int src) {
            super(d);
            this.dst = dst;
            this.src = src;
        }

        @Override
        boolean run(Core c) {
            c.r[dst] = c.r[src];
            return onward(c);
        }
    }

    /** MOV between two 32-bit registers, the destination zero-extended. */
    static final class RegReg32 extends DecodedForm {
        private final int dst, src;

        RegReg32(BlockOp d, int dst, int src) {
            super(d);
            this.dst = dst;
            this.src = src;
        }

        @Override
        boolean run(Core c) {
            c.r[dst] = c.r[src] & 0xFFFFFFFFL;
            return onward(c);
        }
    }

    /** MOV of an immediate to a whole register of 4 or 8 bytes. */
    static final class RegImm extends DecodedForm {
        private final int dst;
        private final long value;

        RegImm(BlockOp d) {
            super(d);
            dst = d.rm();
            value = d.imm() & Core.mask(d.size());
        }

        @Override
        boolean run(Core c) {
            c.r[dst] = value;
            return onward(c);
        }
    }

    static final class Load64 extends DecodedForm.WithMemory {
        private final int dst;

        Load64(BlockOp d) {
            super(d);
            dst = d.reg();
        }

        @Override
        boolean run(Core c) {
            c.r[dst] = c.read64(address(c), stackAddressed(), false);
            return onward(c);
        }
    }

    /** MOV of 4 bytes from memory to a register, zero-extended. */
    static final class Load32 extends DecodedForm.WithMemory {
        private final int dst;

        Load32(BlockOp d) {
            super(d);
            dst = d.reg();
        }

        @Override
        boolean run(Core c) {
            c.r[dst] = c.read32(address(c), stackAddressed(), false);
            return onward(c);
        }
    }

    static final class Store64 extends DecodedForm.WithMemory {
        private final int src;

        Store64(BlockOp d) {
            super(d);
            src = d.reg();
        }

        @Override
        boolean run(Core c) {
            c.write64(address(c), c.r[src], stackAddressed(), false);
            return onward(c);
        }
    }

    static final class Store32 extends DecodedForm.WithMemory {
        private final int src;

        Store32(BlockOp d) {
            super(d);
            src = d.reg();
        }

        @Override
        boolean run(Core c) {
            c.write32(address(c), c.r[src], stackAddressed(), false);
            return onward(c);
        }
    }

    /** MOV of a 4- or 8-byte immediate to memory. */
    static final class StoreImm extends DecodedForm.WithMemory {
        private final int size;
        private final long value;

        StoreImm(BlockOp d) {
            super(d);
            size = d.size();
            value = d.imm();
        }

        @Override
        boolean run(Core c) {
            c.write(address(c), size, value);
            return onward(c);
        }
    }

    /** MOVZX of 1 or 2 bytes of memory to a 4- or 8-byte register (the accessors zero-extend). */
    static final class LoadZeroExtended extends DecodedForm.WithMemory {
        private final int dst;
        private final boolean word;

        LoadZeroExtended(BlockOp d) {
            super(d);
            dst = d.reg();
            word = d.sub() == 2;
        }

        @Override
        boolean run(Core c) {
            long address = address(c);
            c.r[dst] = word ? c.read16(address, stackAddressed(), false) : c.read8(address, stackAddressed(), false);
            return onward(c);
        }
    }

    /** LEA to a 4- or 8-byte register. */
    static final class Lea extends DecodedForm.WithMemory {
        private final int dst;
        private final long mask;

        Lea(BlockOp d) {
            super(d);
            dst = d.reg();
            mask = Core.mask(d.size());
        }

        @Override
        boolean run(Core c) {
            c.r[dst] = address(c) & mask;
            return onward(c);
        }
    }

    /** PUSH of a 64-bit register. */
    static final class Push extends DecodedForm {
        private final int src;

        Push(BlockOp d) {
            super(d);
            src = d.reg();
        }

        @Override
        boolean run(Core c) {
            c.push64(c.r[src]);
            return onward(c);
        }
    }

    /** POP to a 64-bit register. */
    static final class Pop extends DecodedForm {
        private final int dst;

        Pop(BlockOp d) {
            super(d);
            dst = d.reg();
        }

        @Override
        boolean run(Core c) {
            long v = c.pop64();
            c.r[dst] = v; // POP RSP: the value read, not RSP moved past it
            return onward(c);
        }
    }

    static final class Nop extends DecodedForm {
        Nop(BlockOp d) {
            super(d);
        }

        @Override
        boolean run(Core c) {
            return onward(c);
        }
    }

    // ---- the other shapes, through the executor's operand helpers --------------------------------------------

    /** MOV to r/m of any size (byte registers, a 16-bit operand). */
    static final class ToRm extends DecodedForm.OfOp {
        ToRm(BlockOp d) {
            super(d);
        }

        @Override
        boolean run(Core c) {
            c.setOperand(d, d.size(), next(c), c.regOf(d.reg(), d.size()));
            return onward(c);
        }
    }

    static final class FromRm extends DecodedForm.OfOp {
        FromRm(BlockOp d) {
            super(d);
        }

        @Override
        boolean run(Core c) {
            c.setRegOf(d.reg(), d.size(), c.operand(d, d.size(), next(c)));
            return onward(c);
        }
    }

    static final class ImmToRm extends DecodedForm.OfOp {
        ImmToRm(BlockOp d) {
            super(d);
        }

        @Override
        boolean run(Core c) {
            c.setOperand(d, d.size(), next(c), d.imm());
            return onward(c);
        }
    }

    static final class LeaOf extends DecodedForm.OfOp {
        LeaOf(BlockOp d) {
            super(d);
        }

        @Override
        boolean run(Core c) {
            c.setRegOf(d.reg(), d.size(), c.address(d, next(c)));
            return onward(c);
        }
    }

    static final class ZeroExtend extends DecodedForm.OfOp {
        ZeroExtend(BlockOp d) {
            super(d);
        }

        @Override
        boolean run(Core c) {
            c.setRegOf(d.reg(), d.size(), c.operand(d, d.sub(), next(c)));
            return onward(c);
        }
    }

    static final class SignExtend extends DecodedForm.OfOp {
        SignExtend(BlockOp d) {
            super(d);
        }

        @Override
        boolean run(Core c) {
            int shift = 64 - 8 * d.sub();
            c.setRegOf(d.reg(), d.size(), (c.operand(d, d.sub(), next(c)) << shift) >> shift);
            return onward(c);
        }
    }

    /** PUSH of a 16-bit register. */
    static final class PushReg extends DecodedForm.OfOp {
        PushReg(BlockOp d) {
            super(d);
        }

        @Override
        boolean run(Core c) {
            int size = d.size();
            c.push(size == 2 ? c.r[d.reg()] & 0xFFFF : c.r[d.reg()], size);
            return onward(c);
        }
    }

    static final class PushImm extends DecodedForm.OfOp {
        PushImm(BlockOp d) {
            super(d);
        }

        @Override
        boolean run(Core c) {
            c.push(d.imm(), d.size());
            return onward(c);
        }
    }

    static final class PushRm extends DecodedForm.OfOp {
        PushRm(BlockOp d) {
            super(d);
        }

        @Override
        boolean run(Core c) {
            c.push(c.operand(d, d.size(), next(c)), d.size());
            return onward(c);
        }
    }

    /** POP to a 16-bit register. */
    static final class PopReg extends DecodedForm.OfOp {
        PopReg(BlockOp d) {
            super(d);
        }

        @Override
        boolean run(Core c) {
            long v = c.pop(d.size());
            c.setRegOf(d.reg(), d.size(), v);
            return onward(c);
        }
    }

    static final class Cmov extends DecodedForm.OfOp {
        Cmov(BlockOp d) {
            super(d);
        }

        @Override
        boolean run(Core c) {
            DataTransfer.cmov(c, c.condition(d.sub()), d.reg(), d.size(), c.operand(d, d.size(), next(c)));
            return onward(c);
        }
    }

    static final class Setcc extends DecodedForm.OfOp {
        Setcc(BlockOp d) {
            super(d);
        }

        @Override
        boolean run(Core c) {
            c.setOperand(d, 1, next(c), c.condition(d.sub()) ? 1 : 0);
            return onward(c);
        }
    }

    /** CBW, CWDE, CDQE. */
    static final class SignExtendAccumulator extends DecodedForm.OfOp {
        SignExtendAccumulator(BlockOp d) {
            super(d);
        }

        @Override
        boolean run(Core c) {
            DataTransfer.signExtendAccumulator(c, d.size());
            return onward(c);
        }
    }

    /** CWD, CDQ, CQO. */
    static final class SignFillDx extends DecodedForm.OfOp {
        SignFillDx(BlockOp d) {
            super(d);
        }

        @Override
        boolean run(Core c) {
            DataTransfer.signFillDx(c, d.size());
            return onward(c);
        }
    }

    static final class Leave extends DecodedForm.OfOp {
        Leave(BlockOp d) {
            super(d);
        }

        @Override
        boolean run(Core c) {
            Enter.leave(c, d.size());
            return onward(c);
        }
    }

    static final class Pushf extends DecodedForm.OfOp {
        Pushf(BlockOp d) {
            super(d);
        }

        @Override
        boolean run(Core c) {
            DataTransfer.pushFlags(c, d.size());
            return onward(c);
        }
    }

    static final class Bswap extends DecodedForm.OfOp {
        Bswap(BlockOp d) {
            super(d);
        }

        @Override
        boolean run(Core c) {
            DataTransfer.byteSwap(c, d.rm(), d.size());
            return onward(c);
        }
    }

    /** MOV from a segment register to a register or to memory (two bytes). */
    static final class MovFromSeg extends DecodedForm.OfOp {
        MovFromSeg(BlockOp d) {
            super(d);
        }

        @Override
        boolean run(Core c) {
            int selector = SegmentLoads.selector(c, d.sub());
            if (d.rm() >= 0) {
                c.setRegOf(d.rm(), d.size(), selector);
            } else {
                c.write(c.address(d, next(c)), 2, selector);
            }
            return onward(c);
        }
    }
}

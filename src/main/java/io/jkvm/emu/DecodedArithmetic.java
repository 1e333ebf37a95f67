package io.jkvm.emu;

/**
 * The decoded forms of integer arithmetic: the eight ALU operations, TEST, INC/DEC, NOT, NEG, the multiplies and
 * divides, shifts and rotates, bit tests. An ALU operation between whole registers, or with an immediate, has a form
 * for each operation, which calls {@link Arithmetic#aluOp} with that operation as a constant; the other shapes go
 * through the executor's operand helpers.
 */
final class DecodedArithmetic {
    private DecodedArithmetic() {
    }

    static final int ADD = 0, OR = 1, AND = 4, SUB = 5, XOR = 6, CMP = 7;

    static DecodedForm of(BlockOp d) {
        int size = d.size(), rm = d.rm();
        boolean wideRegister = (size == 8 || size == 4) && rm >= 0;
        return switch (d.op()) {
            case BlockOp.ALU_R64_R64 -> registers(d, rm, d.reg(), 8);
            case BlockOp.ALU_R32_R32 -> registers(d, rm, d.reg(), 4);
            case BlockOp.ALU_RM_REG -> wideRegister ? registers(d, rm, d.reg(), size) : new AluToRm(d);
            case BlockOp.ALU_REG_RM -> wideRegister ? registers(d, d.reg(), rm, size)
                    : rm == BlockOp.MEMORY && (size == 8 || size == 4) ? new FromMemory(d) : new AluFromRm(d);
            case BlockOp.ALU_RM_IMM -> wideRegister ? immediate(d)
                    : rm == BlockOp.MEMORY && d.sub() == CMP ? new CmpMemoryImm(d) : new AluImmToRm(d);
            case BlockOp.TEST_RM_REG -> wideRegister ? new TestRegisters(d) : new Test(d);
            case BlockOp.TEST_RM_IMM -> rm == BlockOp.MEMORY ? new TestMemoryImm(d) : new TestImm(d);
            case BlockOp.INC_DEC_R64 -> new IncDec64(d);
            case BlockOp.INC, BlockOp.DEC -> new IncDec(d);
            case BlockOp.NOT -> new Not(d);
            case BlockOp.NEG -> new Neg(d);
            case BlockOp.IMUL_IMM -> new ImulImm(d);
            case BlockOp.IMUL_REG_RM -> new Imul(d);
            case BlockOp.SHIFT -> wideRegister && d.imm() >= 0 && (d.imm() & (size == 8 ? 63 : 31)) != 0
                    ? new ShiftRegisterByImm(d) : new Shift(d);
            case BlockOp.MUL_DIV -> new MulDiv(d);
            case BlockOp.BIT_TEST -> new BitTest(d);
            default -> throw new IllegalArgumentException("not arithmetic: op " + d.op());
        };
    }

    private static DecodedForm registers(BlockOp d, int dst, int src, int size) {
        return switch (d.sub()) {
            case ADD -> new AddRegisters(d, dst, src, size);
            case OR -> new OrRegisters(d, dst, src, size);
            case AND -> new AndRegisters(d, dst, src, size);
            case SUB -> new SubRegisters(d, dst, src, size);
            case XOR -> new XorRegisters(d, dst, src, size);
            case CMP -> new CmpRegisters(d, dst, src, size);
            default -> new AluRegisters(d, dst, src, size); // ADC, SBB
        };
    }

    private static DecodedForm immediate(BlockOp d) {
        return switch (d.sub()) {
            case ADD -> new AddImm(d);
            case OR -> new OrImm(d);
            case AND -> new AndImm(d);
            case SUB -> new SubImm(d);
            case XOR -> new XorImm(d);
            case CMP -> new CmpImm(d);
            default -> new AluImm(d);
        };
    }

    // ---- an ALU operation between two whole registers of 4 or 8 bytes ------------------------------------------

    abstract static class Registers extends DecodedForm {
        final int dst, src, size;

        Registers(BlockOp d, int dst, int src, int size) {
            super(d);
            this.dst = dst;
            this.src = src;
            this.size = size;
        }

        /** The result to the destination (aluOp masked it: a 32-bit one is zero-extended), and on. */
        final boolean store(Core c, long result) {
            c.r[dst] = result;
            return onward(c);
        }
    }

    static final class AddRegisters extends Registers {
        AddRegisters(BlockOp d, int dst, int src, int size) {
            super(d, dst, src, size);
        }

        @Override
        boolean run(Core c) {
            return store(c, Arithmetic.aluOp(c, ADD, c.r[dst], c.r[src], size));
        }
    }

    static final class OrRegisters extends Registers {
        OrRegisters(BlockOp d, int dst, int src, int size) {
            super(d, dst, src, size);
        }

        @Override
        boolean run(Core c) {
            return store(c, Arithmetic.aluOp(c, OR, c.r[dst], c.r[src], size));
        }
    }

    static final class AndRegisters extends Registers {
        AndRegisters(BlockOp d, int dst, int src, int size) {
            super(d, dst, src, size);
        }

        @Override
        boolean run(Core c) {
            return store(c, Arithmetic.aluOp(c, AND, c.r[dst], c.r[src], size));
        }
    }

    static final class SubRegisters extends Registers {
        SubRegisters(BlockOp d, int dst, int src, int size) {
            super(d, dst, src, size);
        }

        @Override
        boolean run(Core c) {
            return store(c, Arithmetic.aluOp(c, SUB, c.r[dst], c.r[src], size));
        }
    }

    static final class XorRegisters extends Registers {
        XorRegisters(BlockOp d, int dst, int src, int size) {
            super(d, dst, src, size);
        }

        @Override
        boolean run(Core c) {
            return store(c, Arithmetic.aluOp(c, XOR, c.r[dst], c.r[src], size));
        }
    }

    static final class CmpRegisters extends Registers {
        CmpRegisters(BlockOp d, int dst, int src, int size) {
            super(d, dst, src, size);
        }

        @Override
        boolean run(Core c) {
            Arithmetic.aluOp(c, CMP, c.r[dst], c.r[src], size);
            return onward(c);
        }
    }

    /** ADC or SBB between registers. */
    static final class AluRegisters extends Registers {
        private final int operation;

        AluRegisters(BlockOp d, int dst, int src, int size) {
            super(d, dst, src, size);
            operation = d.sub();
        }

        @Override
        boolean run(Core c) {
            return store(c, Arithmetic.aluOp(c, operation, c.r[dst], c.r[src], size));
        }
    }

    // ---- an ALU operation of a whole register of 4 or 8 bytes with an immediate ----------------------------------

    abstract static class Immediate extends DecodedForm {
        final int dst, size;
        final long imm;

        Immediate(BlockOp d) {
            super(d);
            dst = d.rm();
            size = d.size();
            imm = d.imm();
        }

        final boolean store(Core c, long result) {
            c.r[dst] = result;
            return onward(c);
        }
    }

    static final class AddImm extends Immediate {
        AddImm(BlockOp d) {
            super(d);
        }

        @Override
        boolean run(Core c) {
            return store(c, Arithmetic.aluOp(c, ADD, c.r[dst], imm, size));
        }
    }

    static final class OrImm extends Immediate {
        OrImm(BlockOp d) {
            super(d);
        }

        @Override
        boolean run(Core c) {
            return store(c, Arithmetic.aluOp(c, OR, c.r[dst], imm, size));
        }
    }

    static final class AndImm extends Immediate {
        AndImm(BlockOp d) {
            super(d);
        }

        @Override
        boolean run(Core c) {
            return store(c, Arithmetic.aluOp(c, AND, c.r[dst], imm, size));
        }
    }

    static final class SubImm extends Immediate {
        SubImm(BlockOp d) {
            super(d);
        }

        @Override
        boolean run(Core c) {
            return store(c, Arithmetic.aluOp(c, SUB, c.r[dst], imm, size));
        }
    }

    static final class XorImm extends Immediate {
        XorImm(BlockOp d) {
            super(d);
        }

        @Override
        boolean run(Core c) {
            return store(c, Arithmetic.aluOp(c, XOR, c.r[dst], imm, size));
        }
    }

    static final class CmpImm extends Immediate {
        CmpImm(BlockOp d) {
            super(d);
        }

        @Override
        boolean run(Core c) {
            Arithmetic.aluOp(c, CMP, c.r[dst], imm, size);
            return onward(c);
        }
    }

    /** ADC or SBB with an immediate. */
    static final class AluImm extends Immediate {
        private final int operation;

        AluImm(BlockOp d) {
            super(d);
            operation = d.sub();
        }

        @Override
        boolean run(Core c) {
            return store(c, Arithmetic.aluOp(c, operation, c.r[dst], imm, size));
        }
    }

    /** TEST of two whole registers of 4 or 8 bytes. */
    static final class TestRegisters extends DecodedForm {
        private final int a, b, size;
        private final long mask;

        TestRegisters(BlockOp d) {
            super(d);
            a = d.rm();
            b = d.reg();
            size = d.size();
            mask = Core.mask(size);
        }

        @Override
        boolean run(Core c) {
            long res = c.r[a] & c.r[b] & mask;
            c.lazy(Core.LAZY_LOGIC, res, 0, res, size);
            return onward(c);
        }
    }

    // ---- with one memory operand, its parts in fields -----------------------------------------------------------

    /** An ALU operation of a 4- or 8-byte register with memory (ALU reg, r/m). */
    static final class FromMemory extends DecodedForm.WithMemory {
        private final int dst, size, operation;

        FromMemory(BlockOp d) {
            super(d);
            dst = d.reg();
            size = d.size();
            operation = d.sub();
        }

        @Override
        boolean run(Core c) {
            long res = Arithmetic.aluOp(c, operation, c.r[dst], c.read(address(c), size), size);
            if (operation != CMP) {
                c.r[dst] = res; // aluOp masked it: a 32-bit one is zero-extended
            }
            return onward(c);
        }
    }

    /** A comparison of memory, of any size, with an immediate: its size and immediate in fields. */
    abstract static class MemoryImm extends DecodedForm.WithMemory {
        final int size;
        final long imm;

        MemoryImm(BlockOp d) {
            super(d);
            size = d.size();
            imm = d.imm();
        }
    }

    /** CMP of memory with an immediate. */
    static final class CmpMemoryImm extends MemoryImm {
        CmpMemoryImm(BlockOp d) {
            super(d);
        }

        @Override
        boolean run(Core c) {
            Arithmetic.aluOp(c, CMP, c.read(address(c), size), imm, size);
            return onward(c);
        }
    }

    /** TEST of memory with an immediate. */
    static final class TestMemoryImm extends MemoryImm {
        TestMemoryImm(BlockOp d) {
            super(d);
        }

        @Override
        boolean run(Core c) {
            long res = c.read(address(c), size) & imm;
            c.lazy(Core.LAZY_LOGIC, res, 0, res, size);
            return onward(c);
        }
    }

    // ---- the other shapes, through the executor's operand helpers --------------------------------------------

    /** An ALU operation with r/m as its destination: memory, or a byte or 16-bit register. */
    static final class AluToRm extends DecodedForm.OfOp {
        AluToRm(BlockOp d) {
            super(d);
        }

        @Override
        boolean run(Core c) {
            int size = d.size(), rm = d.rm();
            long src = c.regOf(d.reg(), size);
            if (rm >= 0) {
                long res = Arithmetic.aluOp(c, d.sub(), c.regOf(rm, size), src, size);
                if (d.sub() != CMP) {
                    c.setRegOf(rm, size, res);
                }
            } else {
                long a = c.address(d, next(c));
                long res = Arithmetic.aluOp(c, d.sub(), c.read(a, size), src, size);
                if (d.sub() != CMP) {
                    c.write(a, size, res);
                }
            }
            return onward(c);
        }
    }

    static final class AluFromRm extends DecodedForm.OfOp {
        AluFromRm(BlockOp d) {
            super(d);
        }

        @Override
        boolean run(Core c) {
            int size = d.size();
            long res = Arithmetic.aluOp(c, d.sub(), c.regOf(d.reg(), size), c.operand(d, size, next(c)), size);
            if (d.sub() != CMP) {
                c.setRegOf(d.reg(), size, res);
            }
            return onward(c);
        }
    }

    static final class AluImmToRm extends DecodedForm.OfOp {
        AluImmToRm(BlockOp d) {
            super(d);
        }

        @Override
        boolean run(Core c) {
            int size = d.size(), rm = d.rm();
            if (rm >= 0) {
                long res = Arithmetic.aluOp(c, d.sub(), c.regOf(rm, size), d.imm(), size);
                if (d.sub() != CMP) {
                    c.setRegOf(rm, size, res);
                }
            } else {
                long a = c.address(d, next(c));
                long res = Arithmetic.aluOp(c, d.sub(), c.read(a, size), d.imm(), size);
                if (d.sub() != CMP) {
                    c.write(a, size, res);
                }
            }
            return onward(c);
        }
    }

    static final class Test extends DecodedForm.OfOp {
        Test(BlockOp d) {
            super(d);
        }

        @Override
        boolean run(Core c) {
            int size = d.size();
            long res = c.operand(d, size, next(c)) & c.regOf(d.reg(), size);
            c.lazy(Core.LAZY_LOGIC, res, 0, res, size);
            return onward(c);
        }
    }

    static final class TestImm extends DecodedForm.OfOp {
        TestImm(BlockOp d) {
            super(d);
        }

        @Override
        boolean run(Core c) {
            int size = d.size();
            long res = c.operand(d, size, next(c)) & d.imm();
            c.lazy(Core.LAZY_LOGIC, res, 0, res, size);
            return onward(c);
        }
    }

    /** INC or DEC of a 64-bit register. */
    static final class IncDec64 extends DecodedForm.OfOp {
        IncDec64(BlockOp d) {
            super(d);
        }

        @Override
        boolean run(Core c) {
            long v = c.r[d.rm()];
            long res = d.sub() == 0 ? v + 1 : v - 1;
            c.r[d.rm()] = res;
            Arithmetic.incDecFlags(c, d.sub() == 0, v, res, 8);
            return onward(c);
        }
    }

    static final class IncDec extends DecodedForm.OfOp {
        IncDec(BlockOp d) {
            super(d);
        }

        @Override
        boolean run(Core c) {
            int size = d.size(), rm = d.rm();
            boolean inc = d.op() == BlockOp.INC;
            long v;
            long res;
            if (rm >= 0) {
                v = c.regOf(rm, size);
                res = inc ? v + 1 : v - 1;
                c.setRegOf(rm, size, res);
            } else {
                long a = c.address(d, next(c));
                v = c.read(a, size);
                res = inc ? v + 1 : v - 1;
                c.write(a, size, res);
            }
            Arithmetic.incDecFlags(c, inc, v, res, size);
            return onward(c);
        }
    }

    static final class Not extends DecodedForm.OfOp {
        Not(BlockOp d) {
            super(d);
        }

        @Override
        boolean run(Core c) {
            int size = d.size(), rm = d.rm();
            if (rm >= 0) {
                c.setRegOf(rm, size, ~c.regOf(rm, size));
            } else {
                long a = c.address(d, next(c));
                c.write(a, size, ~c.read(a, size));
            }
            return onward(c);
        }
    }

    static final class Neg extends DecodedForm.OfOp {
        Neg(BlockOp d) {
            super(d);
        }

        @Override
        boolean run(Core c) {
            int size = d.size(), rm = d.rm();
            long v;
            long res;
            if (rm >= 0) {
                v = c.regOf(rm, size);
                res = -v;
                c.setRegOf(rm, size, res);
            } else {
                long a = c.address(d, next(c));
                v = c.read(a, size);
                res = -v;
                c.write(a, size, res);
            }
            Arithmetic.negFlags(c, v, res, size);
            return onward(c);
        }
    }

    /** IMUL reg, r/m, imm. */
    static final class ImulImm extends DecodedForm.OfOp {
        ImulImm(BlockOp d) {
            super(d);
        }

        @Override
        boolean run(Core c) {
            Arithmetic.imul3(c, d.reg(), c.operand(d, d.size(), next(c)), d.imm(), d.size());
            return onward(c);
        }
    }

    /** IMUL reg, r/m. */
    static final class Imul extends DecodedForm.OfOp {
        Imul(BlockOp d) {
            super(d);
        }

        @Override
        boolean run(Core c) {
            int size = d.size();
            Arithmetic.imul3(c, d.reg(), c.regOf(d.reg(), size), c.operand(d, size, next(c)), size);
            return onward(c);
        }
    }

    /**
     * The form of a block's instruction {@code n}, {@code d}: as {@link DecodedForm#of}, but a shift or rotate (ROL,
     * ROR, SHL, SHR, SAR) of a 32- or 64-bit register by an immediate whose flags nothing after it in the block sees
     * ({@link BlockCompiler#flagsDeadAfter}) computes its value alone. Not the block's first: under an STI or MOV SS
     * shadow the block ends after that one, where an interrupt would see the flags.
     */
    static DecodedForm inBlock(BlockOp[] insns, int n) {
        BlockOp d = insns[n];
        if (n > 0 && d.op() == BlockOp.SHIFT && d.sub() != 2 && d.sub() != 3 && d.imm() >= 0 && d.rm() >= 0
                && (d.size() == 8 || d.size() == 4) && (d.imm() & (d.size() == 8 ? 63 : 31)) != 0
                && BlockCompiler.flagsDeadAfter(insns, n)) {
            return new QuietShiftRegister(d);
        }
        return DecodedForm.of(d);
    }

    /** A shift or rotate of a whole register of 4 or 8 bytes by a non-zero immediate count: its operands. */
    abstract static class RegisterByImm extends DecodedForm {
        final int dst, size, operation, count;
        final long mask;

        RegisterByImm(BlockOp d) {
            super(d);
            dst = d.rm();
            size = d.size();
            operation = d.sub();
            count = (int) d.imm() & (size == 8 ? 63 : 31);
            mask = Core.mask(size);
        }
    }

    /**
     * ROL, ROR, SHL, SHR or SAR of a 32- or 64-bit register by a non-zero immediate, its flags unseen: the flags stay
     * as they were (a shift's record, a rotate's CF and OF, are never made).
     */
    static final class QuietShiftRegister extends RegisterByImm {
        QuietShiftRegister(BlockOp d) {
            super(d);
        }

        @Override
        boolean run(Core c) {
            long v = c.r[dst] & mask;
            c.r[dst] = operation <= 1 ? ShiftsAndBits.rotatedValue(operation, size, v, count)
                    : ShiftsAndBits.shiftedValue(operation, size, v, count);
            return onward(c);
        }
    }

    /**
     * A shift or rotate of a whole register of 4 or 8 bytes by a non-zero immediate count, a shift's flags left as its
     * lazy record ({@link ShiftsAndBits#shiftedLazily}).
     */
    static final class ShiftRegisterByImm extends RegisterByImm {
        ShiftRegisterByImm(BlockOp d) {
            super(d);
        }

        @Override
        boolean run(Core c) {
            c.r[dst] = ShiftsAndBits.shiftedLazily(c, operation, size, c.r[dst] & mask, count) & mask;
            return onward(c);
        }
    }

    /** A shift or rotate by an immediate or by CL. */
    static final class Shift extends DecodedForm.OfOp {
        Shift(BlockOp d) {
            super(d);
        }

        @Override
        boolean run(Core c) {
            int size = d.size(), rm = d.rm();
            int count = (int) (d.imm() >= 0 ? d.imm() : c.r[1] & 0xFF) & (size == 8 ? 63 : 31);
            long a = rm >= 0 ? 0 : c.address(d, next(c));
            long v = rm >= 0 ? c.regOf(rm, size) : c.read(a, size);
            if (count != 0) {
                v = ShiftsAndBits.shifted(c, d.sub(), size, v, count);
            } else if (size != 4) {
                return onward(c); // flags and destination stay; a 32-bit one is still written, so zero-extended
            }
            if (rm >= 0) {
                c.setRegOf(rm, size, v);
            } else {
                c.write(a, size, v);
            }
            if (count != 0) {
                c.setArith(c.shiftFlags);
            }
            return onward(c);
        }
    }

    /** MUL, IMUL, DIV or IDIV of the accumulator by r/m. */
    static final class MulDiv extends DecodedForm.OfOp {
        MulDiv(BlockOp d) {
            super(d);
        }

        @Override
        boolean run(Core c) {
            Arithmetic.mulDiv(c, d.sub(), d.size(), c.operand(d, d.size(), next(c)));
            return onward(c);
        }
    }

    /** BT, BTS, BTR or BTC, the bit offset an immediate or a register. */
    static final class BitTest extends DecodedForm.OfOp {
        BitTest(BlockOp d) {
            super(d);
        }

        @Override
        boolean run(Core c) {
            int size = d.size();
            boolean inRegister = d.imm() < 0;
            long offset = inRegister ? ShiftsAndBits.registerBitOffset(c.r[d.reg()], size) : d.imm();
            long a = d.rm() >= 0 ? 0 : c.address(d, next(c));
            if (d.rm() < 0 && inRegister) {
                a += ShiftsAndBits.bitOffsetBytes(offset, size); // the offset's whole operands move the address
            }
            ShiftsAndBits.bitOperation(c, d.sub(), size, d.rm(), a, offset);
            return onward(c);
        }
    }
}

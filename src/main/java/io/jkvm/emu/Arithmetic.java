package io.jkvm.emu;

/** Integer arithmetic: the eight ALU operations, IMUL's two- and three-operand forms, group 3 (TEST, NOT, NEG, MUL, IMUL, DIV, IDIV), INC and DEC of r/m. */
final class Arithmetic {
    private Arithmetic() {
    }

    /** The eight ALU operations: 0 ADD, 1 OR, 2 ADC, 3 SBB, 4 AND, 5 SUB, 6 XOR, 7 CMP. */
    static long aluOp(Core cpu, int op, long dst, long src, int size) {
        long m = Core.mask(size);
        dst &= m;
        src &= m;
        long res;
        switch (op) {
            case 0 -> {
                res = dst + src;
                cpu.lazy(Core.LAZY_ADD, dst, src, res, size);
            }
            case 1 -> {
                res = dst | src;
                cpu.lazy(Core.LAZY_LOGIC, res, 0, res, size);
            }
            case 2 -> {
                long c = cpu.cf() ? 1 : 0;
                res = dst + src + c;
                cpu.lazy(Core.LAZY_ADC, dst, src, res, size);
                cpu.lazyCarry = c;
            }
            case 3 -> {
                long c = cpu.cf() ? 1 : 0;
                res = dst - src - c;
                cpu.lazy(Core.LAZY_SBB, dst, src, res, size);
                cpu.lazyCarry = c;
            }
            case 4 -> {
                res = dst & src;
                cpu.lazy(Core.LAZY_LOGIC, res, 0, res, size);
            }
            case 5, 7 -> {
                res = dst - src;
                cpu.lazy(Core.LAZY_SUB, dst, src, res, size);
            }
            default -> {
                res = dst ^ src;
                cpu.lazy(Core.LAZY_LOGIC, res, 0, res, size);
            }
        }
        return res & m;
    }

    /** 00-3D: op r/m,r; op r,r/m; op AL/eAX,imm. */
    static void alu(Core cpu, int op, int form) {
        int size = (form & 1) == 0 ? 1 : cpu.opSize;
        switch (form) {
            case 0, 1 -> {
                cpu.takeModrm();
                long res = aluOp(cpu, op, cpu.readRm(size), cpu.reg(cpu.regField, size), size);
                if (op != 7) {
                    cpu.writeRm(size, res);
                }
            }
            case 2, 3 -> {
                cpu.takeModrm();
                long res = aluOp(cpu, op, cpu.reg(cpu.regField, size), cpu.readRm(size), size);
                if (op != 7) {
                    cpu.setReg(cpu.regField, size, res);
                }
            }
            default -> {
                long imm = cpu.insn.operandImmediate(size);
                long res = aluOp(cpu, op, cpu.reg(0, size), imm, size);
                if (op != 7) {
                    cpu.setReg(0, size, res);
                }
            }
        }
        cpu.done();
    }

    static void imul3(Core cpu, int dstReg, long a, long b, int size) {
        int shift = 64 - 8 * size;
        long sa = (a << shift) >> shift;
        long sb = (b << shift) >> shift;
        long lo = sa * sb;
        boolean overflow;
        if (size == 8) {
            long hi = Math.multiplyHigh(sa, sb);
            overflow = hi != (lo >> 63);
        } else {
            overflow = ((lo << shift) >> shift) != lo;
        }
        cpu.setReg(dstReg, size, lo);
        cpu.setArith((overflow ? Core.CF | Core.OF : 0) | ((lo & Core.signBit(size)) != 0 ? Core.SF : 0)); // ZF, AF, PF undefined
    }

    static void group3(Core cpu, int size) {
        cpu.takeModrm();
        int op = cpu.regField & 7;
        switch (op) {
            case 0, 1 -> { // TEST cpu.r/m, imm
                long imm = cpu.insn.operandImmediate(size);
                long res = cpu.readRm(size) & imm;
                cpu.lazy(Core.LAZY_LOGIC, res, 0, res, size);
            }
            case 2 -> cpu.writeRm(size, ~cpu.readRm(size));
            case 3 -> {
                long d = cpu.readRm(size) & Core.mask(size);
                long res = -d;
                cpu.writeRm(size, res);
                negFlags(cpu, d, res, size);
            }
            default -> mulDiv(cpu, op, size, cpu.readRm(size));
        }
        cpu.done();
    }

    /** Group 3's MUL, IMUL, DIV or IDIV ({@code op} 4-7) of the accumulator by {@code src}, the r/m operand's value. */
    static void mulDiv(Core cpu, int op, int size, long src) {
        if (op < 6) {
            mul(cpu, size, op == 5, src);
        } else {
            div(cpu, size, op == 7, src);
        }
    }

    /** MUL or IMUL of RAX (AL, AX, EAX) by {@code src} into RDX:RAX (AX for bytes); the compiled form calls it too. */
    static void mul(Core cpu, int size, boolean signed, long src) {
        long a = cpu.reg(0, size);
        int shift = 64 - 8 * size;
        long lo, hi;
        if (size == 8) {
            lo = a * src;
            hi = signed ? Math.multiplyHigh(a, src) : Math.unsignedMultiplyHigh(a, src);
        } else {
            long x = signed ? (a << shift) >> shift : a;
            long y = signed ? (src << shift) >> shift : src & Core.mask(size);
            long p = x * y;
            lo = p & Core.mask(size);
            hi = (p >> (8 * size)) & Core.mask(size);
        }
        boolean overflow;
        if (signed) {
            long loSigned = (lo << shift) >> shift;
            long expectHi = loSigned < 0 ? Core.mask(size) : 0;
            overflow = (hi & Core.mask(size)) != expectHi;
        } else {
            overflow = (hi & Core.mask(size)) != 0;
        }
        if (size == 1) {
            cpu.setReg(0, 2, (lo & 0xFF) | ((hi & 0xFF) << 8));
        } else {
            cpu.setReg(0, size, lo);
            cpu.setReg(2, size, hi);
        }
        cpu.setArith((overflow ? Core.CF | Core.OF : 0) | ((lo & Core.signBit(size)) != 0 ? Core.SF : 0));
    }

    private static void div(Core cpu, int size, boolean signed, long src) {
        long divisor = src & Core.mask(size);
        if (divisor == 0) {
            throw GuestFault.of(GuestFault.DE);
        }
        if (size == 8) {
            WideDivision.Result qr = signed ? WideDivision.signed(cpu.r[2], cpu.r[0], divisor)
                    : WideDivision.unsigned(cpu.r[2], cpu.r[0], divisor);
            if (qr == null) {
                throw GuestFault.of(GuestFault.DE);
            }
            cpu.r[0] = qr.quotient();
            cpu.r[2] = qr.remainder();
            return;
        }
        int bits = 8 * size;
        long dividend = size == 1 ? cpu.reg(0, 2) : (cpu.reg(2, size) << bits) | cpu.reg(0, size);
        long q, rem;
        if (signed) {
            int shift = 64 - 2 * bits;
            long sd = (dividend << shift) >> shift;
            long sv = (divisor << (64 - bits)) >> (64 - bits);
            q = sd / sv;
            rem = sd % sv;
            long lim = 1L << (bits - 1);
            if (q >= lim || q < -lim) {
                throw GuestFault.of(GuestFault.DE);
            }
        } else {
            q = Long.divideUnsigned(dividend, divisor);
            rem = Long.remainderUnsigned(dividend, divisor);
            if (Long.compareUnsigned(q, Core.mask(size)) > 0) {
                throw GuestFault.of(GuestFault.DE);
            }
        }
        if (size == 1) {
            cpu.setReg(0, 2, (q & 0xFF) | ((rem & 0xFF) << 8));
        } else {
            cpu.setReg(0, size, q);
            cpu.setReg(2, size, rem);
        }
    }

    /** FE /0-1 and FF /0-1: INC and DEC of r/m (CF kept). */
    static void incDec(Core cpu, int op, int size) {
        long d = cpu.readRm(size) & Core.mask(size);
        long res = op == 0 ? d + 1 : d - 1;
        cpu.writeRm(size, res);
        incDecFlags(cpu, op == 0, d, res, size);
        cpu.done();
    }

    /**
     * The flags INC and DEC leave, set once their result {@code res} of {@code v} is stored (a faulting store leaves
     * them): CF as it was, OF, SF, ZF, AF and PF from the result. The interpreter and the decoded blocks both use it.
     */
    static void incDecFlags(CpuState cpu, boolean inc, long v, long res, int size) {
        long carry = cpu.cf() ? Core.CF : 0;
        cpu.lazy(inc ? Core.LAZY_INC : Core.LAZY_DEC, v, 1, res, size);
        cpu.lazyCarry = carry;
    }

    /** The flags NEG leaves, once its result {@code res} of {@code v} is stored: CF set unless {@code v} was 0. */
    static void negFlags(CpuState cpu, long v, long res, int size) {
        cpu.lazy(Core.LAZY_NEG, v, 0, res, size);
    }
}

package io.jkvm.emu;

/**
 * VEX-encoded general-purpose instructions (BMI1: ANDN, BEXTR, BLSI, BLSMSK, BLSR; BMI2: BZHI, MULX, PDEP, PEXT,
 * RORX, SARX, SHLX, SHRX), each #UD unless the guest CPU model has its feature, and the legacy 0F 38 ones
 * (MOVBE, CRC32). {@link InstructionDecoder} reads the VEX prefix (C5 or C4) and the operands.
 */
final class Bmi {
    private Bmi() {
    }

    private static final long CF = Core.CF, ZF = Core.ZF, SF = Core.SF;

    static void executeVex(Core c, Instruction insn) {
        int p2 = insn.payload() >>> 8; // W, vvvv, L, pp (the decoder keeps C5's payload in C4's form)
        int map = insn.map(), pp = p2 & 3, vvvv = (~p2 >>> 3) & 15;
        boolean w = insn.rexW(), l = (p2 & 4) != 0;
        if (!c.code64) { // outside 64-bit mode vvvv[3] is ignored, and W1 is W0 for these instructions
            vvvv &= 7;
        }
        int op = insn.opcode();
        int size = w ? 8 : 4;
        c.opSize = size;
        if (l) {
            throw GuestFault.of(GuestFault.UD); // the BMI instructions are VEX.LZ; no AVX here yet
        }
        if (map == 2) {
            vex0F38(c, op, pp, vvvv, size);
        } else if (map == 3 && op == 0xF0 && pp == 3) {
            rorx(c, size);
        } else {
            throw GuestFault.of(GuestFault.UD);
        }
        c.done();
    }

    /** Whether the model has BMI1 (CPUID.(7,0):EBX[3]) or BMI2 (EBX[8]); #UD if not. */
    private static void require(Core c, boolean bmi2, int unused) {
        if (!c.cpuidHas(7, 0, 1, bmi2 ? 8 : 3)) {
            throw GuestFault.of(GuestFault.UD);
        }
    }

    /** RORX r, r/m, imm8 (VEX or EVEX map 3 F0, F2): no flags. */
    static void rorx(Core c, int size) {
        require(c, true, 8);
        c.takeModrm();
        int imm = (int) c.insn.immediate() & (size == 8 ? 63 : 31);
        long v = c.readRm(size);
        long r = size == 8 ? Long.rotateRight(v, imm) : Integer.rotateRight((int) v, imm) & 0xFFFFFFFFL;
        c.setReg(c.regField, size, r);
    }

    /**
     * ADCX (CF) or ADOX (OF): reg + r/m + that flag, setting only that flag; {@code ndd} >= 0 sends the sum there
     * (APX's EVEX form) instead of to ModRM.reg. Needs ADX in the model.
     */
    static void addWithCarry(Core c, boolean overflowFlag, int ndd) {
        if (!c.cpuidHas(7, 0, 1, 19)) {
            throw GuestFault.of(GuestFault.UD);
        }
        c.takeModrm();
        int size = c.opSize;
        long flag = overflowFlag ? Core.OF : CF;
        long carryIn = (c.rflags() & flag) != 0 ? 1 : 0;
        long a = c.reg(c.regField, size), b = c.readRm(size) & Core.mask(size);
        long sum = a + b + carryIn;
        boolean carryOut = size == 8 ? Long.compareUnsigned(sum, a) < 0 || carryIn == 1 && sum == a : (sum >>> 32) != 0;
        if (ndd >= 0) {
            c.r[ndd] = sum & Core.mask(size);
        } else {
            c.setReg(c.regField, size, sum);
        }
        c.modifyArith(flag, carryOut ? flag : 0);
        c.done();
    }

    static void vex0F38(Core c, int op, int pp, int vvvv, int size) {
        c.takeModrm();
        long m = Core.mask(size);
        int bits = 8 * size;
        switch (op) {
            case 0xF2 -> { // ANDN r, vvvv, r/m
                require(c, false, 0);
                long r = ~c.reg(vvvv, size) & c.readRm(size) & m;
                c.setReg(c.regField, size, r);
                c.setArith(Core.pfZfSf(r, size) & (ZF | SF));
            }
            case 0xF3 -> { // BLSR /1, BLSMSK /2, BLSI /3: vvvv is the destination
                require(c, false, 0);
                long src = c.readRm(size) & m;
                long r;
                long cf;
                switch (c.regField & 7) {
                    case 1 -> {
                        r = (src - 1) & src & m;
                        cf = src == 0 ? CF : 0;
                    }
                    case 2 -> {
                        r = (src - 1) ^ src & m;
                        r &= m;
                        cf = src == 0 ? CF : 0;
                    }
                    case 3 -> {
                        r = -src & src & m;
                        cf = src != 0 ? CF : 0;
                    }
                    default -> throw GuestFault.of(GuestFault.UD);
                }
                c.setReg(vvvv, size, r);
                c.setArith(cf | (Core.pfZfSf(r, size) & (ZF | SF)));
            }
            case 0xF5 -> {
                if (pp == 0) { // BZHI r, r/m, vvvv
                    require(c, true, 0);
                    long src = c.readRm(size) & m;
                    int index = (int) (c.reg(vvvv, size) & 0xFF);
                    long r = index >= bits ? src : src & ((1L << index) - 1);
                    c.setReg(c.regField, size, r);
                    c.setArith((index > bits - 1 ? CF : 0) | (Core.pfZfSf(r, size) & (ZF | SF)));
                } else if (pp == 3) { // PDEP r, vvvv, r/m
                    require(c, true, 0);
                    c.setReg(c.regField, size, Long.expand(c.reg(vvvv, size), c.readRm(size) & m));
                } else if (pp == 2) { // PEXT r, vvvv, r/m
                    require(c, true, 0);
                    c.setReg(c.regField, size, Long.compress(c.reg(vvvv, size), c.readRm(size) & m));
                } else {
                    throw GuestFault.of(GuestFault.UD);
                }
            }
            case 0xF6 -> { // MULX r(hi), vvvv(lo), r/m: RDX * r/m, no flags
                if (pp != 3) {
                    throw GuestFault.of(GuestFault.UD);
                }
                require(c, true, 0);
                long a = c.reg(2, size), b = c.readRm(size) & m;
                long lo, hi;
                if (size == 8) {
                    lo = a * b;
                    hi = Math.unsignedMultiplyHigh(a, b);
                } else {
                    long p = a * b;
                    lo = p & m;
                    hi = p >>> 32;
                }
                c.setReg(vvvv, size, lo);
                c.setReg(c.regField, size, hi); // written last: when both name the same register, the high half wins
            }
            case 0xF7 -> {
                long src = c.readRm(size) & m;
                long ctl = c.reg(vvvv, size);
                if (pp == 0) { // BEXTR r, r/m, vvvv
                    require(c, false, 0);
                    int start = (int) (ctl & 0xFF), len = (int) ((ctl >>> 8) & 0xFF);
                    long r = start >= bits ? 0 : src >>> start;
                    if (len < 64) {
                        r &= (1L << len) - 1;
                    }
                    r &= m;
                    c.setReg(c.regField, size, r);
                    c.setArith(r == 0 ? ZF : 0);
                } else {
                    require(c, true, 0);
                    int n = (int) (ctl & (size == 8 ? 63 : 31));
                    long r = switch (pp) {
                        case 1 -> src << n; // SHLX (66)
                        case 2 -> ((src << (64 - bits)) >> (64 - bits)) >> n; // SARX (F3)
                        default -> src >>> n; // SHRX (F2)
                    };
                    c.setReg(c.regField, size, r & m);
                }
            }
            default -> throw GuestFault.of(GuestFault.UD);
        }
    }

    /** Legacy 0F 38: MOVBE (F0/F1, memory only), CRC32 (F2 0F 38 F0/F1), ADCX/ADOX (66/F3 0F 38 F6). */
    static void executeMap0F38(Core c, int op) {
        if (op == 0x82 && c.p66 && c.rep == 0) {
            SystemInstructions.invpcid(c);
            return;
        }
        if (c.p66 && c.rep == 0 && Sse4.in0F38(op)) {
            Sse4.execute0F38(c, op);
            return;
        }
        if (!c.p66 && c.rep == 0 && (op <= 0x0B || (op >= 0x1C && op <= 0x1E))) {
            Mmx.execute38(c, op); // the SSSE3 operations on MMX registers
            return;
        }
        if (op == 0xF6 && (c.p66 || c.rep == 0xF3)) { // ADCX (66), ADOX (F3)
            c.opSize = c.rexW ? 8 : 4;
            addWithCarry(c, c.rep == 0xF3, -1);
            return;
        }
        if ((op == 0xF0 || op == 0xF1) && c.rep == 0xF2) {
            c.takeModrm();
            int size = op == 0xF0 ? 1 : c.opSize;
            long data = c.readRm(size);
            long crc = c.reg(c.regField, 4);
            for (int i = 0; i < size; i++) {
                crc ^= (data >>> (8 * i)) & 0xFF;
                for (int k = 0; k < 8; k++) {
                    crc = (crc >>> 1) ^ ((crc & 1) != 0 ? 0x82F63B78L : 0); // CRC-32C, reflected
                }
            }
            c.setReg(c.regField, c.rexW ? 8 : 4, crc & 0xFFFFFFFFL);
            c.done();
            return;
        }
        if ((op == 0xF0 || op == 0xF1) && c.cpuidHas(1, 0, 2, 22)) {
            c.takeModrm();
            if (c.mod == 3) {
                throw GuestFault.of(GuestFault.UD);
            }
            int size = c.opSize;
            if (op == 0xF0) {
                c.setReg(c.regField, size, swap(c.readRm(size), size));
            } else {
                c.writeRm(size, swap(c.reg(c.regField, size), size));
            }
            c.done();
            return;
        }
        throw GuestFault.of(GuestFault.UD);
    }

    private static long swap(long v, int size) {
        return switch (size) {
            case 2 -> Short.reverseBytes((short) v) & 0xFFFFL;
            case 4 -> Integer.reverseBytes((int) v) & 0xFFFFFFFFL;
            default -> Long.reverseBytes(v);
        };
    }
}

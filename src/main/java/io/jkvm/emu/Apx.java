package io.jkvm.emu;

/**
 * Intel APX's EVEX forms: the 0x62 prefix read the APX way. Map 4 holds the legacy instructions promoted to 32
 * GPRs, with a new data destination (ND: the result goes to EVEX.vvvv, zero-extended), no flags (NF: RFLAGS
 * left as it was) and zero-upper (ZU) variants, and the new CCMPcc/CTESTcc, CFCMOVcc and PUSH2/POP2; maps 2 and
 * 3 hold the BMI instructions with EGPRs. Everything here is #UD unless XCR0[APX] is set; the ND, NF and ZU forms
 * and the conditional instructions also need CPUID.(0x29,0):EBX[0] (APX_NCI_NDD_NF) in the guest's model.
 *
 * <p>Prefix layout (P0 P1 P2 after 0x62), inverted bits marked ~:
 * P0 = ~R3 ~X3 ~B3 ~R4 B4 m m m; P1 = W ~vvvv ~X4 p p; P2 = z L' L ND ~V4 NF 0 0, or for CCMPcc/CTESTcc
 * P2 = 0 0 0 0 SCC (4 bits) with P1's vvvv holding the default flags value (OF SF ZF CF), not inverted.
 */
final class Apx {
    private Apx() {
    }

    private static final long CF = Core.CF, PF = Core.PF, ZF = Core.ZF, SF = Core.SF, OF = Core.OF;

    /** Decoded EVEX fields the handlers need. */
    private record Evex(int map, int pp, boolean w, int vvvv, boolean nd, boolean nf, int p1, int p2) {
    }

    static void executeEvex(Core c, Instruction insn) {
        int p0 = insn.payload() & 0xFF, p1 = (insn.payload() >>> 8) & 0xFF, p2 = insn.payload() >>> 16;
        c.rep = 0;
        Evex e = new Evex(p0 & 7, p1 & 3, (p1 & 0x80) != 0, ((~p1 >>> 3) & 15) | ((~p2 & 8) << 1),
                (p2 & 0x10) != 0, (p2 & 4) != 0, p1, p2);
        long flagsBefore = c.rflags();
        try {
            switch (e.map) {
                case 4 -> map4(c, e, insn.opcode(), flagsBefore);
                case 2, 3 -> promotedVex(c, e, insn.opcode(), flagsBefore);
                default -> throw GuestFault.of(GuestFault.UD);
            }
        } finally {
            c.nddTarget = -1;
        }
    }

    private static GuestFault ud() {
        return GuestFault.of(GuestFault.UD);
    }

    /** ND, NF, ZU and the conditional instructions are APX_NCI_NDD_NF: #UD when the model does not expose it. */
    private static void requireNciNddNf(Core c) {
        if (!c.cpuidHas(0x29, 0, 1, 0)) {
            throw ud();
        }
    }

    private static void map4(Core c, Evex e, int b, long flagsBefore) {
        if ((e.p2 & 0xE0) != 0) {
            throw ud(); // z, L'L: no zeroing or vector length for general-purpose instructions
        }
        c.opSize = e.w ? 8 : e.pp == 1 ? 2 : 4;
        c.p66 = e.pp == 1;
        int ext = c.insn.extension();
        if (b >= 0x38 && b <= 0x3B || b == 0x84 || b == 0x85 || (b == 0x80 || b == 0x81 || b == 0x83) && ext == 7
                || (b == 0xF6 || b == 0xF7) && ext == 0) {
            conditionalCompare(c, e, b);
            return;
        }
        boolean zeroUpper = b == 0x69 || b == 0x6B || e.pp == 3 && b >= 0x40 && b <= 0x4F; // ND means ZU there
        if ((e.p2 & 3) != 0 || (!e.nd || zeroUpper) && e.vvvv != 0 || e.pp >= 2 && !(b >= 0x40 && b <= 0x4F || b == 0x66)) {
            throw ud(); // aaa[1:0] reserved; vvvv unused without ND and by ZU; F2/F3 select opcodes only where the map has them
        }
        if (e.nd && !(b == 0x8F || b == 0xFF && ext == 6) || e.nf) {
            requireNciNddNf(c);
        }
        switch (b) {
            case 0x00, 0x01, 0x08, 0x09, 0x10, 0x11, 0x18, 0x19, 0x20, 0x21, 0x28, 0x29, 0x30, 0x31 -> { // op r/m, r
                int op = b >>> 3;
                noFlagsForCarryOps(e, op == 2 || op == 3);
                legacy(c, e, flagsBefore, () -> c.executeMap0(b));
            }
            case 0x02, 0x03, 0x0A, 0x0B, 0x12, 0x13, 0x1A, 0x1B, 0x22, 0x23, 0x2A, 0x2B, 0x32, 0x33 -> { // op r, r/m
                int op = b >>> 3;
                noFlagsForCarryOps(e, op == 2 || op == 3);
                c.takeModrm();
                int size = (b & 1) == 0 ? 1 : c.opSize;
                long res = Arithmetic.aluOp(c, op, c.reg(c.regField, size), c.readRm(size), size);
                writeResult(c, e, c.regField, size, res);
                finish(c, e, flagsBefore);
            }
            case 0x80, 0x81, 0x83 -> {
                noFlagsForCarryOps(e, ext == 2 || ext == 3);
                legacy(c, e, flagsBefore, () -> c.executeMap0(b));
            }
            case 0xC0, 0xC1, 0xD0, 0xD1, 0xD2, 0xD3 -> {
                noFlagsForCarryOps(e, ext == 2 || ext == 3); // RCL, RCR
                legacy(c, e, flagsBefore, () -> c.executeMap0(b));
            }
            case 0x24, 0x2C, 0xA5, 0xAD -> { // SHLD/SHRD by imm8 (24, 2C) or CL (A5, AD)
                int legacyOpcode = b == 0x24 ? 0xA4 : b == 0x2C ? 0xAC : b;
                legacy(c, e, flagsBefore, () -> c.executeMap1(legacyOpcode));
            }
            case 0xF6, 0xF7 -> {
                if (ext == 1 || ext == 2 && e.nf || ext >= 4 && e.nd) {
                    throw ud(); // NOT sets no flags; MUL/IMUL/DIV/IDIV have implicit destinations
                }
                legacy(c, e, flagsBefore, () -> c.executeMap0(b));
            }
            case 0xFE, 0xFF -> {
                if (b == 0xFF && ext == 6) {
                    push2(c, e);
                } else if (ext <= 1) {
                    legacy(c, e, flagsBefore, () -> c.executeMap0(b)); // INC, DEC
                } else {
                    throw ud();
                }
            }
            case 0x8F -> pop2(c, e);
            case 0xAF -> { // IMUL r, r/m (ND: vvvv = r * r/m)
                c.takeModrm();
                long a = c.reg(c.regField, c.opSize), m = c.readRm(c.opSize);
                int dst = e.nd ? e.vvvv : c.regField;
                if (e.nd) {
                    c.r[dst] = 0; // zero-upper destination, written by the 16-bit form below
                }
                Arithmetic.imul3(c, dst, a, m, c.opSize);
                finish(c, e, flagsBefore);
            }
            case 0x69, 0x6B -> { // IMUL r, r/m, imm; ND here means ZU: the 16-bit form zeroes the upper bits
                c.takeModrm();
                long imm = c.insn.signedImmediate();
                long m = c.readRm(c.opSize);
                if (e.nd) {
                    c.r[c.regField] = 0;
                }
                Arithmetic.imul3(c, c.regField, m, imm, c.opSize);
                finish(c, e, flagsBefore);
            }
            case 0x40, 0x41, 0x42, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49, 0x4A, 0x4B, 0x4C, 0x4D, 0x4E, 0x4F -> {
                if (e.pp == 3) {
                    setcc(c, e, b & 15);
                } else if (e.pp == 2) {
                    throw ud();
                } else {
                    requireNciNddNf(c);
                    conditionalMove(c, e, b & 15);
                }
            }
            case 0x60, 0x61, 0xF0, 0xF1 -> { // MOVBE load/store; CRC32 r, r/m8 and r, r/m
                noNdNf(e);
                c.rep = b >= 0xF0 ? 0xF2 : 0;
                Bmi.executeMap0F38(c, b >= 0xF0 ? b : b + 0x90);
            }
            case 0x66 -> { // ADCX (66) and ADOX (F3); ND: the sum goes to vvvv
                if (e.nf || e.pp == 0 || e.pp == 3) {
                    throw ud();
                }
                c.opSize = e.w ? 8 : 4;
                Bmi.addWithCarry(c, e.pp == 2, e.nd ? e.vvvv : -1);
            }
            case 0x88, 0xF4, 0xF5 -> { // POPCNT, TZCNT, LZCNT
                if (e.nd) {
                    throw ud();
                }
                boolean has = b == 0x88 ? c.cpuidHas(1, 0, 2, 23) : b == 0xF4 ? c.cpuidHas(7, 0, 1, 3) : c.cpuidHas(0x80000001, 0, 2, 5);
                if (!has) {
                    throw ud();
                }
                c.rep = 0xF3;
                int legacyOpcode = b == 0x88 ? 0xB8 : b == 0xF4 ? 0xBC : 0xBD;
                legacy(c, e, flagsBefore, () -> c.executeMap1(legacyOpcode));
            }
            default -> throw ud();
        }
    }

    private static void noFlagsForCarryOps(Evex e, boolean carryOp) {
        if (carryOp && e.nf) {
            throw ud(); // ADC, SBB, RCL, RCR consume CF: they have no NF form
        }
    }

    private static void noNdNf(Evex e) {
        if (e.nd || e.nf) {
            throw ud();
        }
    }

    /** Runs the legacy handler: with ND its r/m write goes to vvvv (Core.writeRm), with NF the flags are put back. */
    private static void legacy(Core c, Evex e, long flagsBefore, Runnable handler) {
        if (e.nd) {
            c.nddTarget = e.vvvv;
        }
        handler.run();
        if (e.nf) {
            c.setRflags(flagsBefore);
        }
    }

    private static void finish(Core c, Evex e, long flagsBefore) {
        if (e.nf) {
            c.setRflags(flagsBefore);
        }
        c.done();
    }

    /** A result for ModRM.reg, or with ND for vvvv (the whole register: zero-extended from 8 and 16 bits too). */
    private static void writeResult(Core c, Evex e, int reg, int size, long value) {
        if (e.nd) {
            c.r[e.vvvv] = value & Core.mask(size);
        } else {
            c.setReg(reg, size, value);
        }
    }

    /** SCC 0xA is "always", 0xB "never"; the others are the Jcc conditions. */
    private static boolean sourceCondition(Core c, int scc) {
        return scc == 0xA || scc != 0xB && c.condition(scc);
    }

    /**
     * CCMPscc / CTESTscc: when the source condition holds, CMP / TEST; when not, OF SF ZF CF take the default flags
     * value and PF copies CF, AF is cleared. The operands are read either way (a memory operand can fault).
     */
    private static void conditionalCompare(Core c, Evex e, int b) {
        requireNciNddNf(c);
        if (e.nd) {
            throw ud();
        }
        c.takeModrm();
        int size = (b & 1) == 0 ? 1 : c.opSize;
        long imm = switch (b) {
            case 0x83 -> c.insn.signedImmediate();
            case 0x80, 0x81, 0xF6, 0xF7 -> c.insn.operandImmediate(size);
            default -> 0;
        };
        long left = c.readRm(size), right;
        switch (b) {
            case 0x38, 0x39, 0x84, 0x85 -> right = c.reg(c.regField, size);
            case 0x3A, 0x3B -> {
                right = left;
                left = c.reg(c.regField, size);
            }
            default -> right = imm;
        }
        boolean test = b == 0x84 || b == 0x85 || b == 0xF6 || b == 0xF7;
        if (sourceCondition(c, e.p2 & 15)) {
            Arithmetic.aluOp(c, test ? 4 : 7, left, right, size);
        } else {
            int dfv = (e.p1 >>> 3) & 15;
            long cf = dfv & 1;
            c.setArith(((dfv & 8) != 0 ? OF : 0) | ((dfv & 4) != 0 ? SF : 0) | ((dfv & 2) != 0 ? ZF : 0) | cf | (cf != 0 ? PF : 0));
        }
        c.done();
    }

    /**
     * Map 4 40-4F without F2: ND=0 NF=0 CFCMOVcc r, r/m; ND=0 NF=1 CFCMOVcc r/m, r (the store form); ND=1 NF=0
     * CMOVcc vvvv, r, r/m; ND=1 NF=1 CFCMOVcc vvvv, r, r/m. The CF forms touch no memory when the condition is false,
     * so they cannot fault then. A register destination that is not moved into is still zero-extended from 32 bits.
     */
    private static void conditionalMove(Core c, Evex e, int cc) {
        c.takeModrm();
        int size = c.opSize;
        boolean taken = c.condition(cc);
        boolean faultSuppressing = !e.nd || e.nf;
        if (e.nd) {
            long source = taken || !faultSuppressing ? c.readRm(size) : 0;
            c.r[e.vvvv] = (taken ? source : c.reg(c.regField, size)) & Core.mask(size);
        } else if (e.nf) { // store form: r/m = reg
            if (taken) {
                c.writeRm(size, c.reg(c.regField, size));
            } else if (c.mod == 3 && size == 4) {
                c.setReg(c.rmField, 4, c.reg(c.rmField, 4));
            }
        } else {
            if (taken) {
                c.setReg(c.regField, size, c.readRm(size));
            } else if (size == 4) {
                c.setReg(c.regField, 4, c.reg(c.regField, 4));
            }
        }
        c.done();
    }

    /** SETcc under F2 in map 4; with ND (ZU) a register destination is written whole: 0 or 1 in 64 bits. */
    private static void setcc(Core c, Evex e, int cc) {
        if (e.nf) {
            throw ud();
        }
        if (e.nd) {
            requireNciNddNf(c);
        }
        c.takeModrm();
        long v = c.condition(cc) ? 1 : 0;
        if (e.nd && c.mod == 3) {
            c.r[c.rmField] = v;
        } else {
            c.writeRm(1, v);
        }
        c.done();
    }

    /** PUSH2 vvvv, r/m (FF /6, ND=1): vvvv is pushed first; RSP must be 16-byte aligned; W=1 is the PPX hint. */
    private static void push2(Core c, Evex e) {
        int[] regs = pairOperands(c, e, 6);
        requireAlignedStack(c);
        long rsp = c.r[4] - 16;
        c.write(rsp + 8, 8, c.r[regs[0]]); // one 16-byte aligned block: both stores hit the same page
        c.write(rsp, 8, c.r[regs[1]]);
        c.r[4] = rsp;
        c.done();
    }

    /** POP2 vvvv, r/m (8F /0, ND=1): vvvv gets the value at RSP, r/m the one above it; the two must differ. */
    private static void pop2(Core c, Evex e) {
        int[] regs = pairOperands(c, e, 0);
        if (regs[0] == regs[1]) {
            throw ud();
        }
        requireAlignedStack(c);
        long rsp = c.r[4];
        long first = c.read(rsp, 8), second = c.read(rsp + 8, 8);
        c.r[4] = rsp + 16;
        c.r[regs[0]] = first;
        c.r[regs[1]] = second;
        c.done();
    }

    private static int[] pairOperands(Core c, Evex e, int ext) {
        c.takeModrm();
        if (!e.nd || e.nf || c.mod != 3 || (c.regField & 7) != ext || c.opSize == 2) {
            throw ud();
        }
        if (e.vvvv == 4 || c.rmField == 4) {
            throw ud(); // RSP cannot be one of the pair
        }
        return new int[]{e.vvvv, c.rmField};
    }

    private static void requireAlignedStack(Core c) {
        long rsp = c.r[4];
        c.requireCanonicalStack(rsp);
        if ((rsp & 15) != 0) {
            throw GuestFault.withCode(GuestFault.GP, 0);
        }
    }

    /** Maps 2 and 3: the BMI instructions with EGPRs; NF only on those that set flags (ANDN, BLS*, BZHI, BEXTR). */
    private static void promotedVex(Core c, Evex e, int op, long flagsBefore) {
        if ((e.p2 & 0xF3) != 0) {
            throw ud(); // z, L'L, ND (b) and aaa[1:0] are reserved here
        }
        int size = e.w ? 8 : 4;
        c.opSize = size;
        boolean setsFlags = e.map == 2 && (op == 0xF2 || op == 0xF3 || op == 0xF5 && e.pp == 0 || op == 0xF7 && e.pp == 0);
        if (e.nf) {
            if (!setsFlags) {
                throw ud();
            }
            requireNciNddNf(c);
        }
        if (e.map == 3) {
            if (op != 0xF0 || e.pp != 3 || e.vvvv != 0) {
                throw ud();
            }
            Bmi.rorx(c, size);
        } else if (op >= 0xF2 && op <= 0xF7 && op != 0xF4) {
            Bmi.vex0F38(c, op, e.pp, e.vvvv, size);
        } else {
            throw ud();
        }
        finish(c, e, flagsBefore);
    }
}

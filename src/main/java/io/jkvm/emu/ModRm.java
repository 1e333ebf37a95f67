package io.jkvm.emu;

/**
 * A ModRM byte with its SIB byte and displacement, in 32- or 64-bit addressing: the one decoding of these bytes the
 * interpreter and the block decoder share through {@link InstructionDecoder}; 16-bit addressing has {@link #decode16}.
 *
 * @param mod   ModRM.mod: 3 for a register operand
 * @param reg   ModRM.reg with its REX/REX2 high bits
 * @param rm    with mod 3, the r/m register with its high bits; otherwise {@link BlockOp#MEMORY}
 * @param base  the base register, {@link BlockOp#NONE} (a SIB with no base), or {@link BlockOp#RIP}
 *              (mod 0, r/m 5: RIP-relative in 64-bit mode, an absolute disp32 outside it)
 * @param index the index register or {@link BlockOp#NONE} (SIB index 4 without REX.X/REX2.X4)
 * @param scale the SIB scale as a shift, 0-3
 * @param disp  the displacement, sign-extended
 */
record ModRm(int mod, int reg, int rm, int base, int index, int scale, long disp) {

    /** Decodes the ModRM at {@code in} and what follows it, with the register high bits {@code rexR/X/B} (0, 8, 16 or 24). */
    static ModRm decode(InstructionBytes in, int rexR, int rexX, int rexB) {
        return decode(in.next(), in, rexR, rexX, rexB);
    }

    /** Decodes the ModRM byte {@code m}, already read, and the SIB and displacement that follow it at {@code in}. */
    static ModRm decode(int m, InstructionBytes in, int rexR, int rexX, int rexB) {
        int mod = m >>> 6;
        int reg = ((m >>> 3) & 7) | rexR;
        int rm = m & 7;
        if (mod == 3) {
            return new ModRm(mod, reg, rm | rexB, BlockOp.NONE, BlockOp.NONE, 0, 0);
        }
        int base, index = BlockOp.NONE, scale = 0;
        long disp = 0;
        if (rm == 4) {
            int sib = in.next();
            scale = sib >>> 6;
            int idx = ((sib >>> 3) & 7) | rexX;
            if ((sib & 7) == 5 && mod == 0) {
                base = BlockOp.NONE;
                disp = in.nextSigned(4);
            } else {
                base = (sib & 7) | rexB;
            }
            if (idx != 4) { // index 4 (RSP) means none; with REX2.X4 it is R20, a real index
                index = idx;
            }
        } else if (rm == 5 && mod == 0) {
            base = BlockOp.RIP;
            disp = in.nextSigned(4);
        } else {
            base = rm | rexB;
        }
        if (mod == 1) {
            disp += in.nextSigned(1);
        } else if (mod == 2) {
            disp += in.nextSigned(4);
        }
        return new ModRm(mod, reg, BlockOp.MEMORY, base, index, scale, disp);
    }

    /**
     * A 16-bit addressing form: BX+SI, BX+DI, BP+SI, BP+DI, SI, DI, BP (a disp16 alone with mod 0), BX, with an 8-bit
     * (sign-extended) or 16-bit displacement; the offset is their sum wrapped at 64 KiB. Only code outside 64-bit
     * mode addresses with 16 bits, so no REX extends the registers.
     */
    static ModRm decode16(int m, InstructionBytes in) {
        int mod = m >>> 6;
        int reg = (m >>> 3) & 7;
        int rm = m & 7;
        if (mod == 3) {
            return new ModRm(mod, reg, rm, BlockOp.NONE, BlockOp.NONE, 0, 0);
        }
        int base = switch (rm) {
            case 0, 1, 7 -> 3;
            case 2, 3 -> 5;
            case 4 -> 6;
            case 5 -> 7;
            default -> mod == 0 ? BlockOp.NONE : 5;
        };
        int index = rm <= 1 || rm == 2 || rm == 3 ? 6 + (rm & 1) : BlockOp.NONE;
        long disp = mod == 1 ? in.nextSigned(1) : mod == 2 || base == BlockOp.NONE ? in.nextUnsigned(2) : 0;
        return new ModRm(mod, reg, BlockOp.MEMORY, base, index, 0, disp);
    }

    /** Whether the operand is a register. */
    boolean isRegister() {
        return mod == 3;
    }

    // Equality written out, as Instruction's (LaunchRecordEqualityTest).

    @Override
    public boolean equals(Object o) {
        return o instanceof ModRm m && mod == m.mod && reg == m.reg && rm == m.rm && base == m.base && index == m.index
                && scale == m.scale && disp == m.disp;
    }

    @Override
    public int hashCode() {
        int h = mod;
        h = 31 * h + reg;
        h = 31 * h + rm;
        h = 31 * h + base;
        h = 31 * h + index;
        h = 31 * h + scale;
        return 31 * h + Long.hashCode(disp);
    }
}

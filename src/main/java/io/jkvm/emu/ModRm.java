package io.jkvm.emu;

/**
 * A ModRM byte with its SIB byte and displacement, in 32- or 64-bit addressing: the one decoding of these bytes the
 * interpreter and the block decoder share (16-bit addressing is {@link Legacy#modrm16}).
 *
 * @param mod   ModRM.mod: 3 for a register operand
 * @param reg   ModRM.reg with its REX/REX2 high bits
 * @param rm    with mod 3, the r/m register with its high bits; otherwise {@link DecodedInsn#MEMORY}
 * @param base  the base register, {@link DecodedInsn#NONE} (a SIB with no base), or {@link DecodedInsn#RIP}
 *              (mod 0, r/m 5: RIP-relative in 64-bit mode, an absolute disp32 outside it)
 * @param index the index register or {@link DecodedInsn#NONE} (SIB index 4 without REX.X/REX2.X4)
 * @param scale the SIB scale as a shift, 0-3
 * @param disp  the displacement, sign-extended
 */
record ModRm(int mod, int reg, int rm, int base, int index, int scale, long disp) {

    /** Decodes the ModRM at {@code in} and what follows it, with the register high bits {@code rexR/X/B} (0, 8, 16 or 24). */
    static ModRm decode(InstructionBytes in, int rexR, int rexX, int rexB) {
        int m = in.next();
        int mod = m >>> 6;
        int reg = ((m >>> 3) & 7) | rexR;
        int rm = m & 7;
        if (mod == 3) {
            return new ModRm(mod, reg, rm | rexB, DecodedInsn.NONE, DecodedInsn.NONE, 0, 0);
        }
        int base, index = DecodedInsn.NONE, scale = 0;
        long disp = 0;
        if (rm == 4) {
            int sib = in.next();
            scale = sib >>> 6;
            int idx = ((sib >>> 3) & 7) | rexX;
            if ((sib & 7) == 5 && mod == 0) {
                base = DecodedInsn.NONE;
                disp = in.nextSigned(4);
            } else {
                base = (sib & 7) | rexB;
            }
            if (idx != 4) { // index 4 (RSP) means none; with REX2.X4 it is R20, a real index
                index = idx;
            }
        } else if (rm == 5 && mod == 0) {
            base = DecodedInsn.RIP;
            disp = in.nextSigned(4);
        } else {
            base = rm | rexB;
        }
        if (mod == 1) {
            disp += in.nextSigned(1);
        } else if (mod == 2) {
            disp += in.nextSigned(4);
        }
        return new ModRm(mod, reg, DecodedInsn.MEMORY, base, index, scale, disp);
    }

    /** Whether the operand is a register. */
    boolean isRegister() {
        return mod == 3;
    }
}

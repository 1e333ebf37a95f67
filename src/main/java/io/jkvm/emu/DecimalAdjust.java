package io.jkvm.emu;

/**
 * The BCD adjustments of 16- and 32-bit code (the SDM's pseudocode): DAA and DAS for packed BCD in AL, AAA and AAS
 * for unpacked BCD in AX, AAM and AAD with their base. SF, ZF and PF follow AL where the SDM defines them; the flags
 * it leaves undefined are set as they are after the same logic on the result (OF cleared).
 */
final class DecimalAdjust {
    private DecimalAdjust() {
    }

    static void execute(Core c, int b) {
        switch (b) {
            case 0x27 -> packed(c, false);
            case 0x2F -> packed(c, true);
            case 0x37 -> unpacked(c, false);
            case 0x3F -> unpacked(c, true);
            case 0xD4 -> aam(c, (int) c.insn.immediate());
            default -> aad(c, (int) c.insn.immediate());
        }
        c.done();
    }

    /** DAA (after an addition) and DAS (after a subtraction) of two packed BCD digits in AL. */
    private static void packed(Core c, boolean subtract) {
        long flags = c.rflags();
        int al = (int) c.r[0] & 0xFF;
        boolean cf = (flags & Core.CF) != 0, af = (flags & Core.AF) != 0;
        int result = al;
        boolean newCf = false, newAf = false;
        if ((al & 0xF) > 9 || af) {
            newCf = cf || (subtract ? al < 6 : al + 6 > 0xFF);
            result = subtract ? result - 6 : result + 6;
            newAf = true;
        }
        if (al > 0x99 || cf) {
            result = subtract ? result - 0x60 : result + 0x60;
            newCf = true;
        }
        result &= 0xFF;
        c.setReg(0, 1, result);
        c.setArith(Core.pfZfSf(result, 1) | (newCf ? Core.CF : 0) | (newAf ? Core.AF : 0));
    }

    /** AAA and AAS: AL's low digit adjusted, the carry into (or borrow from) AH; AL's high nibble cleared. */
    private static void unpacked(Core c, boolean subtract) {
        long flags = c.rflags();
        int ax = (int) c.r[0] & 0xFFFF;
        boolean adjust = (ax & 0xF) > 9 || (flags & Core.AF) != 0;
        if (adjust) {
            ax = subtract ? ax - 6 - 0x100 : ax + 0x106;
        }
        ax = ax & 0xFF0F;
        c.setReg(0, 2, ax);
        c.setArith(Core.pfZfSf(ax & 0xFF, 1) | (adjust ? Core.CF | Core.AF : 0));
    }

    /** AAM imm8: AH = AL / base, AL = AL mod base; a base of 0 is #DE. */
    private static void aam(Core c, int base) {
        if (base == 0) {
            throw GuestFault.of(GuestFault.DE);
        }
        int al = (int) c.r[0] & 0xFF;
        int result = al % base;
        c.setReg(0, 2, (al / base) << 8 | result);
        c.setArith(Core.pfZfSf(result, 1));
    }

    /** AAD imm8: AL = AL + AH × base, AH = 0. */
    private static void aad(Core c, int base) {
        int ax = (int) c.r[0] & 0xFFFF;
        int result = ((ax & 0xFF) + (ax >>> 8) * base) & 0xFF;
        c.setReg(0, 2, result);
        c.setArith(Core.pfZfSf(result, 1));
    }
}

package io.jkvm.emu;

import io.jkvm.emu.Float80.Env;
import io.jkvm.emu.Float80.Ext;

import java.math.BigInteger;

/**
 * FLD1, FLDL2T, FLDL2E, FLDPI, FLDLG2, FLDLN2 and FLDZ: each constant is held to 128 bits and rounded to the register
 * under FCW's rounding control (not its precision control), as the processor rounds its internal 66-bit-plus ones.
 */
final class X87Constants {
    private X87Constants() {
    }

    /** Significand (128 bits, leading bit set) and the exponent of its leading bit, by the opcode's low bits E8..EE. */
    private static final String[] SIGNIFICANDS = {
            "80000000000000000000000000000000",
            "D49A784BCD1B8AFE492BF6FF4DAFDB4C", // log2(10)
            "B8AA3B295C17F0BBBE87FED0691D3E89", // log2(e)
            "C90FDAA22168C234C4C6628B80DC1CD1", // pi
            "9A209A84FBCFF7988F8959AC0B7C9178", // log10(2)
            "B17217F7D1CF79ABC9E3B39803F2F6AF", // ln(2)
    };
    private static final int[] EXPONENTS = {0, 1, 0, 1, -2, -1};

    static Ext load(int index, int fcw) {
        if (index == 6) {
            return Float80.zero(false);
        }
        Env env = new Env(64, (fcw >>> 10) & 3, 0x3F);
        BigInteger significand = new BigInteger(SIGNIFICANDS[index], 16);
        return Float80.round(false, significand, false, EXPONENTS[index] - 127, env);
    }
}

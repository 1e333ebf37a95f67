package io.jkvm.testing;

/**
 * The arithmetic flags a shift or rotate defines for a given count, as the SDM gives them: what an oracle may compare
 * between the host CPU and the core (an undefined flag differs between CPUs, and the core need not match either).
 */
public final class DefinedFlags {
    public static final long CF = 1, PF = 4, AF = 0x10, ZF = 0x40, SF = 0x80, OF = 0x800, ALL = CF | PF | AF | ZF | SF | OF;

    private DefinedFlags() {
    }

    /** The count the CPU uses: 5 bits at 8, 16 and 32 bits, 6 bits at 64 (so an 8-bit shift may exceed its width). */
    public static int maskedCount(int size, long count) {
        return (int) (count & (size == 8 ? 63 : 31));
    }

    /**
     * Group 2 operation {@code op} (0-7: ROL ROR RCL RCR SHL SHR SAL SAR) on a {@code size}-byte operand by {@code count}
     * (before masking). A zero count changes no flag; otherwise OF only at count 1, AF never, rotates only CF (and OF),
     * and SHL/SHR at or past the operand's width (SAR past it) leave CF undefined.
     */
    public static long shift(int op, int size, long count) {
        int masked = maskedCount(size, count);
        if (masked == 0) {
            return ALL;
        }
        long defined = op < 4 ? CF : ALL & ~AF & ~OF;
        if (masked == 1) {
            defined |= OF;
        }
        if (op >= 4 && op < 7 ? masked >= 8 * size : op == 7 && masked > 8 * size) {
            defined &= ~CF; // SDM: SHL/SHR leave CF undefined at a count >= the width (SAR's is its sign)
        }
        return defined;
    }

    /** SHLD/SHRD on a {@code size}-byte operand by {@code count}: as a shift, but a count past the width leaves every flag (and the result) undefined. */
    public static long doubleShift(int size, long count) {
        int masked = maskedCount(size, count);
        if (masked == 0) {
            return ALL;
        }
        if (masked > 8 * size) {
            return 0;
        }
        return masked == 1 ? ALL & ~AF : ALL & ~AF & ~OF;
    }
}

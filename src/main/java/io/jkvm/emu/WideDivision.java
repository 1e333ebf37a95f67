package io.jkvm.emu;

/**
 * The 64-bit DIV and IDIV: RDX:RAX divided by a 64-bit divisor in long arithmetic, by Knuth's algorithm D on 32-bit
 * digits (Hacker's Delight's divlu). An operating system divides 64-bit values often (time, printk's numbers).
 */
final class WideDivision {
    private WideDivision() {
    }

    /** A quotient and its remainder. */
    record Result(long quotient, long remainder) {
    }

    private static final long DIGIT = 1L << 32;

    /** {@code hi:lo} divided by {@code divisor} (not 0), unsigned; null when the quotient needs more than 64 bits (#DE). */
    static Result unsigned(long hi, long lo, long divisor) {
        if (hi == 0) {
            return new Result(Long.divideUnsigned(lo, divisor), Long.remainderUnsigned(lo, divisor));
        }
        if (Long.compareUnsigned(hi, divisor) >= 0) {
            return null;
        }
        return divide(hi, lo, divisor);
    }

    /**
     * {@code hi:lo} divided by {@code divisor} (not 0), both two's complement: the quotient rounded toward zero, the
     * remainder with the dividend's sign; null when the quotient is outside the signed 64-bit range (#DE).
     */
    static Result signed(long hi, long lo, long divisor) {
        boolean negativeDividend = hi < 0, negativeDivisor = divisor < 0;
        long magnitudeHi = hi, magnitudeLo = lo;
        if (negativeDividend) { // the 128-bit negation: the high word takes the carry out of the low one
            magnitudeLo = -lo;
            magnitudeHi = ~hi + (lo == 0 ? 1 : 0);
        }
        long magnitude = negativeDivisor ? -divisor : divisor; // Long.MIN_VALUE stays, read as 2^63 unsigned
        Result r = unsigned(magnitudeHi, magnitudeLo, magnitude);
        if (r == null) {
            return null;
        }
        long q = r.quotient();
        if (negativeDividend != negativeDivisor) {
            if (Long.compareUnsigned(q, Long.MIN_VALUE) > 0) {
                return null; // below -2^63
            }
            q = -q;
        } else if (q < 0) {
            return null; // 2^63 or more
        }
        return new Result(q, negativeDividend ? -r.remainder() : r.remainder());
    }

    /** {@code u1:u0} divided by {@code v}, unsigned, with {@code u1 < v}: the quotient fits in 64 bits. */
    private static Result divide(long u1, long u0, long v) {
        int s = Long.numberOfLeadingZeros(v);
        v <<= s; // normalized: its top bit set, so each estimated digit is at most 2 too large
        long vn1 = v >>> 32, vn0 = v & 0xFFFFFFFFL;
        long un32 = s == 0 ? u1 : (u1 << s) | (u0 >>> (64 - s));
        long un10 = u0 << s;
        long un1 = un10 >>> 32, un0 = un10 & 0xFFFFFFFFL;

        long q1 = Long.divideUnsigned(un32, vn1);
        long rhat = un32 - q1 * vn1;
        while (Long.compareUnsigned(q1, DIGIT) >= 0 || Long.compareUnsigned(q1 * vn0, (rhat << 32) + un1) > 0) {
            q1--;
            rhat += vn1;
            if (Long.compareUnsigned(rhat, DIGIT) >= 0) {
                break;
            }
        }
        long un21 = (un32 << 32) + un1 - q1 * v; // exact: it is below v

        long q0 = Long.divideUnsigned(un21, vn1);
        rhat = un21 - q0 * vn1;
        while (Long.compareUnsigned(q0, DIGIT) >= 0 || Long.compareUnsigned(q0 * vn0, (rhat << 32) + un0) > 0) {
            q0--;
            rhat += vn1;
            if (Long.compareUnsigned(rhat, DIGIT) >= 0) {
                break;
            }
        }
        long remainder = ((un21 << 32) + un0 - q0 * v) >>> s;
        return new Result((q1 << 32) + q0, remainder);
    }
}

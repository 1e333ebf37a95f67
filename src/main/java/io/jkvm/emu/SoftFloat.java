package io.jkvm.emu;

import java.math.BigInteger;

/**
 * IEEE 754 binary32/binary64 arithmetic with the SSE rules: the four rounding modes of MXCSR.RC, the exception
 * flags (IE, DE, ZE, OE, UE, PE), DAZ and FTZ, and x86's NaN choices (first SNaN/QNaN operand, quieted; the
 * negative "QNaN floating-point indefinite" for invalid operations). Exact results are computed with integers and
 * rounded once, so every mode and flag is exact.
 */
final class SoftFloat {
    private SoftFloat() {
    }

    static final int IE = 1, DE = 2, ZE = 4, OE = 8, UE = 16, PE = 32;

    /** A format: precision (with the hidden bit), minimum and maximum normal exponent. */
    record Format(int precision, int emin, int emax, int exponentBits) {
        int bias() {
            return emax;
        }

        int totalBits() {
            return precision + exponentBits;
        }

        long signBit() {
            return 1L << (totalBits() - 1);
        }

        long fractionMask() {
            return (1L << (precision - 1)) - 1;
        }

        long exponentMask() {
            return ((1L << exponentBits) - 1) << (precision - 1);
        }

        /** The default NaN of invalid operations: sign set, quiet bit set. */
        long indefinite() {
            return signBit() | exponentMask() | (1L << (precision - 2));
        }

        long quietBit() {
            return 1L << (precision - 2);
        }
    }

    static final Format SINGLE = new Format(24, -126, 127, 8);
    static final Format DOUBLE = new Format(53, -1022, 1023, 11);

    /** Result bits and the exception flags raised. */
    record Result(long bits, int flags) {
    }

    /** The MXCSR controls an operation runs under. */
    record Mode(int rounding, boolean daz, boolean ftz) {
        static Mode of(int mxcsr) {
            return new Mode((mxcsr >>> 13) & 3, (mxcsr & 0x40) != 0, (mxcsr & 0x8000) != 0);
        }
    }

    static final int NEAREST = 0, DOWN = 1, UP = 2, TOWARD_ZERO = 3;

    // ---- classification ------------------------------------------------------------------------------------

    static boolean isNaN(long v, Format f) {
        return (v & f.exponentMask()) == f.exponentMask() && (v & f.fractionMask()) != 0;
    }

    static boolean isSNaN(long v, Format f) {
        return isNaN(v, f) && (v & f.quietBit()) == 0;
    }

    static boolean isInf(long v, Format f) {
        return (v & f.exponentMask()) == f.exponentMask() && (v & f.fractionMask()) == 0;
    }

    static boolean isZero(long v, Format f) {
        return (v & ~f.signBit() & mask(f)) == 0;
    }

    static boolean isDenormal(long v, Format f) {
        return (v & f.exponentMask()) == 0 && (v & f.fractionMask()) != 0;
    }

    static boolean negative(long v, Format f) {
        return (v & f.signBit()) != 0;
    }

    private static long mask(Format f) {
        return f.totalBits() == 64 ? -1L : (1L << f.totalBits()) - 1;
    }

    /** DAZ: denormal inputs read as zero of the same sign. */
    static long input(long v, Format f, Mode m, int[] flags) {
        v &= mask(f);
        if (isDenormal(v, f)) {
            if (m.daz()) {
                return v & f.signBit();
            }
            flags[0] |= DE;
        }
        return v;
    }

    /** A finite value as signed integer mantissa and binary exponent: value = mantissa * 2^exponent. */
    private record Exact(BigInteger mantissa, int exponent) {
    }

    private static Exact exact(long v, Format f) {
        long exp = (v & f.exponentMask()) >>> (f.precision() - 1);
        long frac = v & f.fractionMask();
        long m;
        int e;
        if (exp == 0) {
            m = frac;
            e = f.emin() - (f.precision() - 1);
        } else {
            m = frac | (1L << (f.precision() - 1));
            e = (int) exp - f.bias() - (f.precision() - 1);
        }
        BigInteger big = BigInteger.valueOf(m);
        return new Exact(negative(v, f) ? big.negate() : big, e);
    }

    /** The NaN an operation with NaN operands returns (x86: the first SNaN or QNaN, quieted), and IE if any is signaling. */
    private static Result propagate(long a, long b, Format f, boolean twoOperands) {
        int flags = (isSNaN(a, f) || (twoOperands && isSNaN(b, f))) ? IE : 0;
        long pick = isNaN(a, f) ? a : b;
        return new Result(pick | f.quietBit(), flags);
    }

    // ---- rounding ----------------------------------------------------------------------------------------------

    /**
     * Rounds num/den * 2^exp2 (num may be negative, den > 0) to format {@code f} under the mode, with PE/OE/UE.
     * Underflow on x86 SSE: tininess is detected after rounding; masked, UE is raised only when also inexact.
     */
    static Result round(BigInteger num, BigInteger den, int exp2, Format f, Mode mode, boolean negativeZero) {
        if (num.signum() == 0) {
            return new Result(negativeZero ? f.signBit() : 0, 0);
        }
        boolean neg = num.signum() < 0;
        BigInteger n = num.abs();
        int p = f.precision();
        int shift = p + 3 - (n.bitLength() - den.bitLength());
        BigInteger q;
        BigInteger rem;
        if (shift >= 0) {
            BigInteger[] qr = n.shiftLeft(shift).divideAndRemainder(den);
            q = qr[0];
            rem = qr[1];
        } else {
            BigInteger[] qr = n.divideAndRemainder(den.shiftLeft(-shift));
            q = qr[0];
            rem = qr[1];
        }
        boolean sticky = rem.signum() != 0;
        int e = exp2 - shift; // value = (q + sticky) * 2^e
        int top = q.bitLength() - 1 + e; // exponent of the leading bit
        int keep = top >= f.emin() ? p : p - (f.emin() - top);
        int drop = q.bitLength() - keep;
        BigInteger mant;
        boolean inexact;
        boolean roundUp;
        if (drop > 0) {
            mant = q.shiftRight(drop);
            BigInteger dropped = q.subtract(mant.shiftLeft(drop));
            BigInteger half = BigInteger.ONE.shiftLeft(drop - 1);
            int cmp = dropped.compareTo(half);
            inexact = dropped.signum() != 0 || sticky;
            roundUp = switch (mode.rounding()) {
                case NEAREST -> cmp > 0 || (cmp == 0 && (sticky || mant.testBit(0)));
                case UP -> inexact && !neg;
                case DOWN -> inexact && neg;
                default -> false;
            };
        } else {
            mant = q.shiftLeft(-drop);
            inexact = sticky;
            roundUp = inexact && ((mode.rounding() == UP && !neg) || (mode.rounding() == DOWN && neg));
            // with drop <= 0 the value has fewer than keep bits before the sticky part: a NEAREST tie cannot occur
        }
        if (roundUp) {
            mant = mant.add(BigInteger.ONE);
        }
        // value = mant * 2^(e + drop); rounding may carry a subnormal into the normals, or a normal into the next binade
        int resultExponent = mant.bitLength() - 1 + e + drop;
        int flags = inexact ? PE : 0;
        boolean tinyAfter = resultExponent < f.emin();
        if (resultExponent > f.emax()) {
            flags |= OE | PE;
            boolean toInf = switch (mode.rounding()) {
                case NEAREST -> true;
                case UP -> !neg;
                case DOWN -> neg;
                default -> false;
            };
            long bits = toInf ? f.exponentMask() : (f.exponentMask() - (1L << (p - 1))) | f.fractionMask();
            return new Result((neg ? f.signBit() : 0) | bits, flags);
        }
        if (tinyAfter && inexact) {
            flags |= UE;
        }
        if (tinyAfter && mode.ftz()) {
            return new Result(neg ? f.signBit() : 0, flags | UE | PE); // flush to zero: exact or not, a tiny result is 0
        }
        long m = mant.longValue();
        long bits;
        if (resultExponent < f.emin() || m < (1L << (p - 1))) {
            bits = m; // subnormal (or zero): exponent field 0
        } else {
            bits = ((long) (resultExponent + f.bias()) << (p - 1)) | (m & f.fractionMask());
        }
        return new Result((neg ? f.signBit() : 0) | bits, flags);
    }

    // ---- operations --------------------------------------------------------------------------------------------

    static final int ADD = 0, SUB = 1, MUL = 2, DIV = 3;

    static Result arithmetic(int op, long a, long b, Format f, Mode mode) {
        int[] fl = {0};
        a = input(a, f, mode, fl);
        b = input(b, f, mode, fl);
        if (isNaN(a, f) || isNaN(b, f)) {
            Result r = propagate(a, b, f, true);
            return new Result(r.bits(), r.flags()); // a NaN operand takes precedence over a denormal one: no DE
        }
        boolean an = negative(a, f), bn = negative(b, f);
        boolean bEffNeg = op == SUB ? !bn : bn;
        switch (op) {
            case ADD, SUB -> {
                if (isInf(a, f) && isInf(b, f)) {
                    return an != bEffNeg ? new Result(f.indefinite(), IE) : new Result(a, fl[0]);
                }
                if (isInf(a, f)) {
                    return new Result(a, fl[0]);
                }
                if (isInf(b, f)) {
                    return new Result(bEffNeg ? f.signBit() | f.exponentMask() : f.exponentMask(), fl[0]);
                }
                Exact x = exact(a, f), y = exact(b, f);
                BigInteger ym = op == SUB ? y.mantissa().negate() : y.mantissa();
                int e = Math.min(x.exponent(), y.exponent());
                BigInteger sum = x.mantissa().shiftLeft(x.exponent() - e).add(ym.shiftLeft(y.exponent() - e));
                // An exact zero sum is +0, but -0 when rounding down, and a zero of the operands' sign when they agree.
                boolean negZero = isZero(a, f) && isZero(b, f) && an == bEffNeg ? an : mode.rounding() == DOWN;
                Result r = round(sum, BigInteger.ONE, e, f, mode, negZero);
                return new Result(r.bits(), r.flags() | fl[0]);
            }
            case MUL -> {
                boolean neg = an != bn;
                if ((isInf(a, f) && isZero(b, f)) || (isZero(a, f) && isInf(b, f))) {
                    return new Result(f.indefinite(), IE);
                }
                if (isInf(a, f) || isInf(b, f)) {
                    return new Result((neg ? f.signBit() : 0) | f.exponentMask(), fl[0]);
                }
                Exact x = exact(a, f), y = exact(b, f);
                Result r = round(x.mantissa().multiply(y.mantissa()), BigInteger.ONE, x.exponent() + y.exponent(), f, mode, neg);
                return new Result(r.bits(), r.flags() | fl[0]);
            }
            default -> { // DIV
                boolean neg = an != bn;
                if ((isInf(a, f) && isInf(b, f)) || (isZero(a, f) && isZero(b, f))) {
                    return new Result(f.indefinite(), IE);
                }
                if (isInf(a, f)) {
                    return new Result((neg ? f.signBit() : 0) | f.exponentMask(), fl[0]);
                }
                if (isInf(b, f)) {
                    return new Result(neg ? f.signBit() : 0, fl[0]);
                }
                if (isZero(b, f)) {
                    return new Result((neg ? f.signBit() : 0) | f.exponentMask(), ZE); // measured: ZE without DE
                }
                Exact x = exact(a, f), y = exact(b, f);
                BigInteger num = x.mantissa().abs();
                BigInteger den = y.mantissa().abs();
                Result r = round(neg ? num.negate() : num, den, x.exponent() - y.exponent(), f, mode, neg);
                return new Result(r.bits(), r.flags() | fl[0]);
            }
        }
    }

    static Result sqrt(long a, Format f, Mode mode) {
        int[] fl = {0};
        a = input(a, f, mode, fl);
        if (isNaN(a, f)) {
            return propagate(a, a, f, false);
        }
        if (isZero(a, f)) {
            return new Result(a, fl[0]);
        }
        if (negative(a, f)) {
            return new Result(f.indefinite(), IE);
        }
        if (isInf(a, f)) {
            return new Result(a, fl[0]);
        }
        Exact x = exact(a, f);
        BigInteger m = x.mantissa();
        int e = x.exponent();
        if ((e & 1) != 0) {
            m = m.shiftLeft(1);
            e--;
        }
        int extra = 2 * (f.precision() + 4);
        BigInteger scaled = m.shiftLeft(extra);
        BigInteger root = scaled.sqrt();
        boolean exactRoot = root.multiply(root).equals(scaled);
        // root * 2^((e - extra) / 2), with a sticky bit when the root is not exact
        BigInteger num = root.shiftLeft(1).add(exactRoot ? BigInteger.ZERO : BigInteger.ONE);
        Result r = round(num, BigInteger.ONE, (e - extra) / 2 - 1, f, mode, false);
        return new Result(r.bits(), r.flags() | fl[0]);
    }

    /** An integer (as an exact value) rounded to the format: CVTSI2SS/SD, CVTDQ2PS/PD. */
    /**
     * ROUNDSS/SD/PS/PD: {@code v} rounded to an integral value in its own format by {@code rounding}. DAZ applies but
     * no DE is raised; an SNaN is quieted with IE; an inexact result raises PE unless {@code suppressPrecision}; a
     * value rounding to zero keeps its sign.
     */
    static Result roundToIntegral(long v, Format f, Mode mode, int rounding, boolean suppressPrecision) {
        v = input(v, f, mode, new int[1]);
        if (isNaN(v, f)) {
            return new Result(v | f.quietBit(), isSNaN(v, f) ? IE : 0);
        }
        if (isInf(v, f) || isZero(v, f)) {
            return new Result(v, 0);
        }
        Exact x = exact(v, f);
        if (x.exponent() >= 0) {
            return new Result(v, 0); // already integral
        }
        BigInteger abs = x.mantissa().abs();
        int shift = -x.exponent();
        boolean neg = negative(v, f);
        BigInteger whole = roundedMagnitude(abs, shift, neg, rounding);
        boolean inexact = !whole.shiftLeft(shift).equals(abs);
        long bits = whole.signum() == 0 ? 0 : fromInteger(whole.longValueExact(), f, mode).bits(); // exact: fewer bits than the precision
        return new Result(bits | (neg ? f.signBit() : 0), inexact && !suppressPrecision ? PE : 0);
    }

    /** {@code abs / 2^shift} (shift > 0) rounded to an integer by {@code rounding}, for a value of sign {@code negative}. */
    private static BigInteger roundedMagnitude(BigInteger abs, int shift, boolean negative, int rounding) {
        BigInteger whole = abs.shiftRight(shift);
        BigInteger frac = abs.subtract(whole.shiftLeft(shift));
        BigInteger half = BigInteger.ONE.shiftLeft(shift - 1);
        boolean inexact = frac.signum() != 0;
        boolean up = switch (rounding) {
            case NEAREST -> frac.compareTo(half) > 0 || (frac.compareTo(half) == 0 && whole.testBit(0));
            case UP -> inexact && !negative;
            case DOWN -> inexact && negative;
            default -> false;
        };
        return up ? whole.add(BigInteger.ONE) : whole;
    }

    static Result fromInteger(long v, Format f, Mode mode) {
        return round(BigInteger.valueOf(v), BigInteger.ONE, 0, f, mode, false);
    }

    /**
     * To a signed integer of {@code bits}: truncated (CVTT*) or rounded by MXCSR; NaN or out of range gives the
     * "integer indefinite" (only the sign bit) with IE; a dropped fraction raises PE.
     */
    static Result toInteger(long v, Format f, Mode mode, int bits, boolean truncate) {
        int[] fl = {0};
        v = input(v, f, mode, fl);
        long indefinite = 1L << (bits - 1);
        if (isNaN(v, f) || isInf(v, f)) {
            return new Result(indefinite, IE);
        }
        Exact x = exact(v, f);
        BigInteger m = x.mantissa();
        int e = x.exponent();
        BigInteger q;
        boolean inexact;
        if (e >= 0) {
            q = m.shiftLeft(e);
            inexact = false;
        } else {
            BigInteger abs = m.abs();
            boolean neg = m.signum() < 0;
            BigInteger whole = roundedMagnitude(abs, -e, neg, truncate ? TOWARD_ZERO : mode.rounding());
            inexact = !whole.shiftLeft(-e).equals(abs); // rounded either way, a fraction was dropped
            q = neg ? whole.negate() : whole;
        }
        if (q.bitLength() > bits - 1) {
            return new Result(indefinite, IE);
        }
        return new Result(q.longValue() & (bits == 64 ? -1L : (1L << bits) - 1), inexact ? PE : 0); // no DE for float-to-integer
    }

    /** Between formats (CVTSS2SD exact, CVTSD2SS rounded); NaNs are quieted and keep their leading payload bits. */
    static Result convert(long v, Format from, Format to, Mode mode) {
        int[] fl = {0};
        v = input(v, from, mode, fl);
        boolean neg = negative(v, from);
        long sign = neg ? to.signBit() : 0;
        if (isNaN(v, from)) {
            long fraction = from.precision() > to.precision()
                    ? (v & from.fractionMask()) >>> (from.precision() - to.precision())
                    : (v & from.fractionMask()) << (to.precision() - from.precision());
            return new Result(sign | to.exponentMask() | fraction | to.quietBit(), isSNaN(v, from) ? IE : 0);
        }
        if (isInf(v, from)) {
            return new Result(sign | to.exponentMask(), fl[0]);
        }
        if (isZero(v, from)) {
            return new Result(sign, fl[0]);
        }
        Exact x = exact(v, from);
        Result r = round(x.mantissa(), BigInteger.ONE, x.exponent(), to, mode, neg);
        return new Result(r.bits(), r.flags() | fl[0]);
    }

    /** CMPPS/CMPSS predicates 0-7: EQ, LT, LE, UNORD, NEQ, NLT, NLE, ORD; LT/LE/NLT/NLE signal IE on any NaN. */
    static Result comparePredicate(int predicate, long a, long b, Format f, Mode mode) {
        int[] fl = {0};
        a = input(a, f, mode, fl);
        b = input(b, f, mode, fl);
        boolean unordered = isNaN(a, f) || isNaN(b, f);
        int flags = fl[0];
        if (unordered) {
            boolean signaling = predicate == 1 || predicate == 2 || predicate == 5 || predicate == 6;
            flags = (signaling || isSNaN(a, f) || isSNaN(b, f)) ? IE : 0;
        }
        int c = unordered ? 0 : compare(a, b, f);
        boolean r = switch (predicate & 7) {
            case 0 -> !unordered && c == 0;
            case 1 -> !unordered && c < 0;
            case 2 -> !unordered && c <= 0;
            case 3 -> unordered;
            case 4 -> unordered || c != 0;
            case 5 -> unordered || c >= 0;
            case 6 -> unordered || c > 0;
            default -> !unordered;
        };
        return new Result(r ? mask(f) : 0, flags);
    }

    /** MINSS/MAXSS rules: a NaN in either (or both zero) gives the second operand; IE for any NaN. */
    static Result minMax(boolean max, long a, long b, Format f, Mode mode) {
        int[] fl = {0};
        long ai = input(a, f, mode, fl), bi = input(b, f, mode, fl);
        if (isNaN(ai, f) || isNaN(bi, f)) {
            return new Result(bi, IE);
        }
        int c = compare(ai, bi, f);
        boolean pickA = max ? c > 0 : c < 0;
        return new Result(pickA ? ai : bi, fl[0]); // the operand as DAZ read it
    }

    /** -1, 0, 1 for ordered values (−0 equals +0); call only without NaNs. */
    static int compare(long a, long b, Format f) {
        if (isZero(a, f) && isZero(b, f)) {
            return 0;
        }
        boolean an = negative(a, f), bn = negative(b, f);
        long am = a & ~f.signBit() & mask(f), bm = b & ~f.signBit() & mask(f);
        if (an != bn) {
            return an ? -1 : 1;
        }
        int mag = Long.compare(am, bm);
        return an ? -mag : mag;
    }
}

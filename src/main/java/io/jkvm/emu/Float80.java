package io.jkvm.emu;

import java.math.BigInteger;

/**
 * x87 double extended-precision arithmetic, exact: every result is computed with integers and rounded once, under
 * FCW's precision and rounding control, with the x87 exception flags, C1 (the result was rounded up in magnitude),
 * tininess detected after rounding, and the masked and unmasked overflow and underflow responses (an unmasked one
 * leaves the result with its exponent adjusted by 24576, as the SDM gives for register destinations).
 */
final class Float80 {
    private Float80() {
    }

    static final int IE = 1, DE = 2, ZE = 4, OE = 8, UE = 16, PE = 32;
    static final int EMIN = -16382, EMAX = 16383, BIAS = 16383, WRAP = 24576;
    static final int NEAREST = 0, DOWN = 1, UP = 2, CHOP = 3;
    private static final long J = Long.MIN_VALUE; // the explicit integer bit

    /** A register's 80 bits: sign and 15-bit biased exponent, and the 64-bit significand with its explicit integer bit. */
    record Ext(int signExp, long significand) {
        boolean negative() {
            return (signExp & 0x8000) != 0;
        }

        int exponent() {
            return signExp & 0x7FFF;
        }

        boolean isZero() {
            return exponent() == 0 && significand == 0;
        }

        /** Denormals and pseudo-denormals (exponent 0, integer bit set). */
        boolean isDenormal() {
            return exponent() == 0 && significand != 0;
        }

        /** Exponent nonzero with the integer bit clear: unnormals, pseudo-NaNs and pseudo-infinities, invalid since the 387. */
        boolean isUnsupported() {
            return exponent() != 0 && significand >= 0;
        }

        boolean isInf() {
            return exponent() == 0x7FFF && significand == J;
        }

        boolean isNaN() {
            return exponent() == 0x7FFF && significand < 0 && significand != J;
        }

        boolean isSNaN() {
            return isNaN() && (significand & (1L << 62)) == 0;
        }

        boolean isFinite() {
            return exponent() != 0x7FFF && !isUnsupported();
        }

        Ext negate() {
            return new Ext(signExp ^ 0x8000, significand);
        }

        Ext withSign(boolean negative) {
            return new Ext(negative ? signExp | 0x8000 : signExp & 0x7FFF, significand);
        }

        Ext quiet() {
            return new Ext(signExp, significand | 1L << 62);
        }

        /** The magnitude's significand as an unsigned integer. */
        BigInteger magnitude() {
            return unsigned(significand);
        }

        /** The power of two the significand's last bit weighs (pseudo-denormals as exponent 1, as the hardware reads them). */
        int lsbExponent() {
            int e = exponent();
            return (e == 0 ? 1 : e) - BIAS - 63;
        }

        /** The exponent of the leading set bit: floor(log2 |x|) of a finite nonzero value. */
        int topExponent() {
            return 63 - Long.numberOfLeadingZeros(significand) + lsbExponent();
        }
    }

    static final Ext INDEFINITE = new Ext(0xFFFF, 0xC000_0000_0000_0000L);
    static final Ext ONE = new Ext(BIAS, J);

    static Ext zero(boolean negative) {
        return new Ext(negative ? 0x8000 : 0, 0);
    }

    static Ext infinity(boolean negative) {
        return new Ext(negative ? 0xFFFF : 0x7FFF, J);
    }

    static BigInteger unsigned(long v) {
        BigInteger b = BigInteger.valueOf(v & Long.MAX_VALUE);
        return v < 0 ? b.setBit(63) : b;
    }

    /** What one operation runs under, and what it raised: FCW's precision, rounding and masks; the flags; C1. */
    static final class Env {
        final int precision;
        final int rounding;
        final int masks;
        int flags;
        boolean roundedUp;
        /** A binary32/binary64 memory operand was denormal: DE, once no invalid operand or zero divide outranks it. */
        boolean denormalOperand;

        Env(int precision, int rounding, int masks) {
            this.precision = precision;
            this.rounding = rounding;
            this.masks = masks;
        }

        /** FCW's controls: PC 00 single, 10 double, 11 (and the reserved 01) extended. */
        static Env of(int fcw) {
            int pc = (fcw >>> 8) & 3;
            return new Env(pc == 0 ? 24 : pc == 2 ? 53 : 64, (fcw >>> 10) & 3, fcw & 0x3F);
        }

        /** The same controls at full precision: what PC does not govern (FSCALE, FPREM, loads and conversions). */
        Env extended() {
            return new Env(64, rounding, masks);
        }

        boolean masked(int flag) {
            return (masks & flag) != 0;
        }

        /** An unmasked invalid-operation, denormal or zero-divide exception: the instruction stores nothing. */
        boolean stopped() {
            return (flags & (IE | DE | ZE) & ~masks) != 0;
        }
    }

    // ---- rounding ----------------------------------------------------------------------------------------------

    private record Bits(BigInteger value, boolean inexact, boolean up) {
    }

    /** mag (with sticky bits below it) shifted right by drop > 0 and rounded. */
    private static Bits roundBits(BigInteger mag, boolean sticky, int drop, boolean negative, int rounding) {
        if (drop <= 0) {
            return new Bits(mag.shiftLeft(-drop), false, false);
        }
        BigInteger kept = mag.shiftRight(drop);
        BigInteger rest = mag.subtract(kept.shiftLeft(drop));
        boolean inexact = rest.signum() != 0 || sticky;
        int half = rest.compareTo(BigInteger.ONE.shiftLeft(drop - 1));
        if (half == 0 && sticky) {
            half = 1;
        }
        boolean up = switch (rounding) {
            case NEAREST -> half > 0 || (half == 0 && kept.testBit(0));
            case DOWN -> inexact && negative;
            case UP -> inexact && !negative;
            default -> false;
        };
        return new Bits(up ? kept.add(BigInteger.ONE) : kept, inexact, up);
    }

    /** A rounded magnitude: sig · 2^lsb, or infinity. */
    private record Rounded(boolean negative, BigInteger sig, int lsb, boolean infinite) {
    }

    /**
     * Rounds ±(mag + sticky) · 2^exp2 to p significant bits with exponents emin..emax. With sticky set, mag must have
     * at least p + 2 bits. {@code wrap}: the destination is a register, so unmasked OE and UE return the exactly rounded
     * value with its exponent moved by 24576; otherwise they only raise their flag (the caller stores nothing).
     */
    private static Rounded round(boolean negative, BigInteger mag, boolean sticky, int exp2, int p, int emin, int emax,
                                 Env env, boolean wrap) {
        int drop = mag.bitLength() - p;
        Bits u = roundBits(mag, sticky, drop, negative, env.rounding);
        int lsb = exp2 + drop;
        int top = u.value().bitLength() - 1 + lsb;
        if (top > emax) {
            if (!env.masked(OE) && (!wrap || top - WRAP <= emax)) {
                env.flags |= OE | (u.inexact() ? PE : 0);
                env.roundedUp = u.up();
                return new Rounded(negative, u.value(), lsb - WRAP, false);
            }
            if (!env.masked(OE)) { // beyond even the adjusted range: infinity
                env.flags |= OE | PE;
                env.roundedUp = true;
                return new Rounded(negative, BigInteger.ZERO, 0, true);
            }
            env.flags |= OE | PE;
            boolean toInfinity = switch (env.rounding) {
                case NEAREST -> true;
                case DOWN -> negative;
                case UP -> !negative;
                default -> false;
            };
            env.roundedUp = toInfinity;
            if (toInfinity) {
                return new Rounded(negative, BigInteger.ZERO, 0, true);
            }
            return new Rounded(negative, BigInteger.ONE.shiftLeft(p).subtract(BigInteger.ONE), emax - p + 1, false);
        }
        if (top >= emin) {
            env.flags |= u.inexact() ? PE : 0;
            env.roundedUp = u.up();
            return new Rounded(negative, u.value(), lsb, false);
        }
        if (!env.masked(UE)) {
            env.flags |= UE | (u.inexact() ? PE : 0);
            env.roundedUp = u.up();
            if (wrap) {
                if (top + WRAP >= emin) {
                    return new Rounded(negative, u.value(), lsb + WRAP, false);
                }
                env.flags |= PE; // beyond even the adjusted range: a signed zero
                env.roundedUp = false;
                return new Rounded(negative, BigInteger.ZERO, 0, false);
            }
        }
        int denormalLsb = emin - p + 1;
        Bits d = roundBits(mag, sticky, denormalLsb - exp2, negative, env.rounding);
        if (d.inexact()) {
            env.flags |= (env.masked(UE) ? UE : 0) | PE;
        }
        env.roundedUp = d.up();
        return new Rounded(negative, d.value(), denormalLsb, false);
    }

    private static Ext encode(Rounded r) {
        if (r.infinite()) {
            return infinity(r.negative());
        }
        return exact(r.negative(), r.sig(), r.lsb());
    }

    /** ±mag · 2^exp2 as a register value; mag must fit 64 bits once normalized (or be a denormal's bits). */
    static Ext exact(boolean negative, BigInteger mag, int exp2) {
        if (mag.signum() == 0) {
            return zero(negative);
        }
        int top = mag.bitLength() - 1 + exp2;
        int sign = negative ? 0x8000 : 0;
        if (top >= EMIN) {
            return new Ext(sign | (top + BIAS), mag.shiftLeft(63 - (mag.bitLength() - 1)).longValue());
        }
        return new Ext(sign, mag.shiftLeft(exp2 - (EMIN - 63)).longValue());
    }

    /**
     * An exact result (no rounding needed) as a register value: a tiny one raises UE and comes back with its exponent
     * adjusted by 24576 when underflow is unmasked (the SDM's response to any tiny result), else it is a denormal.
     */
    static Ext exactResult(boolean negative, BigInteger mag, int exp2, Env env) {
        if (mag.signum() != 0 && mag.bitLength() - 1 + exp2 < EMIN && !env.masked(UE)) {
            env.flags |= UE;
            return exact(negative, mag, exp2 + WRAP);
        }
        return exact(negative, mag, exp2);
    }

    /** Rounds ±(mag + sticky) · 2^exp2 to a register under the environment's precision control. */
    static Ext round(boolean negative, BigInteger mag, boolean sticky, int exp2, Env env) {
        return encode(round(negative, mag, sticky, exp2, env.precision, EMIN, EMAX, env, true));
    }

    // ---- operands ----------------------------------------------------------------------------------------------

    /**
     * The x87 choice between two NaN operands: a QNaN over an SNaN, else the larger significand (the positive one on
     * a tie), quieted; IE when either is signaling.
     */
    static Ext propagate(Ext a, Ext b, Env env) {
        if (a.isSNaN() || b.isSNaN()) {
            env.flags |= IE;
        }
        if (!a.isNaN()) {
            return b.quiet();
        }
        if (!b.isNaN()) {
            return a.quiet();
        }
        if (a.isSNaN() != b.isSNaN()) {
            return (a.isSNaN() ? b : a).quiet();
        }
        long sa = a.significand() & ~(1L << 62), sb = b.significand() & ~(1L << 62);
        int cmp = Long.compareUnsigned(sa, sb);
        if (cmp != 0) {
            return (cmp > 0 ? a : b).quiet();
        }
        return (a.negative() && !b.negative() ? b : a).quiet();
    }

    /** The checks of a two-operand operation: a NaN or indefinite result, or null to go on (DE raised for denormals). */
    private static Ext operands(Ext a, Ext b, Env env) {
        Ext special = invalidOperands(a, b, env);
        if (special == null) {
            denormals(a, b, env);
        }
        return special;
    }

    /** Unsupported encodings (IE, the indefinite) and NaNs (propagated); null when neither. */
    static Ext invalidOperands(Ext a, Ext b, Env env) {
        if (a.isUnsupported() || b.isUnsupported()) {
            env.flags |= IE;
            return INDEFINITE;
        }
        if (a.isNaN() || b.isNaN()) {
            return propagate(a, b, env);
        }
        return null;
    }

    /** DE for a denormal operand; true when it is unmasked and stops the instruction. */
    static boolean denormals(Ext a, Ext b, Env env) {
        if (a.isDenormal() || b.isDenormal() || env.denormalOperand) {
            env.flags |= DE;
        }
        return env.stopped();
    }

    private static Ext invalid(Env env) {
        env.flags |= IE;
        return INDEFINITE;
    }

    // ---- arithmetic --------------------------------------------------------------------------------------------

    static Ext add(Ext a, Ext b, boolean subtract, Env env) {
        Ext special = operands(a, b, env);
        if (special != null || env.stopped()) {
            return special;
        }
        if (subtract) {
            b = b.negate();
        }
        if (a.isInf() || b.isInf()) {
            if (a.isInf() && b.isInf() && a.negative() != b.negative()) {
                return invalid(env);
            }
            return a.isInf() ? a : b;
        }
        int lsb = Math.min(a.lsbExponent(), b.lsbExponent());
        BigInteger x = a.magnitude().shiftLeft(a.lsbExponent() - lsb), y = b.magnitude().shiftLeft(b.lsbExponent() - lsb);
        BigInteger sum = (a.negative() ? x.negate() : x).add(b.negative() ? y.negate() : y);
        if (sum.signum() == 0) {
            boolean negative = a.isZero() && b.isZero() && a.negative() == b.negative() ? a.negative() : env.rounding == DOWN;
            return zero(negative);
        }
        return round(sum.signum() < 0, sum.abs(), false, lsb, env);
    }

    static Ext multiply(Ext a, Ext b, Env env) {
        Ext special = operands(a, b, env);
        if (special != null || env.stopped()) {
            return special;
        }
        boolean negative = a.negative() != b.negative();
        if (a.isInf() || b.isInf()) {
            return a.isZero() || b.isZero() ? invalid(env) : infinity(negative);
        }
        if (a.isZero() || b.isZero()) {
            return zero(negative);
        }
        return round(negative, a.magnitude().multiply(b.magnitude()), false, a.lsbExponent() + b.lsbExponent(), env);
    }

    static Ext divide(Ext a, Ext b, Env env) {
        Ext special = invalidOperands(a, b, env);
        if (special != null) {
            return special;
        }
        boolean negative = a.negative() != b.negative();
        if (b.isZero() && !a.isInf()) {
            if (a.isZero()) {
                return invalid(env);
            }
            env.flags |= ZE; // a zero divide outranks a denormal dividend
            return env.stopped() ? null : infinity(negative);
        }
        if (a.isInf() && b.isInf()) {
            return invalid(env);
        }
        if (denormals(a, b, env)) {
            return null;
        }
        if (a.isInf()) {
            return infinity(negative);
        }
        if (b.isInf() || a.isZero()) {
            return zero(negative);
        }
        BigInteger n = a.magnitude(), d = b.magnitude();
        int shift = 68 + Math.max(0, d.bitLength() - n.bitLength());
        BigInteger[] qr = n.shiftLeft(shift).divideAndRemainder(d);
        return round(negative, qr[0], qr[1].signum() != 0, a.lsbExponent() - b.lsbExponent() - shift, env);
    }

    static Ext sqrt(Ext a, Env env) {
        if (a.isUnsupported()) {
            return invalid(env);
        }
        if (a.isNaN()) {
            return propagate(a, a, env);
        }
        if (a.isZero()) {
            return a;
        }
        if (a.negative()) {
            return invalid(env);
        }
        if (a.isInf()) {
            return a;
        }
        if (a.isDenormal()) {
            env.flags |= DE;
            if (env.stopped()) {
                return null;
            }
        }
        BigInteger m = a.magnitude();
        int e = a.lsbExponent();
        if ((e & 1) != 0) {
            m = m.shiftLeft(1);
            e--;
        }
        int k = Math.max(0, 140 - m.bitLength()) / 2 + 1;
        BigInteger shifted = m.shiftLeft(2 * k);
        BigInteger root = shifted.sqrt();
        return round(false, root, !root.multiply(root).equals(shifted), (e - 2 * k) / 2, env);
    }

    /** -1, 0 or 1 as a is below, equal to or above b; 2 when unordered. No flags: callers decide IE (FCOM vs FUCOM). */
    static int compare(Ext a, Ext b) {
        if (a.isNaN() || b.isNaN() || a.isUnsupported() || b.isUnsupported()) {
            return 2;
        }
        if (a.isZero() && b.isZero()) {
            return 0;
        }
        if (a.isInf() || b.isInf()) {
            int va = a.isInf() ? (a.negative() ? -2 : 2) : 0, vb = b.isInf() ? (b.negative() ? -2 : 2) : 0;
            if (va == vb) {
                return 0;
            }
            if (va != 0 && vb != 0) {
                return Integer.compare(va, vb);
            }
            return va != 0 ? Integer.signum(va) : -Integer.signum(vb);
        }
        return signedValue(a, Math.min(a.lsbExponent(), b.lsbExponent()))
                .compareTo(signedValue(b, Math.min(a.lsbExponent(), b.lsbExponent())));
    }

    private static BigInteger signedValue(Ext x, int lsb) {
        BigInteger m = x.magnitude().shiftLeft(x.lsbExponent() - lsb);
        return x.negative() ? m.negate() : m;
    }

    /** FRNDINT: the nearest integer under the rounding control (PC does not apply), with PE and C1. */
    static Ext roundToIntegral(Ext a, Env env) {
        if (a.isUnsupported()) {
            return invalid(env);
        }
        if (a.isNaN()) {
            return propagate(a, a, env);
        }
        if (a.isInf() || a.isZero()) {
            return a;
        }
        if (a.isDenormal()) {
            env.flags |= DE;
            if (env.stopped()) {
                return null;
            }
        }
        if (a.lsbExponent() >= 0) {
            return a;
        }
        Bits r = roundBits(a.magnitude(), false, -a.lsbExponent(), a.negative(), env.rounding);
        env.flags |= r.inexact() ? PE : 0;
        env.roundedUp = r.up();
        return exact(a.negative(), r.value(), 0);
    }

    /**
     * FIST/FISTP/FISTTP: a signed integer of {@code bits} bits, rounded (or truncated); NaNs, infinities and values
     * out of range raise IE and give the integer indefinite (the most negative value). Returns null when IE is unmasked.
     */
    static Long toInteger(Ext a, int bits, boolean truncate, Env env) {
        long indefinite = Long.MIN_VALUE >> (64 - bits);
        BigInteger signed = a.isFinite() ? integral(a, truncate, env) : null;
        if (signed == null || signed.bitLength() > bits - 1) {
            env.flags = (env.flags & ~PE) | IE;
            env.roundedUp = false;
            return env.stopped() ? null : indefinite;
        }
        return signed.longValue();
    }

    /** A finite value rounded to an integer under RC (or truncated), with PE and C1; no DE (the integer stores have none). */
    static BigInteger integral(Ext a, boolean truncate, Env env) {
        if (a.isZero()) {
            return BigInteger.ZERO;
        }
        BigInteger value;
        if (a.lsbExponent() >= 0) {
            value = a.lsbExponent() > 64 ? BigInteger.ONE.shiftLeft(130) : a.magnitude().shiftLeft(a.lsbExponent());
        } else {
            Bits r = roundBits(a.magnitude(), false, -a.lsbExponent(), a.negative(), truncate ? CHOP : env.rounding);
            value = r.value();
            env.flags |= r.inexact() ? PE : 0;
            env.roundedUp = r.up();
        }
        return a.negative() ? value.negate() : value;
    }

    static Ext fromInteger(long v) {
        if (v == 0) {
            return zero(false);
        }
        return exact(v < 0, v < 0 ? unsigned(-v) : BigInteger.valueOf(v), 0);
    }

    // ---- binary32 / binary64 -----------------------------------------------------------------------------------

    /**
     * FLD m32/m64 and the real operands of D8/DC: exact. An SNaN stays signaling (the operation that uses it raises IE
     * and quiets it); a denormal is noted in {@code env} for the operation to raise DE by its priorities.
     */
    static Ext fromIeee(long bits, SoftFloat.Format f, Env env) {
        int p = f.precision();
        boolean negative = (bits & f.signBit()) != 0;
        long exp = (bits & f.exponentMask()) >>> (p - 1);
        long frac = bits & f.fractionMask();
        if (exp == (f.exponentMask() >>> (p - 1))) {
            return frac == 0 ? infinity(negative) : new Ext(negative ? 0xFFFF : 0x7FFF, J | frac << (64 - p));
        }
        if (exp == 0) {
            if (frac == 0) {
                return zero(negative);
            }
            env.denormalOperand = true;
            return exact(negative, BigInteger.valueOf(frac), f.emin() - (p - 1));
        }
        return exact(negative, BigInteger.valueOf(frac | 1L << (p - 1)), (int) exp - f.bias() - (p - 1));
    }

    /** FST m32/m64: rounded under RC (PC does not apply); returns null when an unmasked exception leaves memory as it is. */
    static Long toIeee(Ext a, SoftFloat.Format f, Env env) {
        int p = f.precision();
        long sign = a.negative() ? f.signBit() : 0;
        if (a.isUnsupported()) {
            env.flags |= IE;
            return env.stopped() ? null : f.indefinite();
        }
        if (a.isNaN()) {
            if (a.isSNaN()) {
                env.flags |= IE;
                if (env.stopped()) {
                    return null;
                }
            }
            return sign | f.exponentMask() | f.quietBit() | ((a.significand() & Long.MAX_VALUE) >>> (64 - p));
        }
        if (a.isInf()) {
            return sign | f.exponentMask();
        }
        if (a.isZero()) {
            return sign;
        }
        Rounded r = round(a.negative(), a.magnitude(), false, a.lsbExponent(), p, f.emin(), f.emax(), env, false);
        int unmasked = env.flags & (OE | UE) & ~env.masks;
        if (unmasked != 0) { // memory is left as it is: the exception alone, not the inexact result it would have had
            env.flags = (env.flags & ~(OE | UE | PE)) | unmasked;
            env.roundedUp = false;
            return null;
        }
        if (r.infinite()) {
            return sign | f.exponentMask();
        }
        if (r.sig().signum() == 0) {
            return sign;
        }
        int top = r.sig().bitLength() - 1 + r.lsb();
        if (top >= f.emin()) {
            long m = r.sig().shiftLeft(p - r.sig().bitLength()).longValue();
            return sign | ((long) (top + f.bias()) << (p - 1)) | (m & f.fractionMask());
        }
        return sign | r.sig().shiftLeft(r.lsb() - (f.emin() - p + 1)).longValue();
    }
}

package io.jkvm.emu;

import io.jkvm.emu.Float80.Env;
import io.jkvm.emu.Float80.Ext;

import java.math.BigDecimal;
import java.math.BigInteger;
import java.math.MathContext;
import java.math.RoundingMode;

/**
 * The x87 transcendental instructions: F2XM1, FYL2X, FYL2XP1, FPTAN, FPATAN, FSIN, FCOS and FSINCOS. Each result is
 * computed to 70 decimal digits and rounded once to the register (precision control does not apply to them), so it
 * is the correctly rounded value; processors promise one unit in the last place, and differ from it and from each
 * other by that much at most (tests compare within it). Trigonometric operands are reduced by the processors' own
 * 68-bit pi; those of magnitude 2^63 or more set C2 and are left as they are.
 */
final class X87Transcendental {
    private X87Transcendental() {
    }

    private static final MathContext MC = new MathContext(70, RoundingMode.HALF_EVEN);
    private static final MathContext WIDE = new MathContext(110, RoundingMode.HALF_EVEN);
    private static final BigDecimal TWO = BigDecimal.valueOf(2);
    private static final BigDecimal LN2 = atanhSeries(BigDecimal.ONE.divide(BigDecimal.valueOf(3), WIDE), WIDE).multiply(TWO, WIDE);
    private static final BigDecimal PI = atanSeries(BigDecimal.ONE.divide(BigDecimal.valueOf(5), WIDE), WIDE).multiply(BigDecimal.valueOf(16), WIDE)
            .subtract(atanSeries(BigDecimal.ONE.divide(BigDecimal.valueOf(239), WIDE), WIDE).multiply(BigDecimal.valueOf(4), WIDE), WIDE);
    private static final BigDecimal HALF_PI = PI.divide(TWO, WIDE);

    static void execute(Core c, int modrm) {
        X87State f = c.fpu;
        boolean twoOperands = modrm == 0xF1 || modrm == 0xF3 || modrm == 0xF9;
        boolean pushes = modrm == 0xF2 || modrm == 0xFB;
        boolean overflow = pushes && !f.empty(0) && !f.empty(7);
        if (f.empty(0) || (twoOperands && f.empty(1)) || overflow) {
            if (!twoOperands && modrm != 0xF0) {
                f.status &= ~X87State.C2; // the trigonometric ones report "in range"
            }
            if (overflow) {
                f.setC1(true);
                f.raise(X87State.IE | X87State.SF);
            }
            if (overflow ? (f.control & 1) != 0 : X87.stackUnderflow(f)) {
                f.setSt(twoOperands ? 1 : 0, Float80.INDEFINITE);
                if (twoOperands) {
                    f.pop();
                } else if (pushes) {
                    f.push(Float80.INDEFINITE);
                }
            }
            return;
        }
        Env env = Env.of(f.control).extended();
        Ext x = f.st(0);
        switch (modrm) {
            case 0xF0 -> X87.commit(c, twoToXMinusOne(x, env), 0, env, false);
            case 0xF1, 0xF9 -> X87.commit(c, logarithm(f.st(1), x, modrm == 0xF9, env), 1, env, true);
            case 0xF3 -> X87.commit(c, arctangent(f.st(1), x, env), 1, env, true);
            default -> trigonometric(c, modrm, x, env);
        }
    }

    // ---- F2XM1 -------------------------------------------------------------------------------------------------

    private static Ext twoToXMinusOne(Ext x, Env env) {
        Ext special = single(x, env);
        if (special != null || env.stopped()) {
            return special;
        }
        if (x.isZero()) {
            return x;
        }
        if (x.isInf()) {
            return x.negative() ? new Ext(0xBFFF, Long.MIN_VALUE) : x;
        }
        return round(expm1(decimal(x).multiply(LN2, MC)), env);
    }

    // ---- FYL2X, FYL2XP1 ----------------------------------------------------------------------------------------

    /** y · log2(x) (FYL2X) or y · log2(x + 1) (FYL2XP1). */
    private static Ext logarithm(Ext y, Ext x, boolean plusOne, Env env) {
        Ext special = Float80.invalidOperands(x, y, env);
        if (special != null) {
            return special;
        }
        Ext result = logarithmSpecial(y, x, plusOne, env);
        if (result != null && (env.flags & (Float80.IE | Float80.ZE)) != 0) {
            return env.stopped() ? null : result; // an invalid operand or a zero divide outranks a denormal one
        }
        if (Float80.denormals(x, y, env)) {
            return null;
        }
        return result != null ? result : logarithmValue(y, x, plusOne, env);
    }

    /** The results FYL2X and FYL2XP1 define without computing a logarithm; null for the general case. */
    private static Ext logarithmSpecial(Ext y, Ext x, boolean plusOne, Env env) {
        int where = plusOne ? comparePlusOne(x) : position(x); // -2 below zero, -1 zero, 0 between 0 and 1, 1 one, 2 above
        boolean yNegative = y.negative();
        if (where == -2) {
            return invalid(env);
        }
        if (where == -1) { // log2 is -inf (FYL2X at 0) or ±0 (FYL2XP1 at ±0)
            if (plusOne) {
                return y.isInf() ? invalid(env) : Float80.zero(yNegative != x.negative());
            }
            if (y.isZero()) {
                return invalid(env);
            }
            if (!y.isInf()) {
                env.flags |= Float80.ZE;
            }
            return Float80.infinity(!yNegative);
        }
        if (x.isInf()) {
            return y.isZero() ? invalid(env) : Float80.infinity(yNegative);
        }
        if (where == 1) {
            return y.isInf() ? invalid(env) : Float80.zero(yNegative);
        }
        boolean logNegative = where == 0;
        if (y.isInf()) {
            return Float80.infinity(yNegative != logNegative);
        }
        if (y.isZero()) {
            return Float80.zero(yNegative != logNegative);
        }
        return null;
    }

    private static Ext logarithmValue(Ext y, Ext x, boolean plusOne, Env env) {
        BigDecimal log = plusOne ? log1p(decimal(x)).divide(LN2, MC) : log2(x);
        return round(decimal(y).multiply(log, MC), env);
    }

    /** Where x lies for log2(x): -2 negative, -1 zero, 0 in (0, 1), 1 exactly one, 2 above one. */
    private static int position(Ext x) {
        if (x.isZero()) {
            return -1;
        }
        if (x.negative()) {
            return -2;
        }
        int cmp = Float80.compare(x, Float80.ONE);
        return cmp < 0 ? 0 : cmp == 0 ? 1 : 2;
    }

    /** As {@link #position} for x + 1 (FYL2XP1); x = ±0 is the zero case, where the result is a signed zero. */
    private static int comparePlusOne(Ext x) {
        if (x.isZero()) {
            return -1;
        }
        if (x.isInf()) {
            return x.negative() ? -2 : 2;
        }
        int cmp = Float80.compare(x, Float80.ONE.negate());
        return cmp <= 0 ? -2 : x.negative() ? 0 : 2;
    }

    private static BigDecimal log2(Ext x) {
        // x = m · 2^e with m in [sqrt(1/2), sqrt(2)): log2(x) = e + ln(m)/ln 2 without cancellation
        int e = x.topExponent();
        BigDecimal m = decimal(new Ext(Float80.BIAS | (x.signExp() & 0x8000), x.magnitude().shiftLeft(63 - (x.magnitude().bitLength() - 1)).longValue()));
        if (m.compareTo(new BigDecimal("1.41421356237309504880168872420969807856967187537694")) >= 0) {
            m = m.divide(TWO, MC);
            e++;
        }
        return BigDecimal.valueOf(e).add(log1p(m.subtract(BigDecimal.ONE)).divide(LN2, MC), MC);
    }

    /** ln(1 + t) = 2 atanh(t / (2 + t)). */
    private static BigDecimal log1p(BigDecimal t) {
        return atanhSeries(t.divide(TWO.add(t), MC), MC).multiply(TWO, MC);
    }

    // ---- FPATAN ------------------------------------------------------------------------------------------------

    /** atan(y / x) in the quadrant of (x, y). */
    private static Ext arctangent(Ext y, Ext x, Env env) {
        Ext special = pair(y, x, env);
        if (special != null || env.stopped()) {
            return special;
        }
        boolean negative = y.negative();
        BigDecimal angle;
        if (y.isZero() || (x.isInf() && !y.isInf())) {
            if (!x.negative()) {
                return Float80.zero(negative);
            }
            angle = PI;
        } else if (x.isZero() || (y.isInf() && !x.isInf())) {
            angle = HALF_PI;
        } else if (x.isInf()) {
            angle = PI.divide(BigDecimal.valueOf(4), MC);
            if (x.negative()) {
                angle = PI.subtract(angle, MC);
            }
        } else {
            BigDecimal ay = decimal(y).abs(), ax = decimal(x).abs();
            angle = ay.compareTo(ax) <= 0 ? atan(ay.divide(ax, MC)) : HALF_PI.subtract(atan(ax.divide(ay, MC)), MC);
            if (x.negative()) {
                angle = PI.subtract(angle, MC);
            }
        }
        return round(negative ? angle.negate() : angle, env);
    }

    /** atan(t) for 0 <= t <= 1: halve the angle twice (t / (1 + sqrt(1 + t^2))), then the series. */
    private static BigDecimal atan(BigDecimal t) {
        for (int i = 0; i < 2; i++) {
            t = t.divide(BigDecimal.ONE.add(BigDecimal.ONE.add(t.multiply(t, MC)).sqrt(MC)), MC);
        }
        return atanSeries(t, MC).multiply(BigDecimal.valueOf(4), MC);
    }

    // ---- FSIN, FCOS, FSINCOS, FPTAN ----------------------------------------------------------------------------

    private static void trigonometric(Core c, int modrm, Ext x, Env env) {
        X87State f = c.fpu;
        if (x.isFinite() && !x.isZero() && x.topExponent() >= 63) {
            f.status |= X87State.C2; // out of range: the operand stays for the program to reduce
            return;
        }
        Ext first, second = null; // first into ST(0), second pushed (FSINCOS: cos; FPTAN: 1.0)
        Ext special = single(x, env);
        if (special == null && !env.stopped() && x.isInf()) {
            special = invalid(env);
        }
        if (env.stopped()) {
            f.raise(env.flags);
            f.status &= ~(X87State.C1 | X87State.C2);
            return;
        }
        if (special != null) {
            first = special;
            second = modrm == 0xFB || modrm == 0xF2 ? special : null;
        } else if (x.isZero()) {
            first = modrm == 0xFF ? Float80.ONE : x;
            second = modrm == 0xFB ? Float80.ONE : modrm == 0xF2 ? Float80.ONE : null;
        } else {
            BigDecimal v = decimal(x);
            BigDecimal[] sc = sinCos(v);
            switch (modrm) {
                case 0xFE -> first = round(sc[0], env);
                case 0xFF -> first = round(sc[1], env);
                case 0xF2 -> {
                    first = round(sc[0].divide(sc[1], MC), env);
                    second = Float80.ONE;
                }
                default -> { // FSINCOS: ST(1) = sin, ST(0) = cos; C1 and the flags of both roundings
                    first = round(sc[0], env);
                    boolean up = env.roundedUp;
                    second = round(sc[1], env);
                    env.roundedUp |= up;
                }
            }
        }
        f.raise(env.flags);
        f.status &= ~X87State.C2;
        f.setC1(env.roundedUp);
        f.setSt(0, first);
        if (second != null) {
            f.push(second);
        }
    }

    /**
     * The pi/2 the processors reduce trigonometric operands by: pi to 68 bits (0xC90FDAA22168C234C / 2^66, the SDM's
     * "66-bit" constant, whose next two bits are zero). Results for large operands follow it, not the true pi.
     */
    private static final BigDecimal REDUCTION_HALF_PI = new BigDecimal(new BigInteger("C90FDAA22168C234C", 16))
            .divide(new BigDecimal(BigInteger.TWO.pow(67)), WIDE);

    private static BigDecimal[] sinCos(BigDecimal v) {
        return sinCos(v, REDUCTION_HALF_PI);
    }

    /** sin and cos of v, reduced by the nearest multiple of halfPi. */
    private static BigDecimal[] sinCos(BigDecimal v, BigDecimal halfPi) {
        BigInteger k = v.divide(halfPi, WIDE).setScale(0, RoundingMode.HALF_EVEN).toBigIntegerExact();
        BigDecimal r = v.subtract(halfPi.multiply(new BigDecimal(k), WIDE), WIDE).round(MC);
        BigDecimal s = sinSeries(r), co = cosSeries(r);
        return switch (k.intValue() & 3) {
            case 0 -> new BigDecimal[]{s, co};
            case 1 -> new BigDecimal[]{co, s.negate()};
            case 2 -> new BigDecimal[]{s.negate(), co.negate()};
            default -> new BigDecimal[]{co.negate(), s};
        };
    }

    // ---- series ------------------------------------------------------------------------------------------------

    private static BigDecimal threshold(BigDecimal x, MathContext mc) {
        return BigDecimal.ONE.movePointLeft(mc.getPrecision() + 5).multiply(x.abs().max(BigDecimal.ONE.movePointLeft(10000)));
    }

    private static BigDecimal expm1(BigDecimal x) {
        BigDecimal sum = BigDecimal.ZERO, term = BigDecimal.ONE;
        BigDecimal eps = threshold(x, MC);
        for (int k = 1; k < 400; k++) {
            term = term.multiply(x, MC).divide(BigDecimal.valueOf(k), MC);
            sum = sum.add(term, MC);
            if (term.abs().compareTo(eps) < 0) {
                break;
            }
        }
        return sum;
    }

    private static BigDecimal atanhSeries(BigDecimal z, MathContext mc) {
        return oddSeries(z, mc, false);
    }

    private static BigDecimal atanSeries(BigDecimal z, MathContext mc) {
        return oddSeries(z, mc, true);
    }

    /** z + z^3/3 + z^5/5 + ... (atanh), with alternating signs (atan). */
    private static BigDecimal oddSeries(BigDecimal z, MathContext mc, boolean alternate) {
        BigDecimal z2 = z.multiply(z, mc), power = z, sum = z;
        BigDecimal eps = threshold(z, mc);
        for (int k = 1; k < 2000; k++) {
            power = power.multiply(z2, mc);
            BigDecimal term = power.divide(BigDecimal.valueOf(2L * k + 1), mc);
            sum = alternate && (k & 1) != 0 ? sum.subtract(term, mc) : sum.add(term, mc);
            if (term.abs().compareTo(eps) < 0) {
                break;
            }
        }
        return sum;
    }

    private static BigDecimal sinSeries(BigDecimal x) {
        BigDecimal x2 = x.multiply(x, MC), term = x, sum = x;
        BigDecimal eps = threshold(x, MC);
        for (int k = 1; k < 200; k++) {
            term = term.multiply(x2, MC).divide(BigDecimal.valueOf((2L * k) * (2L * k + 1)), MC).negate();
            sum = sum.add(term, MC);
            if (term.abs().compareTo(eps) < 0) {
                break;
            }
        }
        return sum;
    }

    private static BigDecimal cosSeries(BigDecimal x) {
        BigDecimal x2 = x.multiply(x, MC), term = BigDecimal.ONE, sum = BigDecimal.ONE;
        BigDecimal eps = BigDecimal.ONE.movePointLeft(MC.getPrecision() + 5);
        for (int k = 1; k < 200; k++) {
            term = term.multiply(x2, MC).divide(BigDecimal.valueOf((2L * k - 1) * (2L * k)), MC).negate();
            sum = sum.add(term, MC);
            if (term.abs().compareTo(eps) < 0) {
                break;
            }
        }
        return sum;
    }

    // ---- operands and results ----------------------------------------------------------------------------------

    /** One operand's checks: unsupported (IE, indefinite), NaN (propagated), denormal (DE); null to go on. */
    private static Ext single(Ext x, Env env) {
        if (x.isUnsupported()) {
            return invalid(env);
        }
        if (x.isNaN()) {
            return Float80.propagate(x, x, env);
        }
        if (x.isDenormal()) {
            env.flags |= Float80.DE;
        }
        return null;
    }

    private static Ext pair(Ext y, Ext x, Env env) {
        if (x.isUnsupported() || y.isUnsupported()) {
            return invalid(env);
        }
        if (x.isNaN() || y.isNaN()) {
            return Float80.propagate(x, y, env);
        }
        if (x.isDenormal() || y.isDenormal()) {
            env.flags |= Float80.DE;
        }
        return null;
    }

    private static Ext invalid(Env env) {
        env.flags |= Float80.IE;
        return Float80.INDEFINITE;
    }

    /** A finite register value, exactly. */
    static BigDecimal decimal(Ext x) {
        BigDecimal m = new BigDecimal(x.magnitude());
        int e = x.lsbExponent();
        BigDecimal v = e >= 0 ? m.multiply(new BigDecimal(BigInteger.TWO.pow(e)))
                : m.multiply(new BigDecimal(BigInteger.valueOf(5).pow(-e), -e));
        return x.negative() ? v.negate() : v;
    }

    /** A nonzero inexact value rounded once to the register. */
    private static Ext round(BigDecimal v, Env env) {
        boolean negative = v.signum() < 0;
        BigDecimal a = v.abs().round(MC);
        BigInteger num = a.unscaledValue(), den = BigInteger.ONE;
        if (a.scale() > 0) {
            den = BigInteger.TEN.pow(a.scale());
        } else {
            num = num.multiply(BigInteger.TEN.pow(-a.scale()));
        }
        int shift = 72 + den.bitLength() - num.bitLength();
        BigInteger q = shift >= 0 ? num.shiftLeft(shift).divide(den) : num.divide(den.shiftLeft(-shift));
        return Float80.round(negative, q, true, -shift, env);
    }
}

package io.jkvm.emu;

import io.jkvm.emu.Float80.Env;
import io.jkvm.emu.Float80.Ext;

import java.math.BigInteger;

/**
 * The x87 instructions that work on exponents: FSCALE, FXTRACT and the partial remainders FPREM (truncating, the
 * 8087's) and FPREM1 (IEEE, quotient rounded to even). Every result here is exact but for FSCALE's overflow and
 * underflow, so precision control does not apply.
 */
final class X87Exponents {
    private X87Exponents() {
    }

    static Ext scale(Ext a, Ext b, Env env) {
        if (a.isUnsupported() || b.isUnsupported()) {
            env.flags |= Float80.IE;
            return Float80.INDEFINITE;
        }
        if (a.isNaN() || b.isNaN()) {
            return Float80.propagate(a, b, env);
        }
        if (a.isDenormal() || b.isDenormal()) {
            env.flags |= Float80.DE;
            if (env.stopped()) {
                return null;
            }
        }
        if (b.isInf()) {
            boolean invalid = b.negative() ? a.isInf() : a.isZero();
            if (invalid) {
                env.flags |= Float80.IE;
                return Float80.INDEFINITE;
            }
            return b.negative() ? Float80.zero(a.negative()) : Float80.infinity(a.negative());
        }
        if (a.isInf() || a.isZero()) {
            return a;
        }
        long n = b.isZero() || b.topExponent() < 0 ? 0 : b.topExponent() > 20 ? 1L << 20
                : b.magnitude().shiftRight(-Math.min(0, b.lsbExponent())).shiftLeft(Math.max(0, b.lsbExponent())).longValue();
        if (b.negative()) {
            n = -n;
        }
        return Float80.round(a.negative(), a.magnitude(), false, a.lsbExponent() + (int) n, env);
    }

    /** FXTRACT: ST(0) becomes its exponent, then its significand (exponent 0) is pushed; ±0 gives -∞ with ZE. */
    static void extract(Core c) {
        X87State f = c.fpu;
        if (f.empty(0) || !f.empty(7)) {
            f.setC1(!f.empty(0));
            f.raise(X87State.IE | X87State.SF);
            if ((f.control & 1) != 0) {
                f.setSt(0, Float80.INDEFINITE);
                f.push(Float80.INDEFINITE);
            }
            return;
        }
        Env env = Env.of(f.control);
        Ext a = f.st(0), exponent, significand;
        if (a.isUnsupported()) {
            env.flags |= Float80.IE;
            exponent = significand = Float80.INDEFINITE;
        } else if (a.isNaN()) {
            exponent = significand = Float80.propagate(a, a, env);
        } else if (a.isInf()) {
            exponent = Float80.infinity(false);
            significand = a;
        } else if (a.isZero()) {
            env.flags |= Float80.ZE;
            exponent = Float80.infinity(true);
            significand = a;
        } else {
            if (a.isDenormal()) {
                env.flags |= Float80.DE;
            }
            exponent = Float80.fromInteger(a.topExponent());
            BigInteger m = a.magnitude();
            significand = Float80.exact(a.negative(), m, -(m.bitLength() - 1));
        }
        f.raise(env.flags);
        f.setC1(false);
        if (env.stopped()) {
            return;
        }
        f.setSt(0, exponent);
        f.push(significand);
    }

    /**
     * The exponent difference one partial-remainder step removes when the operands' exponents are 64 or more apart:
     * the SDM leaves it between 32 and 63 to the implementation.
     */
    static int reduction(int difference) {
        return difference - (32 + (difference - 32) % 32);
    }

    /** FPREM and FPREM1: C2 clear when the remainder is complete, with the quotient's low bits in C0, C3, C1. */
    static void partialRemainder(Core c, boolean ieee) {
        X87State f = c.fpu;
        if (f.empty(0) || f.empty(1)) {
            f.status &= ~X87State.C2;
            if (X87.stackUnderflow(f)) {
                f.setSt(0, Float80.INDEFINITE);
            }
            return;
        }
        Env env = Env.of(f.control);
        Ext a = f.st(0), b = f.st(1);
        Ext result;
        int conditions = -1; // C3 C2 C1 C0 to set, or -1 to leave C0, C1, C3 (a partial result sets C2 only)
        if (a.isUnsupported() || b.isUnsupported()) {
            env.flags |= Float80.IE;
            result = Float80.INDEFINITE;
        } else if (a.isNaN() || b.isNaN()) {
            result = Float80.propagate(a, b, env);
        } else if (a.isInf() || b.isZero()) {
            env.flags |= Float80.IE;
            result = Float80.INDEFINITE;
        } else {
            if (a.isDenormal() || b.isDenormal()) {
                env.flags |= Float80.DE;
            }
            if (env.stopped()) {
                result = null;
            } else if (a.isZero() || b.isInf()) {
                // a itself, re-encoded: a pseudo-denormal comes back normal, a denormal as any tiny result
                result = a.isZero() ? a : Float80.exactResult(a.negative(), a.magnitude(), a.lsbExponent(), env);
                conditions = 0;
            } else {
                int difference = a.topExponent() - b.topExponent();
                int lsb = Math.min(a.lsbExponent(), b.lsbExponent());
                BigInteger x = a.magnitude().shiftLeft(a.lsbExponent() - lsb);
                BigInteger y = b.magnitude().shiftLeft(b.lsbExponent() - lsb);
                if (difference < 64) {
                    BigInteger[] qr = x.divideAndRemainder(y);
                    BigInteger q = qr[0], r = qr[1];
                    boolean negative = a.negative();
                    if (ieee) {
                        int half = r.shiftLeft(1).compareTo(y);
                        if (half > 0 || (half == 0 && q.testBit(0))) {
                            q = q.add(BigInteger.ONE);
                            r = y.subtract(r);
                            negative = !negative;
                        }
                    }
                    result = r.signum() == 0 ? Float80.zero(a.negative()) : Float80.exactResult(negative, r, lsb, env);
                    int low = q.intValue() & 7;
                    conditions = ((low & 2) != 0 ? 8 : 0) | ((low & 1) != 0 ? 2 : 0) | ((low & 4) != 0 ? 1 : 0);
                } else {
                    y = y.shiftLeft(reduction(difference));
                    BigInteger r = x.mod(y);
                    result = r.signum() == 0 ? Float80.zero(a.negative()) : Float80.exactResult(a.negative(), r, lsb, env);
                }
            }
        }
        f.raise(env.flags);
        if (env.stopped()) {
            f.status &= ~(X87State.C1 | X87State.C2);
            return;
        }
        if (conditions >= 0) {
            f.setCondition(conditions);
        } else if (!(result == Float80.INDEFINITE || result.isNaN())) {
            f.setCondition(0b0100); // partial: C2 alone
        } else {
            f.status &= ~(X87State.C1 | X87State.C2);
        }
        f.setSt(0, result);
    }
}

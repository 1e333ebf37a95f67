package io.jkvm.emu;

import org.junit.jupiter.api.Test;

import java.math.BigInteger;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The 64-bit DIV and IDIV's arithmetic held to BigInteger's, #DE included: random operands of every width, and the
 * edges (the largest quotients either side of the limit, divisors of one bit, -2^63, remainders of zero).
 * NativeOracleTest holds the instructions to the host CPU where they do not fault.
 */
class WideDivisionTest {
    private static final BigInteger TWO_64 = BigInteger.ONE.shiftLeft(64);

    private static BigInteger unsigned(long v) {
        return new BigInteger(Long.toUnsignedString(v));
    }

    /** What DIV leaves (quotient, remainder), or null for #DE. */
    private static long[] referenceUnsigned(long hi, long lo, long divisor) {
        BigInteger[] qr = unsigned(hi).shiftLeft(64).or(unsigned(lo)).divideAndRemainder(unsigned(divisor));
        return qr[0].compareTo(TWO_64) >= 0 ? null : new long[]{qr[0].longValue(), qr[1].longValue()};
    }

    /** What IDIV leaves, or null for #DE. */
    private static long[] referenceSigned(long hi, long lo, long divisor) {
        BigInteger[] qr = BigInteger.valueOf(hi).shiftLeft(64).or(unsigned(lo)).divideAndRemainder(BigInteger.valueOf(divisor));
        return qr[0].bitLength() > 63 ? null : new long[]{qr[0].longValue(), qr[1].longValue()};
    }

    private static long[] of(WideDivision.Result r) {
        return r == null ? null : new long[]{r.quotient(), r.remainder()};
    }

    private static void check(long hi, long lo, long divisor) {
        String what = String.format("0x%016x:%016x / 0x%016x", hi, lo, divisor);
        assertEquals(java.util.Arrays.toString(referenceUnsigned(hi, lo, divisor)),
                java.util.Arrays.toString(of(WideDivision.unsigned(hi, lo, divisor))), "DIV " + what);
        assertEquals(java.util.Arrays.toString(referenceSigned(hi, lo, divisor)),
                java.util.Arrays.toString(of(WideDivision.signed(hi, lo, divisor))), "IDIV " + what);
    }

    /** A random value of a random width, negated half the time. */
    private static long any(Random random) {
        long v = random.nextLong() >>> random.nextInt(64);
        return random.nextBoolean() ? v : -v;
    }

    @Test
    void randomOperandsOfEveryWidth() {
        Random random = new Random(16);
        for (int i = 0; i < 200_000; i++) {
            long divisor = any(random);
            if (divisor != 0) {
                check(any(random), any(random), divisor);
            }
        }
    }

    @Test
    void quotientsAtTheLimitsAndOtherEdges() {
        long[] values = {0, 1, 2, 3, 0x7FFF_FFFFL, 0x8000_0000L, 0xFFFF_FFFFL, 0x1_0000_0000L, Long.MAX_VALUE,
                Long.MIN_VALUE, -1, -2, Long.MIN_VALUE + 1, 0x8000_0000_0000_0001L, 0x0000_0001_FFFF_FFFFL};
        List<long[]> cases = new ArrayList<>();
        for (long hi : values) {
            for (long lo : values) {
                for (long d : values) {
                    if (d != 0) {
                        cases.add(new long[]{hi, lo, d});
                    }
                }
            }
        }
        for (long d : values) { // dividends just below and at divisor * 2^64 (DIV's limit) and at 2^63 * |divisor| (IDIV's)
            if (d == 0) {
                continue;
            }
            BigInteger limit = unsigned(d).shiftLeft(64);
            for (BigInteger n : new BigInteger[]{limit.subtract(BigInteger.ONE), limit.subtract(unsigned(d))}) {
                cases.add(new long[]{n.shiftRight(64).longValue(), n.longValue(), d});
            }
            BigInteger signedLimit = BigInteger.valueOf(d).abs().shiftLeft(63);
            for (BigInteger n : new BigInteger[]{signedLimit, signedLimit.subtract(BigInteger.ONE), signedLimit.negate(),
                    signedLimit.negate().subtract(BigInteger.ONE), signedLimit.negate().add(BigInteger.ONE)}) {
                cases.add(new long[]{n.shiftRight(64).longValue(), n.longValue(), d});
            }
        }
        for (long[] c : cases) {
            check(c[0], c[1], c[2]);
        }
    }
}

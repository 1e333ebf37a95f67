package io.jkvm.emu;

import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The condition tests compiled blocks call for a record whose operation they know give what {@link
 * LazyFlags#condition} gives for that record, for operands at and around each size's edges and at random.
 */
class LazyFlagsTest {
    private static final int[] SIZES = {1, 2, 4, 8};

    private static long[] operands(SplittableRandom random, int size) {
        long m = CpuState.mask(size), sb = CpuState.signBit(size);
        long[] edges = {0, 1, 2, sb - 1, sb, sb + 1, m - 1, m};
        return random.nextInt(3) == 0 ? new long[]{random.nextLong() & m, random.nextLong() & m}
                : new long[]{edges[random.nextInt(edges.length)], edges[random.nextInt(edges.length)]};
    }

    private static boolean cond(int op, long d, long s, long r, int size, int cc) {
        return LazyFlags.condition(op, d, s, r, size, 0, cc);
    }

    @Test
    void eachDirectTestAgreesWithTheGeneralCondition() {
        SplittableRandom random = new SplittableRandom(16);
        for (int round = 0; round < 20_000; round++) {
            int size = SIZES[round % 4];
            long m = CpuState.mask(size);
            long[] o = operands(random, size);
            long d = o[0], s = o[1];
            long sub = (d - s) & m, add = (d + s) & m, and = d & s;
            String at = "size " + size + ", " + Long.toHexString(d) + ", " + Long.toHexString(s);
            assertEquals(cond(CpuState.LAZY_SUB, d, s, sub, size, 2 * 2), LazyFlags.zero(sub, size), at);
            assertEquals(cond(CpuState.LAZY_SUB, d, s, sub, size, 2 * 4), LazyFlags.sign(sub, size), at);
            assertEquals(cond(CpuState.LAZY_SUB, d, s, sub, size, 2 * 1), LazyFlags.below(d, s, size), at);
            assertEquals(cond(CpuState.LAZY_SUB, d, s, sub, size, 2 * 3), LazyFlags.belowOrEqual(d, s, size), at);
            assertEquals(cond(CpuState.LAZY_SUB, d, s, sub, size, 2 * 6), LazyFlags.less(d, s, size), at);
            assertEquals(cond(CpuState.LAZY_SUB, d, s, sub, size, 2 * 7), LazyFlags.lessOrEqual(d, s, size), at);
            assertEquals(cond(CpuState.LAZY_ADD, d, s, add, size, 2 * 1), LazyFlags.carried(d, add, size), at);
            assertEquals(cond(CpuState.LAZY_ADD, d, s, add, size, 2 * 2), LazyFlags.zero(add, size), at);
            assertEquals(cond(CpuState.LAZY_LOGIC, and, 0, and, size, 2 * 7), LazyFlags.zeroOrSign(and, size), at);
            assertEquals(cond(CpuState.LAZY_LOGIC, and, 0, and, size, 2 * 6), LazyFlags.sign(and, size), at);
            assertEquals(cond(CpuState.LAZY_LOGIC, and, 0, and, size, 2 * 3), LazyFlags.zero(and, size), at);
            assertEquals(false, cond(CpuState.LAZY_LOGIC, and, 0, and, size, 0) || cond(CpuState.LAZY_LOGIC, and, 0, and, size, 2 * 1),
                    "a logical operation leaves OF and CF clear, " + at);
        }
    }
}

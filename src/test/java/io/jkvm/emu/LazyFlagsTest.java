package io.jkvm.emu;

import io.jkvm.testing.EmuVm;
import io.jkvm.x86.RamLayout;
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

    /**
     * A SHL, SHR or SAR record (operand, count, result, and the AF and OF it keeps) gives the six flags, and each
     * condition, that the interpreter's shift sets explicitly over the same flags before it.
     */
    @Test
    void shiftRecordsGiveTheFlagsTheShiftsSet() {
        try (EmuVm vm = new EmuVm(new byte[] {(byte) 0xF4})) {
            Core core = new Core(vm.memory.mapping(), RamLayout.flat(vm.memory.size()), vm.model.cpuid(),
                    vm.model.mxcsrMask(), null);
            SplittableRandom random = new SplittableRandom(9);
            int[] ops = {4, 5, 7};
            int[] lazyOps = {CpuState.LAZY_SHL, CpuState.LAZY_SHR, CpuState.LAZY_SAR};
            for (int round = 0; round < 20_000; round++) {
                int size = SIZES[round % 4], which = random.nextInt(3);
                long v = operands(random, size)[0];
                int count = 1 + random.nextInt(size == 8 ? 63 : 31);
                long before = random.nextLong() & CpuState.ARITH;
                core.setArith(before);
                long res = ShiftsAndBits.shifted(core, ops[which], size, v, count);
                long explicit = core.shiftFlags & CpuState.ARITH;
                String at = "op " + ops[which] + ", size " + size + ", " + Long.toHexString(v) + " by " + count
                        + ", flags before " + Long.toHexString(before);
                core.lazy(lazyOps[which], v, count, res, size);
                core.lazyCarry = before & (CpuState.AF | CpuState.OF);
                assertEquals(explicit, core.arithFlags(), at);
                for (int cc = 0; cc < 16; cc++) {
                    boolean lazy = core.condition(cc);
                    core.setArith(explicit);
                    assertEquals(core.condition(cc), lazy, "condition " + cc + ", " + at);
                    core.lazy(lazyOps[which], v, count, res, size);
                }
            }
        }
    }
}

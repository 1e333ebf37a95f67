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

    /** Each also gives what LazyFlags.cf gives for its operation: ADC's and SBB's carry tests too. */
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
            long carry = random.nextInt(2);
            long adc = (d + s + carry) & m, sbb = (d - s - carry) & m;
            assertEquals(LazyFlags.cf(CpuState.LAZY_ADC, d, s, adc, size, carry) != 0, LazyFlags.carriedWith(d, adc, carry, size),
                    at + ", carry " + carry);
            assertEquals(LazyFlags.cf(CpuState.LAZY_SBB, d, s, sbb, size, carry) != 0, LazyFlags.borrowedWith(d, s, carry, size),
                    at + ", borrow " + carry);
        }
    }

    /**
     * The result and six flags of SHL (op 4), SHR (5) or SAR (7) worked out one bit at a time, as the SDM describes
     * them: CF the last bit shifted out, OF for a count of one (SHL: CF against the new sign; SHR: the old sign; SAR:
     * clear), SF, ZF and PF from the result; this core keeps AF, and OF for larger counts (SAR clears it), from
     * {@code before}.
     */
    private static long[] shiftOneBitAtATime(int op, int size, long v, int count, long before) {
        long m = CpuState.mask(size), sb = CpuState.signBit(size), r = v & m, cf = 0;
        for (int k = 0; k < count; k++) {
            if (op == 4) {
                cf = (r & sb) != 0 ? 1 : 0;
                r = (r << 1) & m;
            } else {
                cf = r & 1;
                r = op == 5 ? r >>> 1 : ((r >>> 1) | (r & sb)) & m;
            }
        }
        boolean of = count == 1 ? (op == 4 ? ((r & sb) != 0) != (cf != 0) : op == 5 && (v & sb) != 0)
                : op != 7 && (before & CpuState.OF) != 0;
        long flags = cf | CpuState.pfZfSf(r, size) | (before & CpuState.AF) | (of ? CpuState.OF : 0);
        return new long[] {r, flags};
    }

    /**
     * A SHL, SHR or SAR record (operand, count, result, and the AF and OF it keeps) gives the six flags, and each
     * condition, of the shift worked out bit by bit over the same flags before it; the interpreter's shift gives the
     * same result and flags.
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
                long[] expected = shiftOneBitAtATime(ops[which], size, v, count, before);
                long res = expected[0], explicit = expected[1];
                String at = "op " + ops[which] + ", size " + size + ", " + Long.toHexString(v) + " by " + count
                        + ", flags before " + Long.toHexString(before);
                core.setArith(before);
                assertEquals(res, ShiftsAndBits.shifted(core, ops[which], size, v, count), "the result, " + at);
                assertEquals(explicit, core.shiftFlags & CpuState.ARITH, "the interpreter's flags, " + at);
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

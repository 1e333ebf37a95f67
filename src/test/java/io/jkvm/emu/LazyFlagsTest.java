package io.jkvm.emu;

import io.jkvm.testing.EmuVm;
import io.jkvm.x86.RamLayout;
import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The flags a shift's lazy record gives ({@link LazyFlags}), against the shift worked out bit by bit and against the
 * interpreter; the tests compiled blocks emit for records of other operations are CompiledConditionsTest's.
 */
class LazyFlagsTest {
    private static final int[] SIZES = {1, 2, 4, 8};

    private static long[] operands(SplittableRandom random, int size) {
        long m = CpuState.mask(size), sb = CpuState.signBit(size);
        long[] edges = {0, 1, 2, sb - 1, sb, sb + 1, m - 1, m};
        return random.nextInt(3) == 0 ? new long[]{random.nextLong() & m, random.nextLong() & m}
                : new long[]{edges[random.nextInt(edges.length)], edges[random.nextInt(edges.length)]};
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

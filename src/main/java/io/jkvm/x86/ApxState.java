package io.jkvm.x86;

import java.util.Arrays;

/** The sixteen extended GPRs R16..R31 that APX adds: XSAVE component 19, 8 bytes each in register order. */
public record ApxState(long[] registers) {
    public static final int COMPONENT = 19;
    public static final int SIZE = 128;

    public ApxState {
        if (registers.length != 16) {
            throw new IllegalArgumentException("APX state has 16 registers (R16..R31), not " + registers.length);
        }
        registers = registers.clone();
    }

    /** The init state: all zero. */
    public static ApxState zero() {
        return new ApxState(new long[16]);
    }

    /** R{@code n} for n in 16..31. */
    public long r(int n) {
        if (n < 16 || n > 31) {
            throw new IllegalArgumentException("APX registers are R16..R31, not R" + n);
        }
        return registers[n - 16];
    }

    public ApxState withR(int n, long value) {
        long[] copy = registers.clone();
        copy[n - 16] = value;
        return new ApxState(copy);
    }

    @Override
    public long[] registers() {
        return registers.clone();
    }

    public boolean isInit() {
        return Arrays.stream(registers).allMatch(v -> v == 0);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof ApxState a && Arrays.equals(registers, a.registers);
    }

    @Override
    public int hashCode() {
        return Arrays.hashCode(registers);
    }

    @Override
    public String toString() {
        StringBuilder b = new StringBuilder("ApxState[");
        for (int i = 0; i < 16; i++) {
            b.append(i == 0 ? "" : ", ").append("r").append(16 + i).append("=0x").append(Long.toHexString(registers[i]));
        }
        return b.append(']').toString();
    }
}

package io.jkvm.emu;

/**
 * Moves whose rules go beyond copying a value: CMOVcc's destination written even when the condition is false (a
 * 32-bit one is zero-extended), the accumulator sign extensions CBW/CWDE/CDQE and CWD/CDQ/CQO, and BSWAP. One
 * definition for the interpreter and the decoded blocks.
 */
final class DataTransfer {
    private DataTransfer() {
    }

    /** PUSHF: RFLAGS pushed as {@code size} bytes, VM and RF read as 0. */
    static void pushFlags(Core c, int size) {
        c.push(c.rflags() & ~0x30000L, size);
    }

    /** CMOVcc r, r/m ({@code size} 2, 4 or 8): {@code value} was read whatever the condition, as the SDM has it. */
    static void cmov(Core c, boolean condition, int reg, int size, long value) {
        if (condition) {
            c.setReg(reg, size, value);
        } else if (size == 4) {
            c.r[reg] &= 0xFFFFFFFFL; // a 32-bit CMOV zero-extends even when it does not move
        }
    }

    /** CBW, CWDE, CDQE: the lower half of AX, EAX or RAX sign-extended into all of it. */
    static void signExtendAccumulator(Core c, int size) {
        switch (size) {
            case 2 -> c.setReg(0, 2, (byte) c.r[0]);
            case 4 -> c.setReg(0, 4, (short) c.r[0]);
            default -> c.r[0] = (int) c.r[0];
        }
    }

    /** BSWAP of register {@code n}: its 8 bytes reversed, or with any other operand size its low 4, zero-extended. */
    static void byteSwap(Core c, int n, int size) {
        c.r[n] = size == 8 ? Long.reverseBytes(c.r[n]) : Integer.reverseBytes((int) c.r[n]) & 0xFFFFFFFFL;
    }

    /** CWD, CDQ, CQO: DX, EDX or RDX filled with the sign of AX, EAX or RAX. */
    static void signFillDx(Core c, int size) {
        c.setReg(2, size, (c.reg(0, size) & CpuState.signBit(size)) != 0 ? -1 : 0);
    }
}

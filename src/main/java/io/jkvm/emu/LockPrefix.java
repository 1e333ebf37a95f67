package io.jkvm.emu;

import io.jkvm.linux.HostCpu;

/**
 * Which instructions take a LOCK prefix (SDM Vol. 2A, LOCK; APM Vol. 3, 1.2.5): the read-modify-writes of ADD, ADC,
 * AND, BTC, BTR, BTS, CMPXCHG, CMPXCHG8B/16B, DEC, INC, NEG, NOT, OR, SBB, SUB, XOR, XADD and XCHG, with a memory
 * destination. Anything else with LOCK is #UD.
 */
final class LockPrefix {
    private LockPrefix() {
    }

    /** Whether LOCK is allowed on {@code opcode} of {@code map} (0: one-byte, 1: 0F) with the ModRM byte {@code modrm}. */
    static boolean allows(int map, int opcode, int modrm) {
        if ((modrm >>> 6) == 3) {
            return false; // a register destination
        }
        int reg = (modrm >>> 3) & 7;
        if (map == 0) {
            return switch (opcode) {
                case 0x00, 0x01, 0x08, 0x09, 0x10, 0x11, 0x18, 0x19, 0x20, 0x21, 0x28, 0x29, 0x30, 0x31, 0x86, 0x87 -> true;
                case 0x80, 0x81, 0x83 -> reg != 7; // not CMP
                case 0xF6, 0xF7 -> reg == 2 || reg == 3; // NOT, NEG
                case 0xFE -> reg <= 1; // INC, DEC
                case 0xFF -> reg <= 1;
                default -> false;
            };
        }
        return switch (opcode) {
            case 0xAB, 0xB3, 0xBB, 0xB0, 0xB1, 0xC0, 0xC1 -> true; // BTS, BTR, BTC; CMPXCHG; XADD
            case 0xBA -> reg >= 5; // BTS, BTR, BTC with an immediate
            case 0xC7 -> reg == 1; // CMPXCHG8B/16B
            default -> false;
        };
    }

    /**
     * Whether {@code insn} is a locked access of more than one word whatever its address: LOCK CMPXCHG16B on a host
     * without the instruction, which runs exclusive ({@link SplitLock}; a locked access across two words finds that
     * out at its second word, and runs again). With it, the host's own runs on RAM
     * ({@link MemoryAccess#hostCompareExchange16}).
     */
    static boolean wide(Instruction insn) {
        return insn.prefixes().lock() && insn.map() == 1 && insn.opcode() == 0xC7 && insn.rexW()
                && !HostCpu.hasCmpxchg16b();
    }
}

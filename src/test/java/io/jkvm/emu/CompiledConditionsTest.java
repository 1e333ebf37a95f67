package io.jkvm.emu;

import io.jkvm.testing.Asm;
import io.jkvm.testing.EmuVm;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The condition and CF tests a compiled block emits for a flag record whose operation it knows
 * ({@link CompiledConditions}) give what the interpreter's flags give: CMP, ADD, ADC, SBB, TEST and AND of each size
 * on operands at and around each size's edges, then all sixteen SETcc, SBB reading the CF, and INC keeping it for
 * another SBB. The tests are the region's own bytecode, no call to a LazyFlags test but condition() for OF and PF.
 */
class CompiledConditionsTest {
    private static final long DATA = 0x150000;
    private static final int[] SIZES = {1, 2, 4, 8};
    /** CMP, ADD, ADC, SBB, TEST, AND: the r/m, reg opcode of each for 8 bits (one more for the wider sizes). */
    private static final int[] OPS = {0x38, 0x00, 0x10, 0x18, 0x84, 0x20};
    private static final int BYTES_PER_PAIR = 32;

    private static long[] edges(int size) {
        long m = CpuState.mask(size), sb = CpuState.signBit(size);
        return new long[]{0, 1, 2, sb - 1, sb, sb + 1, m - 1, m};
    }

    /**
     * For each pair of edges (a, b): RAX = a, RBX = b, CF = the pair's parity (CLC or STC, for ADC and SBB, which the
     * interpreter runs: the block that follows starts at the OP), OP AL..RAX, BL..RBX; SETcc for cc 0-15 to [RDI + cc];
     * SBB RCX, RCX and its store; INC RDX; SBB RSI, RSI and its store; RDI past the pair's 32 bytes. Then HLT.
     */
    private static byte[] guest(int size, int op) {
        Asm asm = new Asm().movImm64(7, DATA);
        long[] e = edges(size);
        int pair = 0;
        for (long a : e) {
            for (long b : e) {
                asm.movImm64(0, a).movImm64(3, b).raw(pair++ % 2 == 0 ? "f8" : "f9"); // CLC or STC: the OP starts a block
                int opcode = size == 1 ? op : op + 1;
                asm.raw(switch (size) {
                    case 2 -> "66";
                    case 8 -> "48";
                    default -> "";
                }).raw(String.format("%02xd8", opcode)); // op rax, rbx (ModRM 11 011 000)
                for (int cc = 0; cc < 16; cc++) {
                    asm.raw(String.format("0f%02x47%02x", 0x90 + cc, cc)); // setcc [rdi + cc]
                }
                asm.raw("4819c9 48894f10"); // sbb rcx, rcx; mov [rdi + 16], rcx
                asm.raw("48ffc2 4819f6 48897718"); // inc rdx; sbb rsi, rsi; mov [rdi + 24], rsi
                asm.raw("4883c720"); // add rdi, 32
            }
        }
        return asm.hlt().bytes();
    }

    private static List<Long> results(EmuVm vm, int pairs) {
        List<Long> out = new ArrayList<>();
        for (int i = 0; i < pairs * BYTES_PER_PAIR / 8; i++) {
            out.add(vm.memory.readLong(DATA + 8L * i));
        }
        return out;
    }

    @Test
    void eachConditionAndCarryIsTheInterpretersInEverySetting() {
        for (int size : SIZES) {
            for (int op : OPS) {
                int pairs = edges(size).length * edges(size).length;
                List<Long> seen = CompiledGuests.runToHltInEachSetting(guest(size, op), vm -> results(vm, pairs));
                long conditionsHeld = 0;
                for (int i = 0; i < pairs * BYTES_PER_PAIR / 8; i += 4) {
                    conditionsHeld += Long.bitCount(seen.get(i)) + Long.bitCount(seen.get(i + 1));
                }
                assertEquals(16L * pairs / 2, conditionsHeld, "one of each pair of conditions holds, size " + size + ", op "
                        + Integer.toHexString(op));
            }
        }
    }

    /**
     * A pair's block (CMP, ADD or AND of 32 bits, the SETccs, the SBBs) calls no LazyFlags test but condition(), for
     * the conditions without a test of their own: OF and PF after CMP; OF, BE, PF, L and LE after ADD; PF after AND.
     */
    @Test
    void theTestsAreTheBlocksOwnBytecode() {
        for (int op : new int[]{0x38, 0x00, 0x20}) {
            byte[] firstPairs = java.util.Arrays.copyOf(guest(4, op), 1024); // the block ends at the next pair's CLC
            List<String> calls = CompiledGuests.readsAndCalls(CompiledGuests.blockAt(firstPairs, 10 + 10 + 10 + 1)); // at the OP
            List<String> lazyFlags = calls.stream().filter(c -> c.startsWith("io/jkvm/emu/LazyFlags.")).toList();
            assertTrue(lazyFlags.stream().allMatch("io/jkvm/emu/LazyFlags.condition()"::equals), "op " + op + ": " + lazyFlags);
            int expected = switch (op) {
                case 0x38 -> 4;
                case 0x00 -> 10;
                default -> 2;
            }; // each either way
            assertEquals(expected, Collections.frequency(lazyFlags, "io/jkvm/emu/LazyFlags.condition()"), "op " + op + ": " + calls);
        }
    }
}

package io.jkvm.emu;

import io.jkvm.testing.Asm;
import io.jkvm.testing.EmuVm;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * LOCK ADD, OR, AND, SUB, XOR (register and immediate), INC, DEC, XADD and CMPXCHG of 4 and 8 bytes compiled: one
 * compare-and-swap with the registers and flags in the method's locals on a direct, aligned operand, the interpreter's
 * locked path on any other (misaligned, across a page, on a page of decoded code, read-only). The same registers,
 * flags and memory as the interpreter's in every setting, and a fault on the interpreter's way as precise.
 */
class CompiledLockedTest {
    private static final long DATA = 0x150000;
    /**
     * rbx = DATA; ecx = 300; r8 = r9 = 0; 1: each locked form in turn on [rbx + 8k], each followed by a call that folds
     * RFLAGS into r9 (pushfq; pop rdx; and edx, 0x8d5; imul r9, r9, 31; add r9, rdx; ret), XADD's and CMPXCHG's
     * registers added to r8 (a CMPXCHG that fails on odd rounds); then LOCK XADD on [rbx + 130] (misaligned), LOCK ADD
     * on [rbx + 0xffc] (across a page) and LOCK INC on a dword after the code (its page holds decoded code); dec ecx;
     * jnz 1b; mov r10d, that dword; hlt (assembled with llvm-mc).
     */
    private static final String LOOP = "b92c0100004531c04531c989c8c1e01cf00103e819010000f048816b0867452301e80b010000f0"
            + "094b10e8020100004889ca48c1e23cf048215318e8f1000000f0314320e8e8000000f048834328fde8dd000000f0814b3000000080"
            + "e8d0000000f0816334feffff7fe8c3000000f0836b3807e8b9000000f04883734055e8ae000000f048294b48e8a4000000f0ff4350"
            + "e89b000000f048ff4b58e89100000089cef00fc17360e8850000004901f04889ce48f7def0480fc17368e8710000004901f08b4370"
            + "8d1408f6c1017402ffc0f00fb15370e8570000004901c048c7c0fffffffff0480fb14b78e8420000004901c0b801000000f00fc183"
            + "82000000e82d0000004901c0f0488383fc0f000005e81c000000f0ff052c000000e810000000ffc90f85e2feffff448b1518000000"
            + "f49c5a81e2d50800004d6bc91f4901d1c30f1f80000000000000000000000000";

    private static byte[] guest() {
        return new Asm().movImm64(3, DATA).raw(LOOP).bytes();
    }

    private static List<Long> memory(EmuVm vm) {
        List<Long> seen = new ArrayList<>();
        for (int k = 0; k <= 17; k++) {
            seen.add(vm.memory.readLong(DATA + 8L * k));
        }
        seen.add(vm.memory.readLong(DATA + 0xFF8));
        seen.add(vm.memory.readLong(DATA + 0x1000));
        return seen;
    }

    @Test
    void everyLockedFormGetsTheInterpretersRegistersFlagsAndMemoryInEverySetting() {
        List<Long> interpreter = CompiledGuests.runToHltInEachSetting(guest(), CompiledLockedTest::memory);
        assertEquals(List.of(300L, 0xFFFF_FFFF_FFFF_FED4L), List.of(interpreter.get(10), interpreter.get(11)),
                "LOCK INC dword and LOCK DEC qword, 300 times each");
        assertEquals(5L * 300 << 32, interpreter.get(18) & 0xFFFF_FFFF_0000_0000L, "LOCK ADD across the page, its low half");
        assertEquals(300L, interpreter.get(20 + 10), "R10: LOCK INC on the code's page, 300 times");
    }

    @ParameterizedTest
    @ValueSource(strings = {"blocks", "compiled"})
    void theAlignedOnesSwapInPlaceAndTheOthersTakeTheInterpretersWay(String execution) {
        ExecutionTest.with(execution, () -> {
            try (EmuVm vm = new EmuVm(guest())) {
                vm.vcpu.run();
                long inPlace = vm.vcpu.lockedInPlace();
                // 17 aligned in direct RAM a round (the first to reach the page goes through the interpreter, which makes
                // it direct), never the misaligned one, the one across a page or the one on the code's page
                assertTrue(inPlace >= 300 * 17 - 1 && inPlace <= 300 * 17, "compare-and-swaps in place: " + inPlace);
            }
            return null;
        });
    }

    @Test
    void theCompiledFormCallsTheSwapAndLeavesTheInterpretersWayForTheRest() {
        // lock xadd [rbx + 8], eax; add r8, rax; hlt
        BlockOp[] block = CompiledGuests.blockAt(HexFormat.of().parseHex("f00fc14308" + "4901c0" + "f4"), 0);
        assertEquals(BlockOp.LOCKED, block[0].op());
        List<String> calls = CompiledGuests.readsAndCalls(block);
        assertTrue(calls.contains("io/jkvm/emu/LockedInPlace.swap()"), calls.toString());
        assertTrue(calls.indexOf("io/jkvm/emu/LockedInPlace.swap()") < calls.indexOf("io/jkvm/emu/DecodedForm.run()"),
                "the swap first, the interpreter's way after it: " + calls);
    }

    /**
     * LOCK ADD [rbx], rax across a page end into a read-only page: #PF (write, present) at the second page with RIP at
     * it, both pages as they were and RFLAGS as before it, though the interpreter's split locked path reads both
     * pages and computes the sum's flags before its store faults. The flags before come from POPFQ (in the core) or
     * from CMP (a record in the compiled method's locals).
     */
    @ParameterizedTest
    @CsvSource({"interpreter, 68d50800009d", "blocks, 68d50800009d", "compiled, 68d50800009d",
            "interpreter, 83f807", "blocks, 83f807", "compiled, 83f807"})
    void aLockedStoreThatFaultsLeavesTheFlagsBeforeIt(String execution, String flagsBefore) {
        long frame = 0x300000, readOnly = 0x302000, virt = FourKilobytePages.VIRT;
        Asm code = new Asm().movImm64(3, virt + 0xFFC).raw("b805000000").raw(flagsBefore); // mov eax, 5; the flags
        long lockAdd = EmuVm.CODE + code.bytes().length;
        code.raw("f0480103").hlt(); // lock add [rbx], rax
        CompiledGuests.Fault f = CompiledGuests.fault(execution, code.bytes(), vm -> {
            FourKilobytePages.map(vm, frame, readOnly);
            vm.memory.writeLong(FourKilobytePages.pte(1), readOnly | 1); // present, not writable
            vm.memory.writeLong(frame + 0xFF8, 40L << 32);
        }, vm -> List.of(vm.memory.readLong(frame + 0xFF8), vm.memory.readLong(readOnly)));
        assertEquals(14, f.vector(), "#PF");
        assertEquals(3, f.errorCode(), "the error code: a write to a present page");
        assertEquals(virt + 0x1000, f.cr2(), "CR2: the read-only page");
        assertEquals(lockAdd, f.rip(), "the saved RIP: the LOCK ADD");
        // POPFQ set all six; CMP 5, 7: CF, SF and AF (and PF: 0xFE has seven ones, so not PF)
        assertEquals(flagsBefore.startsWith("68") ? 0x8D5 : 0x091, f.flags(), "the saved RFLAGS: those before it");
        assertEquals(List.of(40L << 32, 0L), f.after(), "both pages as they were");
    }
}

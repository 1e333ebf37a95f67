package io.jkvm.emu;

import org.junit.jupiter.api.Test;

import java.util.HexFormat;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * INC and DEC keep CF. A compiled one whose flags nothing sees does not find that CF, and a block that starts with
 * one before an instruction setting all six flags has its flags dead at its start, so a branch to it in the method
 * leaves the flag record in locals. Where CF is read after the INC (ADC), it is found as before. The loop gets the
 * interpreter's registers, flags and instruction count either way.
 */
class CompiledIncDecTest {
    /** Where the loop starts, and the block a JZ in it branches to. */
    private static final int LOOP = 0x0d, AFTER_JZ = 0x1c, INC_SEEN = 0x17;
    // mov ecx, 1000; xor eax, eax; xor ebx, ebx; xor esi, esi; xor edx, edx
    // 1: mov edi, ecx; and edi, 3; jz 2f; cmp edi, 2; inc edx; adc eax, 0
    // 2: inc esi; cmp esi, 500; adc ebx, 0; dec ecx; jnz 1b; hlt
    private static final String GUEST = "b9e8030000 31c0 31db 31f6 31d2"
            + " 89cf 83e703 7408 83ff02 ffc2 83d000"
            + " ffc6 81fef4010000 83d300 ffc9 75e2 f4";

    private static byte[] guest() {
        return HexFormat.of().parseHex(GUEST.replace(" ", ""));
    }

    @Test
    void anIncWhoseFlagsNothingReadsLeavesTheFlagsBeforeItDead() {
        BlockOp[] loop = CompiledGuests.blockAt(guest(), LOOP);
        assertEquals(BlockOp.INC, loop[4].op(), "inc edx");
        assertFalse(BlockCompiler.flagsDeadAfter(loop, 4), "INC EDX's flags: ADC reads the CF it kept");
        assertTrue(BlockCompiler.flagsDeadAfter(loop, 6), "INC ESI's flags: CMP sets them all");
        assertTrue(BlockCompiler.flagsDeadAtStart(CompiledGuests.blockAt(guest(), AFTER_JZ)),
                "inc esi; cmp esi, 500: the flags before are seen nowhere");
        assertFalse(BlockCompiler.flagsDeadAtStart(CompiledGuests.blockAt(guest(), INC_SEEN)),
                "inc edx; adc eax, 0: ADC reads the CF of before, through INC");
        // inc dword [rax]; cmp esi, 500: a fault at the INC would show the flags of before
        assertFalse(BlockCompiler.flagsDeadAtStart(CompiledGuests.blockAt(HexFormat.of().parseHex("ff00" + "81fef4010000" + "f4"), 0)));
    }

    private static List<String> calls(int offset) {
        return CompiledGuests.readsAndCalls(CompiledGuests.blockAt(guest(), offset));
    }

    @Test
    void onlyAnIncWhoseCarryIsSeenFindsIt() {
        String coreCf = "io/jkvm/emu/Core.cf()"; // the first INC finds CF in the core (later ones in the record in locals)
        assertTrue(calls(INC_SEEN).contains(coreCf), "inc edx first, ADC after: CF from the core " + calls(INC_SEEN));
        assertFalse(calls(AFTER_JZ).contains(coreCf), "inc esi first, CMP after: no CF " + calls(AFTER_JZ));
    }

    @Test
    void theLoopGetsTheInterpretersResults() {
        List<Long> interpreter = CompiledGuests.runToHltInEachSetting(guest(), vm -> List.of());
        assertEquals(250L, interpreter.get(0), "EAX: the rounds whose ECX is 1 modulo 4 carried into ADC");
        assertEquals(0L, interpreter.get(1), "ECX counted down");
        assertEquals(750L, interpreter.get(2), "EDX: the rounds whose ECX is not a multiple of 4");
        assertEquals(499L, interpreter.get(3), "EBX: the rounds with ESI below 500 after its INC");
        assertEquals(1000L, interpreter.get(6), "ESI");
    }

    // mov ecx, 1000; mov eax, 0x7ffffff0; xor ebx, ebx; xor esi, esi; xor edx, edx
    // 1: add eax, 0x01000001; adc ebx, 0; sub esi, ecx; adc ebx, 0; xor edi, edi; adc ebx, 0
    //    sub edx, eax; inc edi; adc ebx, 0; neg esi; adc ebx, 0; sbb edx, esi; inc edi; adc ebx, 0
    //    dec ecx; jnz 1b; hlt
    private static final String CARRIES = "b9e8030000 b8f0ffff7f 31db 31f6 31d2"
            + " 0501000001 83d300 29ce 83d300 31ff 83d300 29c2 ffc7 83d300 f7de 83d300 19f2 ffc7 83d300"
            + " ffc9 75d7 f4";
    private static final int CARRIES_LOOP = 0x10;

    /**
     * CF after ADD, SUB, ADC, SBB and a logical operation, and the CF INC kept, come from the record in locals by the
     * block's own tests ({@link CompiledConditions}); only NEG's goes through LazyFlags.cf. ADC adds each, SBB takes
     * ADC's, DEC keeps ADC's: the registers, flags and count are the interpreter's.
     */
    @Test
    void aCarryAfterAnAddSubLogicOrIncComesFromItsRecord() {
        byte[] guest = HexFormat.of().parseHex(CARRIES.replace(" ", ""));
        List<String> calls = CompiledGuests.readsAndCalls(CompiledGuests.blockAt(guest, CARRIES_LOOP));
        assertEquals(List.of("io/jkvm/emu/LazyFlags.cf()"), calls.stream().filter(c -> c.startsWith("io/jkvm/emu/LazyFlags.")).toList(),
                "NEG's CF alone: " + calls);
        List<Long> interpreter = CompiledGuests.runToHltInEachSetting(guest, vm -> List.of());
        assertEquals(0x680003d8L, interpreter.get(0), "EAX");
        assertEquals(0xebf4cadcL, interpreter.get(2), "EDX: less each SBB's borrow");
        assertEquals(2005L, interpreter.get(3), "EBX: the carries ADC added");
        assertEquals(0xfffffe0cL, interpreter.get(6), "ESI");
    }
}

package io.jkvm.emu;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.HexFormat;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * LFENCE, MFENCE and SFENCE are compiled forms (the host fence each stands for): the flags and registers before one
 * are there after it (a CMP's ZF read after an LFENCE, an ADD's CF after an MFENCE), in each setting as the
 * interpreter's.
 */
class CompiledFenceTest {
    private static final int ROUNDS = 3000;
    /**
     * xor eax, eax; mov ecx, ROUNDS; 1: cmp ecx, 1500; lfence; sete dl; movzx edx, dl; add rax, rdx; add rax, rcx;
     * mfence; adc rax, 0; sfence; imul rax, rax, 3; dec ecx; jnz 1b; out 0x80, al; hlt (llvm-mc's encoding).
     */
    private static final String FENCES = "31c0" + "b9" + HexFormat.of().toHexDigits(Integer.reverseBytes(ROUNDS))
            + "81f9dc050000" + "0faee8" + "0f94c2" + "0fb6d2" + "4801d0" + "4801c8" + "0faef0" + "4883d000" + "0faef8"
            + "486bc003" + "ffc9" + "75d9" + "e680" + "f4";

    private static long expected() {
        long rax = 0;
        for (long ecx = ROUNDS; ecx > 0; ecx--) {
            rax += ecx == 1500 ? 1 : 0;
            long sum = rax + ecx;
            rax = sum + (Long.compareUnsigned(sum, rax) < 0 ? 1 : 0); // ADC of the ADD's carry
            rax *= 3;
        }
        return rax;
    }

    @ParameterizedTest
    @ValueSource(strings = {"interpreter", "blocks", "compiled"})
    void flagsAndRegistersCrossAFenceInEachSetting(String execution) {
        assertEquals(expected(), CompiledGuests.loopToOut(execution, FENCES).rax());
    }
}

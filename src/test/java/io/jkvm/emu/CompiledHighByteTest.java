package io.jkvm.emu;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.HexFormat;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * AH, CH, DH and BH read by compiled forms (bits 8-15 of RAX-RBX): TEST of one with an immediate or a register, CMP of
 * one with an immediate, MOVZX and MOVSX from one, as GCC writes a test of bits 8-15 (`test ah, 0x40` for
 * `x & 0x4000`); in each setting as the interpreter's.
 */
class CompiledHighByteTest {
    private static final int ROUNDS = 3000;
    /**
     * xor r9d, r9d; mov ecx, ROUNDS; mov ebx, 0x12345678; 1: mov eax, ecx; imul eax, eax, 0x9e3779b1; test ah, 0x40;
     * setne dl; movzx edx, dl; add r9, rdx; cmp ch, 5; setb dl; movzx edx, dl; add r9, rdx; movzx edx, bh;
     * add r9, rdx; movsx edx, ah; add r9, rdx; test ah, cl; sete dl; movzx edx, dl; add r9, rdx; add ebx, eax;
     * dec ecx; jnz 1b; out 0x80, al; hlt (llvm-mc's encoding).
     */
    private static final String HIGH_BYTES = "4531c9" + "b9" + HexFormat.of().toHexDigits(Integer.reverseBytes(ROUNDS))
            + "bb78563412" + "89c8" + "69c0b179379e" + "f6c440" + "0f95c2" + "0fb6d2" + "4901d1" + "80fd05" + "0f92c2"
            + "0fb6d2" + "4901d1" + "0fb6d7" + "4901d1" + "0fbed4" + "4901d1" + "84cc" + "0f94c2" + "0fb6d2" + "4901d1"
            + "01c3" + "ffc9" + "75c3" + "e680" + "f4";

    private static long expected() {
        long r9 = 0;
        int ebx = 0x12345678;
        for (int ecx = ROUNDS; ecx > 0; ecx--) {
            int eax = ecx * 0x9E3779B1;
            int ah = eax >>> 8 & 0xFF;
            r9 += (ah & 0x40) != 0 ? 1 : 0;
            r9 += (ecx >>> 8 & 0xFF) < 5 ? 1 : 0;
            r9 += ebx >>> 8 & 0xFF;
            r9 += (byte) ah & 0xFFFF_FFFFL;
            r9 += (ah & ecx & 0xFF) == 0 ? 1 : 0;
            ebx += eax;
        }
        return r9;
    }

    @ParameterizedTest
    @ValueSource(strings = {"interpreter", "blocks", "compiled"})
    void highBytesReadByCompiledFormsAreTheInterpretersInEachSetting(String execution) {
        assertEquals(expected(), CompiledGuests.loopToOut(execution, HIGH_BYTES).gpr(9));
    }
}

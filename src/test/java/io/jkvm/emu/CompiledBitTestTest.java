package io.jkvm.emu;

import io.jkvm.x86.Registers;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.HexFormat;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * BT, BTS, BTR and BTC of a register's bit by an immediate are compiled forms: CF is the bit, the register of a set,
 * reset or complemented bit is written at its size (a doubleword's zero-extended, a word's merged), and the other
 * flags are the instruction's before them (ZF of a CMP read after a BT), in each setting as the interpreter's.
 */
class CompiledBitTestTest {
    private static final int ROUNDS = 3000;
    /**
     * xor eax, eax; mov ecx, ROUNDS; mov r8, 0x123456789abcdef0; 1: cmp ecx, 1500; bt r8, 63; setb dl; sete sil;
     * movzx edx, dl; movzx esi, sil; add rax, rdx; lea rax, [rax + 4*rsi]; btc r8, 5; adc rax, 0; bts r8d, 30;
     * adc rax, 0; btr r8w, 4; adc rax, 0; imul r8, r8, 0x2545f491; add r8, rcx; rol r8, 13; dec ecx; jnz 1b;
     * out 0x80, al; hlt (llvm-mc's encoding).
     */
    private static final String BITS = "31c0" + "b9" + HexFormat.of().toHexDigits(Integer.reverseBytes(ROUNDS))
            + "49b8f0debc9a78563412"
            + "81f9dc050000" + "490fbae03f" + "0f92c2" + "400f94c6" + "0fb6d2" + "400fb6f6" + "4801d0" + "488d04b0"
            + "490fbaf805" + "4883d000" + "410fbae81e" + "4883d000" + "66410fbaf004" + "4883d000"
            + "4d69c091f44525" + "4901c8" + "49c1c00d" + "ffc9" + "75b2" + "e680" + "f4";

    /** RAX and R8 as the loop leaves them, computed here. */
    private static long[] expected() {
        long rax = 0, r8 = 0x1234_5678_9abc_def0L;
        for (long ecx = ROUNDS; ecx > 0; ecx--) {
            rax += (r8 >>> 63) + (ecx == 1500 ? 4 : 0);
            rax += r8 >>> 5 & 1;
            r8 ^= 32;
            rax += r8 >>> 30 & 1;
            r8 = (r8 | 1L << 30) & 0xFFFF_FFFFL;
            rax += r8 >>> 4 & 1;
            r8 &= ~16L;
            r8 = Long.rotateLeft(r8 * 0x2545F491L + ecx, 13);
        }
        return new long[] {rax, r8};
    }

    @ParameterizedTest
    @ValueSource(strings = {"interpreter", "blocks", "compiled"})
    void bitTestsOfARegisterAreTheInterpretersInEachSetting(String execution) {
        long[] want = expected();
        Registers end = CompiledGuests.loopToOut(execution, BITS);
        assertEquals(want[0], end.rax(), "the bits and the CMP's ZF, summed");
        assertEquals(want[1], end.gpr(8), "R8 after its bits were set, reset and complemented");
    }
}

package io.jkvm.emu;

import io.jkvm.testing.Asm;
import io.jkvm.testing.EmuVm;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.HexFormat;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * IMUL whose flags the next instruction overwrites is compiled to the product's low bits alone: 64-, 32- and 16-bit
 * destinations (zero-extended, the rest kept), register and immediate forms, with the interpreter's results.
 */
class CompiledMultiplyTest {
    private static final long A = 0x1234_5678_9ABC_DEF1L, C = 0xFEDC_BA98_7654_3211L, D = 0x0F0F_0F0F_0F0F_0F0FL;
    /**
     * mov ebp, 30000; 1: imul rax, rcx; add rax, rdx; imul esi, eax, 0x7ff1; add esi, 1; imul di, si; add edi, ecx;
     * imul rbx, rax, -7; sub rbx, rsi; dec ebp; jnz 1b; out 0x80, al.
     */
    private static final String LOOP = "bd30750000" + "480fafc1" + "4801d0" + "69f0f17f0000" + "83c601" + "660faffe"
            + "01cf" + "486bd8f9" + "4829f3" + "ffcd" + "75df" + "e680";

    @ParameterizedTest
    @ValueSource(strings = {"interpreter", "blocks", "compiled"})
    void multipliesWhoseFlagsNobodySeesKeepTheProductsLowBits(String execution) {
        Asm setup = new Asm().movImm64(0, A).movImm64(1, C).movImm64(2, D).movImm64(6, 0).movImm64(7, -1).movImm64(3, 0);
        byte[] loop = HexFormat.of().parseHex(LOOP);
        byte[] code = new byte[setup.bytes().length + loop.length];
        System.arraycopy(setup.bytes(), 0, code, 0, setup.bytes().length);
        System.arraycopy(loop, 0, code, setup.bytes().length, loop.length);
        long rax = A, rsi = 0, rdi = -1, rbx = 0;
        for (int n = 0; n < 30000; n++) {
            rax = rax * C + D;
            rsi = ((int) rax * 0x7ff1 + 1) & 0xFFFF_FFFFL;
            rdi = (rdi & ~0xFFFFL) | (((short) rdi * (short) rsi) & 0xFFFF);
            rdi = (rdi + C) & 0xFFFF_FFFFL;
            rbx = rax * -7 - rsi;
        }
        long[] expected = {rax, rsi, rdi, rbx};
        ExecutionTest.with(execution, () -> {
            try (EmuVm vm = new EmuVm(code)) {
                vm.nextOut(0x80);
                var r = vm.vcpu.registers();
                assertEquals(expected[0], r.rax(), "RAX: 64-bit IMUL r, r/m");
                assertEquals(expected[1], r.rsi(), "RSI: 32-bit IMUL r, r/m, imm32, zero-extended");
                assertEquals(expected[2], r.rdi(), "RDI: 16-bit IMUL r, r/m, then a 32-bit ADD");
                assertEquals(expected[3], r.rbx(), "RBX: 64-bit IMUL r, r/m, imm8");
            }
            return null;
        });
    }
}

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
    /**
     * RAX and RCX set; push rcx; mov ebp, 20000; 1: mul rcx; add rax, rdx; mov r8, rax; imul rcx; adc r9, 0; mul ecx; xor eax, edx;
     * imul dword [rsp]; seto r10b; add r11, r10; mul qword [rsp]; sbb r12, rdx; imul ecx; lea rax, [rax + r8 + 1];
     * add rcx, rdx; dec ebp; jnz 1b; hlt (assembled with llvm-mc). The flags of some are dead, others read.
     */
    private static final String WIDENING = "51bd204e0000" + "48f7e1" + "4801d0" + "4989c0" + "48f7e9" + "4983d100"
            + "f7e1" + "31d0" + "f72c24" + "410f90c2" + "4d01d3" + "48f72424" + "4919d4" + "f7e9" + "4a8d440001"
            + "4801d1" + "ffcd" + "75cd" + "f4";

    @org.junit.jupiter.api.Test
    void oneOperandMultipliesAreCompiledWithTheInterpretersResults() {
        byte[] setup = new Asm().movImm64(0, A).movImm64(1, C).bytes();
        byte[] loop = HexFormat.of().parseHex(WIDENING);
        byte[] code = java.util.Arrays.copyOf(setup, setup.length + loop.length);
        System.arraycopy(loop, 0, code, setup.length, loop.length);
        java.util.List<String> calls = CompiledGuests.readsAndCalls(CompiledGuests.blockAt(code, setup.length + 6));
        org.junit.jupiter.api.Assertions.assertFalse(calls.contains("io/jkvm/emu/DecodedForm.run()"), calls.toString());
        org.junit.jupiter.api.Assertions.assertTrue(calls.contains("java/lang/Math.unsignedMultiplyHigh()"),
                "MUL RCX, whose flags ADD overwrites: its halves in locals " + calls);
        org.junit.jupiter.api.Assertions.assertTrue(calls.contains("io/jkvm/emu/Arithmetic.mul()"),
                "IMUL RCX, whose CF ADC reads: through the interpreter's mul " + calls);
        java.util.function.Function<EmuVm, java.util.List<Long>> none = vm -> java.util.List.of();
        java.util.List<Long> interpreter = CompiledGuests.runToHltInEachSetting(code, none);
        org.junit.jupiter.api.Assertions.assertNotEquals(0L, interpreter.get(9), "R9: some IMUL RCX overflowed");
        org.junit.jupiter.api.Assertions.assertNotEquals(0L, interpreter.get(11), "R11: some IMUL of a dword overflowed (SETO)");
    }
}

package io.jkvm.emu;

import io.jkvm.testing.Asm;
import io.jkvm.testing.EmuVm;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * DIV and IDIV of every size (register and memory operands), PAUSE and RDTSC compiled: the interpreter's results in
 * every setting, the flags DIV leaves as they were, the TSC never going back, and #DE at a compiled DIV precise.
 */
class CompiledDivideTest {
    private static final long DATA = 0x150000;
    /**
     * rbx = DATA; ebp = 3000; rcx = 0x123456789; [rbx] = 0x1234, [rbx + 8] = 0x7b, [rbx + 16] = -0x12345; 1: rdtsc
     * into r14; pause; rdtsc again, r15 += (it is below r14); rax = rbp * 0x9e3779b97f4a7c15, xor edx, edx; div rcx;
     * r9 += rax, r10 += rdx; eax = ebp << 7; cdq; idiv esi (-7); the same sums; eax = ebp; xor edx, edx; div word
     * [rbx]; r11 += rax + rdx; eax = ebp; div byte [rbx + 8]; r11 += rax; rax = rbp * r8; cqo; cmp ebp, ecx; idiv
     * qword [rbx + 16]; setb r12b (CMP's CF: DIV leaves the flags); r13 += r12; the sums; dec ebp; jnz 1b;
     * xor r14d, r14d; hlt (assembled with llvm-mc).
     */
    private static final String LOOP = ""
            + "bdb80b000048b9896745230100000048c7033412000048c743087b00000048c74310bbdcfeff0f3148c1e2204809c24989d6"
            + "f3900f3148c1e2204809c24c39f24983d7004889e849b8157c4a7fb979379e490fafc031d248f7f14901c14901d289e8c1e0"
            + "0799bef9fffffff7fe4901c14901d289e831d266f7334901c34901d389e8f673084901c34889e8490fafc0489939cd48f77b"
            + "10410f92c44d01e54901c14901d2ffcd0f857affffff4531f6f4";
    private static final int LOOP_START = 38;

    private static byte[] guest() {
        return new Asm().movImm64(3, DATA).raw(LOOP).bytes();
    }

    @Test
    void theLoopCompilesWholeAndGetsTheInterpretersRegistersInEverySetting() {
        BlockOp[] body = Arrays.copyOf(CompiledGuests.blockAt(HexFormat.of().parseHex(LOOP), LOOP_START), 43);
        assertEquals(BlockOp.JCC, body[42].op(), "the loop, to its JNZ");
        assertEquals(List.of(), Arrays.stream(body).filter(d -> !BlockCompiler.compiled(d)).toList(), "every op compiles");
        List<Long> interpreter = CompiledGuests.runToHltInEachSetting(guest(), vm -> List.of());
        assertEquals(List.of(3000L, 0L), List.of(interpreter.get(13), interpreter.get(15)),
                "R13: CMP's CF read after each IDIV; R15: no RDTSC below the one before");
    }

    /** xor esi, esi; mov ecx, 5; cmp ecx, 7; div esi: #DE with RIP at the DIV and CMP's flags. */
    @ParameterizedTest
    @ValueSource(strings = {"interpreter", "blocks", "compiled"})
    void aDivideByZeroFaultsPrecisely(String execution) {
        Asm code = new Asm().movImm64(0, 0x1234).raw("31f6" + "b905000000" + "83f907");
        long div = EmuVm.CODE + code.bytes().length;
        code.raw("f7f6").hlt();
        CompiledGuests.Fault f = CompiledGuests.fault(execution, code.bytes(), vm -> { }, vm -> List.of());
        assertEquals(List.of(0L, div, 0x91L), List.of(f.vector(), f.rip(), f.flags()),
                "#DE, the saved RIP at the DIV, the saved RFLAGS CMP's");
    }
}

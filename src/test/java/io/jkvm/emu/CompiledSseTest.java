package io.jkvm.emu;

import io.jkvm.testing.Asm;
import io.jkvm.testing.EmuVm;
import io.jkvm.x86.Registers;
import io.jkvm.x86.VcpuExit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.FieldSource;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The SSE2 and SSSE3 forms ({@link SseForms}) compiled to calls of the interpreter's own {@link SseLanes} methods:
 * each kind, lane size and register (XMM8-15, a register with itself, MOVD/MOVQ with 32- and 64-bit and REX general
 * registers), with a register and with a memory operand (aligned, unaligned where the form allows it, indexed), on
 * random values with the interpreter's results in every setting; #NM with CR0.TS set and #GP at a misaligned operand as
 * precise as the interpreter's.
 */
class CompiledSseTest {
    private static final long DATA = 0x150000;
    /** XMM0-15 from DATA (movdqu xmmN, [rbx + 16N]); mov r8, 0x0123456789abcdef (assembled with llvm-mc). */
    private static final String LOAD = "f30f6f03f30f6f4b10f30f6f5320f30f6f5b30f30f6f6340f30f6f6b50f30f6f7360f30f6f7b70f3440f6f8380000000f344"
            + "0f6f8b90000000f3440f6f93a0000000f3440f6f9bb0000000f3440f6fa3c0000000f3440f6fabd0000000f3440f6fb3e000"
            + "0000f3440f6fbbf000000049b8efcdab8967452301";
    /** XMM0-15 to DATA + 256 (movdqu [rbx + 256 + 16N], xmmN); hlt. */
    private static final String STORE = "f30f7f8300010000f30f7f8b10010000f30f7f9320010000f30f7f9b30010000f30f7fa340010000f30f7fab50010000f30f"
            + "7fb360010000f30f7fbb70010000f3440f7f8380010000f3440f7f8b90010000f3440f7f93a0010000f3440f7f9bb0010000"
            + "f3440f7fa3c0010000f3440f7fabd0010000f3440f7fb3e0010000f3440f7fbbf0010000f4";
    /** Each form once (assembled with llvm-mc, the two MOVQs through 66 REX.W 0F 6E/7E by hand). */
    private static final List<String> FORMS = List.of(
            "660ffcc1", // paddb xmm0, xmm1
            "66410ffdc9", // paddw xmm1, xmm9
            "660ffed2", // paddd xmm2, xmm2
            "66440fd4d3", // paddq xmm10, xmm3
            "66410ff8db", // psubb xmm3, xmm11
            "66440ff9dc", // psubw xmm11, xmm4
            "66410ffae4", // psubd xmm4, xmm12
            "66440ffbe5", // psubq xmm12, xmm5
            "660f74e8", // pcmpeqb xmm5, xmm0
            "66440f75e9", // pcmpeqw xmm13, xmm1
            "660f76f6", // pcmpeqd xmm6, xmm6
            "66440f64f2", // pcmpgtb xmm14, xmm2
            "660f65fb", // pcmpgtw xmm7, xmm3
            "66440f66fc", // pcmpgtd xmm15, xmm4
            "66410fdbc0", // pand xmm0, xmm8
            "66410fdfc9", // pandn xmm1, xmm9
            "66410febd2", // por xmm2, xmm10
            "66410fefdb", // pxor xmm3, xmm11
            "410f54e4", // andps xmm4, xmm12
            "66410f55ed", // andnpd xmm5, xmm13
            "410f56f6", // orps xmm6, xmm14
            "66410f57ff", // xorpd xmm7, xmm15
            "66440f60c0", // punpcklbw xmm8, xmm0
            "66440f61c9", // punpcklwd xmm9, xmm1
            "66450f62d2", // punpckldq xmm10, xmm10
            "66440f6cdb", // punpcklqdq xmm11, xmm3
            "66440f6de4", // punpckhqdq xmm12, xmm4
            "66440f70ed1b", // pshufd xmm13, xmm5, 0x1b
            "660f70f639", // pshufd xmm6, xmm6, 0x39
            "66440f3800f7", // pshufb xmm14, xmm7
            "660f3800ff", // pshufb xmm7, xmm7
            "660f71f003", // psllw xmm0, 3
            "660f72f11f", // pslld xmm1, 31
            "660f73f228", // psllq xmm2, 40
            "660f71d311", // psrlw xmm3, 17
            "660f72d405", // psrld xmm4, 5
            "66410f73d43f", // psrlq xmm12, 63
            "66410f71e509", // psraw xmm13, 9
            "66410f72e621", // psrad xmm14, 33
            "66440f6ff8", // movdqa xmm15, xmm0
            "f3410f6fc1", // movdqu xmm0, xmm9
            "440f28c9", // movaps xmm9, xmm1
            "410f10cf", // movups xmm1, xmm15
            "66410f28d0", // movapd xmm2, xmm8
            "66440f10c3", // movupd xmm8, xmm3
            "f3410f7ede", // movq xmm3, xmm14
            "f30f7ee4", // movq xmm4, xmm4
            "66410f6ee8", // movd xmm5, r8d
            "66490f6ef0", // movq xmm6, r8
            "660f7ef8", // movd eax, xmm7
            "664d0f7ee9", // movq r9, xmm13
            "66410f7eca", // movd r10d, xmm1
            // with a memory operand at DATA + 0x200 (aligned where the form requires it)
            "660f6f9b00020000", // movdqa xmm3, [rbx + 0x200]
            "f3440f6f9b01020000", // movdqu xmm11, [rbx + 0x201]
            "0f28a310020000", // movaps xmm4, [rbx + 0x210]
            "440f10a308020000", // movups xmm12, [rbx + 0x208]
            "660f289300020000", // movapd xmm2, [rbx + 0x200]
            "660f108b0f020000", // movupd xmm1, [rbx + 0x20f]
            "660f7fab00020000", // movdqa [rbx + 0x200], xmm5
            "f3440f7fab03020000", // movdqu [rbx + 0x203], xmm13
            "0f298b10020000", // movaps [rbx + 0x210], xmm1
            "440f118b09020000", // movups [rbx + 0x209], xmm9
            "660fef9300020000", // pxor xmm2, [rbx + 0x200]
            "66440fdf8b10020000", // pandn xmm9, [rbx + 0x210]
            "440f548b00020000", // andps xmm9, [rbx + 0x200]
            "66440ffe9310020000", // paddd xmm10, [rbx + 0x210]
            "660ffb8b00020000", // psubq xmm1, [rbx + 0x200]
            "660ffc84cb00020000", // paddb xmm0, [rbx + rcx*8 + 0x200]
            "660f748300020000", // pcmpeqb xmm0, [rbx + 0x200]
            "66440f66bb10020000", // pcmpgtd xmm15, [rbx + 0x210]
            "660f62b300020000", // punpckldq xmm6, [rbx + 0x200]
            "660f6db310020000", // punpckhqdq xmm6, [rbx + 0x210]
            "660f70bb0002000093", // pshufd xmm7, [rbx + 0x200], 0x93
            "66440f38008310020000", // pshufb xmm8, [rbx + 0x210]
            "660f6eab04020000", // movd xmm5, [rbx + 0x204]
            "f30f7eb30b020000", // movq xmm6, [rbx + 0x20b]
            "f30f7ebb0c020000", // movq xmm7, [rbx + 0x20c]
            "66440f7e830c020000", // movd [rbx + 0x20c], xmm8
            "66440fd68b01020000", // movq [rbx + 0x201], xmm9
            "66440fd6b308020000", // movq [rbx + 0x208], xmm14
            "66480f6eb30b020000", // movq xmm6, [rbx + 0x20b] (66 REX.W 0F 6E)
            "664c0f7e8b01020000" // movq [rbx + 0x201], xmm9 (66 REX.W 0F 7E)
    );

    /** The guest: rbx = DATA, the registers loaded, {@code form}, the registers stored. */
    private static byte[] guest(String form) {
        return new Asm().movImm64(3, DATA).raw(LOAD + form + STORE).bytes();
    }

    /**
     * XMM0-15 as stored, the memory operands' bytes, the general registers and the instruction count after the guest
     * ran in {@code setting}.
     */
    private static List<Long> run(String setting, String form) {
        return run(setting, "max", form, null);
    }

    /** As {@link #run(String, String)} on the CPU model {@code cpu}, the vCPU's {@link CoreStats} to {@code stats}. */
    private static List<Long> run(String setting, String cpu, String form, CoreStats[] stats) {
        return ExecutionTest.with(setting, () -> {
            try (EmuVm vm = new EmuVm(cpu, guest(form))) {
                long v = 0x9E3779B97F4A7C15L;
                for (int i = 0; i < 96; i++) { // random registers and memory: no result all zeros or ones by chance
                    v = v * 6364136223846793005L + 1442695040888963407L;
                    vm.memory.writeLong(DATA + 8L * i, v ^ v >>> 29);
                }
                assertInstanceOf(VcpuExit.Hlt.class, vm.vcpu.run(), setting);
                List<Long> seen = new ArrayList<>();
                for (int i = 0; i < 32; i++) {
                    seen.add(vm.memory.readLong(DATA + 256 + 8L * i));
                }
                for (int i = 0; i < 6; i++) {
                    seen.add(vm.memory.readLong(DATA + 0x1F8 + 8L * i)); // what the stores wrote
                }
                Registers r = vm.vcpu.registers();
                for (int g = 0; g < 16; g++) {
                    seen.add(r.gpr(g));
                }
                seen.add(vm.vcpu.instructions());
                if (stats != null) {
                    stats[0] = vm.vcpu.coreStats();
                }
                return seen;
            }
        });
    }

    @Test
    void eachFormIsAnSseOpTheCompilerTakes() {
        for (String form : FORMS) {
            BlockOp[] ops = CompiledGuests.blockAt(HexFormat.of().parseHex(form + "f4"), 0);
            assertEquals(1, ops.length, form);
            assertEquals(BlockOp.SSE, ops[0].op(), form);
        }
        assertEquals(List.of(), Arrays.stream(CompiledGuests.blockAt(HexFormat.of().parseHex(LOAD + FORMS.get(0) + STORE), 0))
                .filter(d -> d.op() != BlockOp.SSE && d.op() != BlockOp.INTERPRETED && !BlockCompiler.compiled(d)).toList(),
                "the guest is one block the compiler takes whole");
    }

    @ParameterizedTest
    @FieldSource("FORMS")
    void eachFormGetsTheInterpretersRegistersInEverySetting(String form) {
        List<Long> interpreter = run("interpreter", form);
        assertNotEquals(run("interpreter", "0f1f00"), interpreter, "the form changes a register (a NOP in its place)");
        assertEquals(interpreter, run("blocks", form));
        assertEquals(interpreter, run("compiled", form));
    }

    /**
     * The block executor runs the forms from their ops ({@link SseForms#run}): all of them one after the other, with
     * the interpreter's registers and memory, and none through the interpreter.
     */
    @Test
    void blocksRunTheFormsWithoutTheInterpreter() {
        String all = String.join("", FORMS);
        assertEquals(run("interpreter", all), run("blocks", all));
        ExecutionTest.with("blocks", () -> {
            try (EmuVm vm = new EmuVm(guest(all))) {
                assertInstanceOf(VcpuExit.Hlt.class, vm.vcpu.run());
                assertEquals(0, vm.vcpu.interpretedInBlocks(), "instructions the interpreter ran in blocks");
                assertTrue(vm.vcpu.instructions() > FORMS.size() + 32, "the guest ran: " + vm.vcpu.instructions());
                return null;
            }
        });
    }

    /**
     * A loop of SSE2 ops (mov ecx, 3000; 1: paddd xmm0, xmm1; pxor xmm2, xmm0; psubw xmm3, xmm2; dec ecx; jnz 1b) on a
     * model without SSSE3: only PSHUFB needs it, so the region runs compiled, with the interpreter's results.
     */
    @Test
    void sse2RegionsRunCompiledOnAModelWithoutSsse3() {
        String loop = "b9b80b0000" + "660ffec1" + "660fefd0" + "660ff9da" + "ffc9" + "75f0";
        CoreStats[] stats = new CoreStats[1];
        List<Long> compiled = run("compiled", "max,-ssse3", loop, stats);
        assertEquals(run("interpreter", "max,-ssse3", loop, null), compiled);
        assertTrue(stats[0].inCompiledRegions() > 3 * 3000, stats[0].summary());
    }

    /**
     * With CR0.TS set: mov ecx, 5; cmp ecx, 7; pxor xmm0, xmm1: #NM with RIP at PXOR and CMP's flags (CF, AF, SF),
     * which the compiled method held in its locals.
     */
    @ParameterizedTest
    @ValueSource(strings = {"interpreter", "blocks", "compiled"})
    void anSseFormWithTheFpuTakenAwayFaultsPrecisely(String execution) {
        Asm code = new Asm().raw("0f20c083c8080f22c0" + "b905000000" + "83f907"); // CR0.TS; mov ecx, 5; cmp ecx, 7
        long pxor = EmuVm.CODE + code.bytes().length;
        code.raw("660fefc1").hlt();
        CompiledGuests.Fault f = CompiledGuests.fault(execution, code.bytes(), vm -> { }, vm -> List.of());
        assertEquals(List.of(7L, pxor, 0x91L), List.of(f.vector(), f.rip(), f.flags()),
                "#NM, the saved RIP at the PXOR, the saved RFLAGS CMP's");
    }

    /**
     * PADDD from and MOVDQA to [rbx + 0x208], 8 bytes off 16, after a CMP: #GP(0) with RIP at it, RFLAGS as CMP left
     * them and the memory as it was, in every setting.
     */
    @ParameterizedTest
    @CsvSource({"interpreter, 660ffe8b08020000", "blocks, 660ffe8b08020000",
            "compiled, 660ffe8b08020000", "interpreter, 660f7f8b08020000", "blocks, 660f7f8b08020000",
            "compiled, 660f7f8b08020000"})
    void aMisalignedOperandFaultsPrecisely(String execution, String form) {
        Asm code = new Asm().movImm64(3, DATA).raw("660f76c9" + "b905000000" + "83f907"); // pcmpeqd xmm1, xmm1; cmp 5, 7
        long at = EmuVm.CODE + code.bytes().length;
        code.raw(form).hlt(); // paddd xmm1, [rbx + 0x208] or movdqa [rbx + 0x208], xmm1
        CompiledGuests.Fault f = CompiledGuests.fault(execution, code.bytes(), vm -> { },
                vm -> List.of(vm.memory.readLong(DATA + 0x208), vm.memory.readLong(DATA + 0x210)));
        assertEquals(List.of(13L, 0L, at, 0x91L), List.of(f.vector(), f.errorCode(), f.rip(), f.flags()),
                "#GP(0), the saved RIP at the misaligned form, the saved RFLAGS CMP's");
        assertEquals(List.of(0L, 0L), f.after(), "the memory as it was");
    }
}

package io.jkvm.emu;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * A region's method called with no core, as {@link RegionWarmth} calls each new class to have the JIT compile it,
 * returns at once: it reads no register, runs no instruction and reaches no memory, whatever the region holds. The
 * oracle tests run the probed classes in the "blocks" and "compiled" settings and hold their results to the
 * interpreter's.
 */
class RegionWarmthTest {
    @ParameterizedTest
    @ValueSource(strings = {
            "48ffc3" + "ebfb", // 1: inc rbx; jmp 1b
            "488b07" + "480103" + "48894708" + "ebf4", // 1: mov rax, [rdi]; add [rbx], rax; mov [rdi+8], rax; jmp 1b
            "53" + "4883ec18" + "48893c24" + "5b" + "c3", // push rbx; sub rsp, 24; mov [rsp], rdi; pop rbx; ret
            "f00fc103" + "660fefc1" + "480fa3c3", // lock xadd [rbx], eax; pxor xmm0, xmm1; bt rbx, rax (decoded form)
    })
    void aProbeWithNoCoreReturnsAtOnce(String hex) {
        CompiledBlock code = BlockCompiler.compile(BlockCompiler.fit(BlockRegion.of(CompiledGuests.decode(hex))));
        assertEquals(0, code.run(null), "no instruction ran");
        RegionWarmth.probe(code); // a thousand more: none throws
        assertEquals(0, code.at(0).run(null));
    }
}

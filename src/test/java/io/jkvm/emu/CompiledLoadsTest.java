package io.jkvm.emu;

import org.junit.jupiter.api.Test;

import java.util.Collections;
import java.util.HexFormat;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * What the compiled code of a memory access asks of the core besides the access. Only a store ends a block early (a
 * store to a device, or over decoded code, sets {@code endBlock}): a store through the compiled accessors, a push's
 * too, tests what the write returned (its direct path returns a constant). An instruction whose one access is a load
 * or a store (a pop, a push) has the accessor's full path retire its MMIO log; a read-modify-write asks
 * {@code mmioCount} once.
 * CompiledBlockExitTest runs a compiled load from a device; DecodedCodeTest, stores over decoded code.
 */
class CompiledLoadsTest {
    private static long reads(String field, String hex) {
        BlockOp[] insns = CompiledGuests.blockAt(HexFormat.of().parseHex(hex.replace(" ", "")), 0);
        return Collections.frequency(CompiledGuests.readsAndCalls(insns), field);
    }

    @Test
    void loadsAskNothingOfEndBlock() {
        // mov rax, [rbx]; pop rcx; cmp [rbx], eax; cmp dword [rbx], 5; add rax, [rbx + 8]; movzx edx, byte [rbx + 16]; hlt
        assertEquals(0, reads("endBlock", "488b03 59 3903 833b05 48034308 0fb65310 f4"));
    }

    @Test
    void storesAndPushesTestWhatTheWriteReturned() {
        assertEquals(0, reads("endBlock", "830305 f4"), "add dword [rbx], 5");
        assertEquals(0, reads("endBlock", "48894308 f4"), "mov [rbx + 8], rax");
        assertEquals(0, reads("endBlock", "488b03 48894308 51 f4"), "mov rax, [rbx]; mov [rbx + 8], rax; push rcx");
        assertEquals(0, reads("endBlock", "51 e8faffffff"), "1: push rcx; call 1b (in the region: on in the method)");
    }

    /**
     * A read-modify-write looks up its page's direct write entry once, and its read and its store take the host
     * address found (their full paths when there is none); a load or a store alone looks up its own.
     */
    @Test
    void aReadModifyWriteLooksUpItsPageOnce() {
        String[][] forms = {{"830305 f4", "add dword [rbx], 5", "32"}, {"48ff03 f4", "inc qword [rbx]", "64"},
                {"f61b f4", "neg byte [rbx]", "8"}, {"48c12305 f4", "shl qword [rbx], 5", "64"}};
        for (String[] f : forms) {
            assertEquals(1, reads("io/jkvm/emu/Core.compiledWriteAddress()", f[0]), f[1]);
            assertEquals(1, reads("io/jkvm/emu/Core.readAt" + f[2] + "()", f[0]), f[1]);
            assertEquals(1, reads("io/jkvm/emu/Core.writeAt" + f[2] + "()", f[0]), f[1]);
            assertEquals(0, reads("io/jkvm/emu/Core.read" + f[2] + "()", f[0]) + reads("io/jkvm/emu/Core.write" + f[2] + "()", f[0]),
                    f[1] + ": no access of its own");
        }
        assertEquals(0, reads("io/jkvm/emu/Core.compiledWriteAddress()", "488b03 f4"), "mov rax, [rbx]");
        assertEquals(0, reads("io/jkvm/emu/Core.compiledWriteAddress()", "48894308 f4"), "mov [rbx + 8], rax");
    }

    /** A load and a store through one base share the one look-up of their span (AddressRuns): no access of their own. */
    @Test
    void anAddressRunLooksUpItsSpanOnce() {
        String run = "488b03 4801c8 48894308 f4"; // mov rax, [rbx]; add rax, rcx; mov [rbx + 8], rax
        assertEquals(1, reads("io/jkvm/emu/Core.compiledWriteAddress()", run));
        assertEquals(1, reads("io/jkvm/emu/Core.readAt64()", run));
        assertEquals(1, reads("io/jkvm/emu/Core.writeAt64()", run));
        assertEquals(0, reads("io/jkvm/emu/Core.read64()", run) + reads("io/jkvm/emu/Core.write64()", run));
        // an ADD to RBX between: two accesses through different addresses, each with its own look-up
        String apart = "488b03 4801cb 48894308 f4";
        assertEquals(0, reads("io/jkvm/emu/Core.compiledWriteAddress()", apart));
        assertEquals(2, reads("io/jkvm/emu/Core.read64()", apart) + reads("io/jkvm/emu/Core.write64()", apart));
    }

    @Test
    void anInstructionsOneAccessRetiresItsMmioLogOnItsFullPath() {
        assertEquals(0, reads("mmioCount", "488b03 f4"), "mov rax, [rbx]");
        assertEquals(0, reads("mmioCount", "48894308 f4"), "mov [rbx + 8], rax");
        assertEquals(1, reads("mmioCount", "830305 f4"), "add dword [rbx], 5: a read, then a store");
        assertEquals(0, reads("mmioCount", "59 f4"), "pop rcx");
        assertEquals(0, reads("mmioCount", "51 c3"), "push rcx; ret");
    }
}

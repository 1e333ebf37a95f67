package io.jkvm.emu;

import org.junit.jupiter.api.Test;

import java.util.Collections;
import java.util.HexFormat;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Only a store ends a block early (a store to a device, or over decoded code, sets {@code endBlock}): the compiled code
 * of a load asks only whether the MMIO log needs retiring, a store's asks both. CompiledBlockExitTest runs a compiled
 * load from a device; DecodedCodeTest, stores over decoded code.
 */
class CompiledLoadsTest {
    private static long endBlockReads(String hex) {
        BlockOp[] insns = CompiledGuests.blockAt(HexFormat.of().parseHex(hex.replace(" ", "")), 0);
        return Collections.frequency(CompiledGuests.readsAndCalls(insns), "endBlock");
    }

    @Test
    void loadsAskNothingOfEndBlock() {
        // mov rax, [rbx]; pop rcx; cmp [rbx], eax; cmp dword [rbx], 5; add rax, [rbx + 8]; movzx edx, byte [rbx + 16]; hlt
        assertEquals(0, endBlockReads("488b03 59 3903 833b05 48034308 0fb65310 f4"));
    }

    @Test
    void eachStoreAsksEndBlock() {
        assertEquals(1, endBlockReads("830305 f4"), "add dword [rbx], 5");
        assertEquals(1, endBlockReads("48894308 f4"), "mov [rbx + 8], rax");
        assertEquals(2, endBlockReads("488b03 48894308 51 f4"), "mov rax, [rbx]; mov [rbx + 8], rax; push rcx");
    }
}

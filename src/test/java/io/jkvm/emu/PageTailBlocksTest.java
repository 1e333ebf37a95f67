package io.jkvm.emu;

import io.jkvm.testing.Asm;
import io.jkvm.testing.EmuVm;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.HexFormat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A decoded block may go on past its page's end into the next page in linear order (its tail): it is gone when the
 * guest stores over its tail, and it runs only while the next page is still the one it was decoded with.
 */
class PageTailBlocksTest {
    @ParameterizedTest
    @ValueSource(strings = {"interpreter", "blocks", "compiled"})
    void aStoreOverABlocksTailIsSeenAtOnce(String execution) {
        long loop = EmuVm.CODE + 0xFFE; // ADD RAX, RCX from here: two bytes in this page, its ModRM in the next
        long elsewhere = EmuVm.CODE + 0x3000; // so only the loop's block holds bytes in the next page's first line
        Asm start = new Asm().raw("31 c0 b9 03 00 00 00 bb 05 00 00 00 ba e8 03 00 00") // eax = 0, ecx = 3, ebx = 5, edx = 1000
                .movImm64(8, 0).movImm64(6, loop).movImm64(7, elsewhere).raw("ff e6"); // r8 = 0; jmp rsi
        byte[] code = HexFormat.of().parseHex("4801c8" + "ffca" + "75f9" + "ffe7"); // add rax, rcx; dec edx; jnz; jmp rdi
        // the first time: r8 = 1; mov byte [rsi + 2], 0xd8 (the ModRM: ADD RAX, RBX); edx = 1000; jmp rsi (no exit
        // between, so no new epoch has the bytes checked); the second: out 0x80; hlt
        byte[] then = HexFormat.of().parseHex("4d85c0" + "750e" + "49ffc0" + "c64602d8" + "bae8030000" + "ffe6"
                + "e680" + "f4");
        ExecutionTest.with(execution, () -> {
            try (EmuVm vm = new EmuVm(start.bytes())) {
                vm.memory.write(loop, code, 0, code.length);
                vm.memory.write(elsewhere, then, 0, then.length);
                vm.nextOut(0x80);
                assertEquals(3000 + 5000, vm.vcpu.registers().rax(), "1000 times ADD RAX, RCX, then 1000 times ADD RAX, RBX");
                assertEquals(0, vm.vcpu.crossingRuns(), "in blocks, not on its own");
                if (!execution.equals("interpreter")) {
                    assertTrue(vm.vcpu.tailBlocks() >= 2, "decoded with its tail, and again after the store: " + vm.vcpu.tailBlocks());
                }
            }
            return null;
        });
    }

    /**
     * One page of code at two linear pages (A and B), each followed by a page of its own: the block decoded at A with
     * A's next page as its tail is not run at B, whose next page holds other bytes.
     */
    @ParameterizedTest
    @ValueSource(strings = {"interpreter", "blocks", "compiled"})
    void aBlockRunsOnlyWithTheTailItWasDecodedWith(String execution) {
        long head = 0x300000, tailA = 0x301000, tailB = 0x302000;
        long atA = FourKilobytePages.VIRT + 0xFFE, atB = FourKilobytePages.VIRT + 0x2FFE; // ADD RAX, r64 from each: the ModRM in the page after
        Asm start = new Asm().raw("31 c0 b9 03 00 00 00 bb 05 00 00 00 ba e8 03 00 00") // eax = 0, ecx = 3, ebx = 5, edx = 1000
                .movImm64(6, atA).movImm64(7, atB).raw("ff e6"); // jmp rsi
        // after A: rcx; dec edx; jnz A; out 0x80; edx = 1000; jmp rdi (to B). After B: rbx; dec edx; jnz B; out 0x80; hlt
        byte[] afterA = HexFormat.of().parseHex("c8" + "ffca" + "75f9" + "e680" + "bae8030000" + "ffe7");
        byte[] afterB = HexFormat.of().parseHex("d8" + "ffca" + "75f9" + "e680" + "f4");
        ExecutionTest.with(execution, () -> {
            try (EmuVm vm = new EmuVm(start.bytes())) {
                FourKilobytePages.map(vm, head, tailA, head, tailB);
                vm.memory.write(head + 0xFFE, new byte[] {0x48, 0x01}, 0, 2);
                vm.memory.write(tailA, afterA, 0, afterA.length);
                vm.memory.write(tailB, afterB, 0, afterB.length);
                vm.nextOut(0x80);
                assertEquals(3000, vm.vcpu.registers().rax(), "at A: 1000 times ADD RAX, RCX");
                vm.nextOut(0x80);
                assertEquals(3000 + 5000, vm.vcpu.registers().rax(), "at B: 1000 times ADD RAX, RBX");
                if (!execution.equals("interpreter")) {
                    assertTrue(vm.vcpu.tailBlocks() >= 2, "decoded at A, and again at B: " + vm.vcpu.tailBlocks());
                }
            }
            return null;
        });
    }
}

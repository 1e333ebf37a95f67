package io.jkvm.emu;

import io.jkvm.testing.Asm;
import io.jkvm.testing.EmuVm;
import io.jkvm.x86.VcpuExit;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.HexFormat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
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

    /**
     * A block across a page end called 2000 times, the guest switching its tail's page between two frames after each
     * call with INVLPG of that page alone: each call runs the tail mapped then, as the block's look-up by its linear
     * address (in the page before) goes with that translation.
     */
    @ParameterizedTest
    @ValueSource(strings = {"interpreter", "blocks", "compiled"})
    void invlpgOfTheTailsPageAloneIsSeenByTheBlockBeforeIt(String execution) {
        long head = 0x300000, tailA = 0x301000, tailB = 0x302000;
        long at = FourKilobytePages.VIRT + 0xFFE; // ADD RAX, r64 with its ModRM in the next page, then RET
        Asm code = new Asm().raw("31 c0 b9 01 00 00 00 bb 64 00 00 00 bd d0 07 00 00") // eax = 0, ecx = 1, ebx = 100, ebp = 2000
                .movImm64(6, at).movImm64(7, FourKilobytePages.pte(1))
                .raw("ff d6") // 1: call rsi
                .raw("48 81 37").immediate(tailA ^ tailB, 4) // xor qword [rdi], tailA ^ tailB: the other frame
                .raw("0f 01 7e 02") // invlpg [rsi + 2]: the tail's page alone
                .raw("ff cd 75 ef").hlt(); // dec ebp; jnz 1b
        ExecutionTest.with(execution, () -> {
            try (EmuVm vm = new EmuVm(code.bytes())) {
                FourKilobytePages.map(vm, head, tailA);
                vm.memory.write(head + 0xFFE, new byte[] {0x48, 0x01}, 0, 2);
                vm.memory.write(tailA, HexFormat.of().parseHex("c8c3"), 0, 2); // ADD RAX, RCX; RET
                vm.memory.write(tailB, HexFormat.of().parseHex("d8c3"), 0, 2); // ADD RAX, RBX; RET
                assertInstanceOf(VcpuExit.Hlt.class, vm.vcpu.run());
                assertEquals(1000 * 1 + 1000 * 100, vm.vcpu.registers().rax(), "1000 calls through each tail");
            }
            return null;
        });
    }
}

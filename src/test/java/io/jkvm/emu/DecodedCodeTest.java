package io.jkvm.emu;

import io.jkvm.testing.EmuVm;
import io.jkvm.testing.Idt;
import io.jkvm.testing.TestGuests;
import io.jkvm.x86.Registers;
import io.jkvm.x86.VcpuExit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.nio.file.Files;
import java.util.HexFormat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The decoded-block cache of the software core stays exact: code rewritten by the guest (in the running block, in
 * the same page, in another page, by REP MOVS) or by the host between runs runs as rewritten; a fault or an MMIO
 * exit from inside a block leaves at the right instruction; instructions are counted one by one as before.
 */
class DecodedCodeTest {
    private static byte[] guest(String name) throws IOException {
        return Files.readAllBytes(TestGuests.path(name));
    }

    @Test
    void selfModifyingCodeRunsAsRewritten() throws IOException {
        try (EmuVm vm = new EmuVm(guest("self_modifying.bin"))) {
            assertEquals(1, vm.nextOut(0x80), "host_patched as loaded");
            vm.memory.writeInt(EmuVm.CODE + 0x801, 99); // mov eax, 1 -> mov eax, 99, while the vCPU is out
            assertEquals(99, vm.nextOut(0x81), "host_patched as the host rewrote it after it ran");
            assertInstanceOf(VcpuExit.Hlt.class, vm.vcpu.run());
            Registers r = vm.vcpu.registers();
            assertEquals(33, r.gpr(8), "(a) an immediate the loop that runs it adds 10 to: 1 + 11 + 21");
            assertEquals(7, r.gpr(9), "(b) an instruction rewritten by a store earlier in the same block");
            assertEquals(0x506, r.gpr(10), "(c) a function in another page, run, rewritten, run again");
            assertEquals(42, r.gpr(11), "(d) REP MOVSB copied new code over a function that had run");
        }
    }

    @Test
    void pageFaultInsideADecodedBlockReportsTheFaultingInstruction() throws IOException {
        long idt = 0x104000, handler = EmuVm.CODE + 0x100;
        try (EmuVm vm = new EmuVm(guest("fault_in_block.bin"))) {
            Idt.writeGate(vm.memory, idt, 14, handler);
            Idt.load(vm.vcpu, idt, 32 * 16 - 1);
            assertEquals(14, vm.nextOut(0x90));
            Registers r = vm.vcpu.registers();
            assertEquals(0, r.gpr(10), "error code: a read of a page not present, at CPL0");
            assertEquals(0x7000_0000_0000L, r.gpr(11), "CR2: the address read");
            assertEquals(EmuVm.CODE + 0x42, r.gpr(12), "saved RIP: the faulting load, not its block's start or end");
            assertEquals(0x102, r.rbx(), "the INC before the load ran, the ADD after it did not");
            assertEquals(0x1234, r.gpr(13), "RAX: what the first pass loaded; the faulting load wrote nothing");
        }
    }

    @Test
    void anMmioStoreEndsTheBlockWithItsExit() {
        // mov eax, 42; mov [0x20000000], eax (outside RAM: MMIO); mov ebx, 5; hlt
        byte[] code = HexFormat.of().parseHex("b82a000000" + "890425" + "00000020" + "bb05000000" + "f4");
        try (EmuVm vm = new EmuVm(code)) {
            VcpuExit.Mmio m = assertInstanceOf(VcpuExit.Mmio.class, vm.vcpu.run());
            assertEquals(0x20000000L, m.address());
            assertEquals(42, m.data().get(0));
            assertEquals(EmuVm.CODE + 12, vm.vcpu.registers().rip(), "stopped right after the store");
            assertEquals(0, vm.vcpu.registers().rbx(), "the next instruction of the block has not run");
            assertInstanceOf(VcpuExit.Hlt.class, vm.vcpu.run());
            assertEquals(5, vm.vcpu.registers().rbx());
        }
    }

    @Test
    void aBlockRunsTheBlockThatLastFollowedItWithNoLookUp() {
        // xor eax, eax; xor edx, edx; mov ecx, 1000; 1: add rax, rcx; test cl, 1; jz 2f; add rdx, 3; jmp 3f;
        // 2: sub rdx, 1; 3: dec ecx; jnz 1b; hlt: blocks of one page, run decoded (compiled only after many more runs)
        byte[] code = HexFormat.of().parseHex("31c0" + "31d2" + "b9e8030000" + "4801c8" + "f6c101" + "7406" + "4883c203"
                + "eb04" + "4883ea01" + "ffc9" + "75ea" + "f4");
        ExecutionTest.with("blocks", () -> {
            try (EmuVm vm = new EmuVm(code)) {
                assertInstanceOf(VcpuExit.Hlt.class, vm.vcpu.run());
                assertEquals(500 * 3 - 500, vm.vcpu.registers().rdx(), "+3 on odd counts, -1 on even ones");
                // two blocks a round (from 1 to 2 or 3 by the JZ or the JMP, one block; back by the JNZ), all chained
                // but the first few: a block keeps a link for each of the last two places it branched to
                assertTrue(vm.vcpu.chainedBlocks() > 1990, "blocks chained: " + vm.vcpu.chainedBlocks());
            }
            return null;
        });
    }

    @Test
    void aCallToAnotherPageAndItsReturnFollowTheLinksTheFirstRoundLeft() {
        // mov ecx, 1000; 1: call f; dec ecx; jnz 1b; hlt, with f a page on: add rbx, 2; ret
        byte[] code = HexFormat.of().parseHex("b9e8030000" + "e8f60f0000" + "ffc9" + "75f7" + "f4");
        ExecutionTest.with("blocks", () -> {
            try (EmuVm vm = new EmuVm(code)) {
                byte[] f = HexFormat.of().parseHex("4883c302" + "c3");
                vm.memory.write(EmuVm.CODE + 0x1000, f, 0, f.length);
                assertInstanceOf(VcpuExit.Hlt.class, vm.vcpu.run());
                assertEquals(2000, vm.vcpu.registers().rbx());
                // the first call is from the block that sets ECX up, the others from the loop's: 998 calls and 999
                // returns follow the links the first ones left
                assertEquals(998 + 999, vm.vcpu.blocksLinkedAcrossPages());
            }
            return null;
        });
    }

    @Test
    void anInvlpgOfAnotherPageKeepsTheLinksAcrossPages() {
        // mov ecx, 1000; mov edx, 0x700000; 1: call f; invlpg [rdx]; dec ecx; jnz 1b; hlt, with f a page on: add rbx, 2; ret
        byte[] code = HexFormat.of().parseHex("b9e8030000" + "ba00007000" + "e8f10f0000" + "0f013a" + "ffc9" + "75f4" + "f4");
        ExecutionTest.with("blocks", () -> {
            try (EmuVm vm = new EmuVm(code)) {
                byte[] f = HexFormat.of().parseHex("4883c302" + "c3");
                vm.memory.write(EmuVm.CODE + 0x1000, f, 0, f.length);
                assertInstanceOf(VcpuExit.Hlt.class, vm.vcpu.run());
                assertEquals(2000, vm.vcpu.registers().rbx());
                // INVLPG drops the translation of 0x700000 alone: the calls and returns still follow their links
                assertTrue(vm.vcpu.blocksLinkedAcrossPages() >= 998 + 999, "linked: " + vm.vcpu.blocksLinkedAcrossPages());
            }
            return null;
        });
    }

    /**
     * A kernel function the SYSCALL handler called (at CPL 0), called again from CPL 3 after SYSRET (which, unlike
     * IRET, does not serialize): the fetch from a supervisor page faults, though its block was found at that RIP.
     */
    @ParameterizedTest
    @ValueSource(strings = {"interpreter", "blocks", "compiled"})
    void aKernelFunctionCalledAtCpl3AfterSysretFaults(String execution) {
        long kernelFunction = 0x200100; // in the second 2 MiB: a supervisor page (ExceptionsTest.userPages)
        byte[] user = HexFormat.of().parseHex("48c7c300012000" + "0f05" + "ffd3"); // mov rbx, it; syscall; call rbx
        byte[] handler = HexFormat.of().parseHex("ffd3" + "480f07"); // call rbx; sysretq
        ExecutionTest.with(execution, () -> {
            try (EmuVm vm = new EmuVm(ExceptionsTest.toUser().bytes())) {
                ExceptionsTest.installIdt(vm);
                ExceptionsTest.userPages(vm);
                vm.memory.write(ExceptionsTest.USER, user, 0, user.length);
                vm.memory.write(ExceptionsTest.SYSCALL, handler, 0, handler.length);
                vm.memory.write(kernelFunction, new byte[] {(byte) 0xC3}, 0, 1); // ret
                assertEquals(14, vm.nextOut(0x90), "#PF");
                assertEquals(0x15, vm.vcpu.registers().rbx(), "error code: present, user, instruction fetch");
                assertEquals(kernelFunction, vm.vcpu.registers().rcx(), "CR2");
                assertEquals(0x33, vm.vcpu.registers().rsi(), "saved CS: user code");
            }
            return null;
        });
    }

    /**
     * A block's link to the next block of its page, followed again after the machine rewrote that block between two
     * runs (a new epoch, and no store of the core's own to drop the page): the link leads to the rewritten code.
     */
    @ParameterizedTest
    @ValueSource(strings = {"blocks", "compiled"})
    void aLinkFollowedAfterTheMachineRewroteItsTargetRunsTheNewCode(String execution) {
        // xor ebx, ebx; mov ecx, 3; loop: jmp x; x: mov eax, 1; add ebx, eax; out 0x80, al; dec ecx; jnz loop; hlt
        byte[] code = HexFormat.of().parseHex("31db" + "b903000000" + "eb00" + "b801000000" + "01c3" + "e680" + "ffc9"
                + "75f1" + "f4");
        ExecutionTest.with(execution, () -> {
            try (EmuVm vm = new EmuVm(code)) {
                assertEquals(1, vm.nextOut(0x80), "the first round");
                assertEquals(1, vm.nextOut(0x80), "the second: the loop's JMP now links to x");
                vm.memory.write(EmuVm.CODE + 10, new byte[] {2}, 0, 1); // mov eax, 2
                assertEquals(2, vm.nextOut(0x80), "the third round follows the link to the rewritten x");
                assertInstanceOf(VcpuExit.Hlt.class, vm.vcpu.run());
                assertEquals(1 + 1 + 2, vm.vcpu.registers().rbx());
            }
            return null;
        });
    }

    @Test
    void aFunctionInAnotherPageRewrittenBetweenTwoCallsFromOneBlockRunsAsRewritten() {
        // xor ebx, ebx; mov ecx, 2; 1: call f; add ebx, eax; mov byte [f + 1], 2; dec ecx; jnz 1b; hlt. With no exit
        // or serializing instruction between the two calls, the second call's block went to f last time: the store
        // dropped that block, so the call must not go there again.
        byte[] code = HexFormat.of().parseHex("31db" + "b902000000" + "e8f40f0000" + "01c3" + "c604250110100002" + "ffc9"
                + "75ed" + "f4");
        try (EmuVm vm = new EmuVm(code)) {
            byte[] f = HexFormat.of().parseHex("b801000000" + "c3"); // f, a page on: mov eax, 1; ret
            vm.memory.write(EmuVm.CODE + 0x1000, f, 0, f.length);
            assertInstanceOf(VcpuExit.Hlt.class, vm.vcpu.run());
            assertEquals(1 + 2, vm.vcpu.registers().rbx(), "the first call returned 1, the second 2");
        }
    }

    @Test
    void anMmioReadInsideABlockStopsWithTheInstructionsBeforeItCounted() {
        // mov eax, 42; inc eax; mov ebx, [0x20000000] (outside RAM: MMIO); hlt
        byte[] code = HexFormat.of().parseHex("b82a000000" + "ffc0" + "8b1c25" + "00000020" + "f4");
        try (EmuVm vm = new EmuVm(code)) {
            VcpuExit.Mmio m = assertInstanceOf(VcpuExit.Mmio.class, vm.vcpu.run());
            assertEquals(0x20000000L, m.address());
            assertEquals(43, vm.vcpu.registers().rax(), "the two instructions before the read ran");
            assertEquals(2, vm.vcpu.instructions(), "and are counted; the read is not, until the machine answers it");
        }
    }

    @Test
    void instructionsAreCountedOneByOne() throws IOException {
        try (EmuVm vm = new EmuVm(guest("mips_loop.bin"))) {
            vm.vcpu.setRegisters(vm.vcpu.registers().withGpr(7, 1000));
            vm.nextOut(0x80);
            assertEquals(1 + 4 * 1000 + 1, vm.vcpu.instructions(), "MOV, 1000 passes of 4, and the OUT");
            assertEquals(0, vm.vcpu.registers().rcx());
        }
    }
}

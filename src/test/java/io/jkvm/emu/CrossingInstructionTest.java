package io.jkvm.emu;

import io.jkvm.testing.Asm;
import io.jkvm.testing.EmuVm;
import io.jkvm.x86.SpecialRegisters;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.HexFormat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * An instruction across the end of its page runs decoded, with the bytes it has at each run: in a block that goes on
 * into the next page (its tail), or, when that page did not translate as the block was decoded, on its own from the
 * second time on. The host rewriting its byte in the next page changes what it does.
 */
class CrossingInstructionTest {
    private static final long LOOP = EmuVm.CODE + 0xFFE; // ADD RAX, RCX from here: two bytes in this page, one in the next

    @ParameterizedTest
    @ValueSource(strings = {"interpreter", "blocks", "compiled"})
    void anInstructionAcrossAPageEndRunsWithTheBytesItHasEachTime(String execution) {
        Asm start = new Asm().raw("31 c0 b9 03 00 00 00 bb 05 00 00 00 ba e8 03 00 00") // eax = 0, ecx = 3, ebx = 5, edx = 1000
                .movImm64(6, LOOP).raw("ff e6"); // jmp rsi
        byte[] loop = HexFormat.of().parseHex("4801c8" + "ffca" + "75f9" + "e680" // add rax, rcx; dec edx; jnz; out 0x80
                + "bae8030000" + "ebf0"); // edx = 1000; jmp LOOP
        ExecutionTest.with(execution, () -> {
            try (EmuVm vm = new EmuVm(start.bytes())) {
                vm.memory.write(LOOP, loop, 0, loop.length);
                vm.nextOut(0x80);
                assertEquals(3000, vm.vcpu.registers().rax(), "1000 times ADD RAX, RCX");
                vm.memory.write(EmuVm.CODE + 0x1000, new byte[] {(byte) 0xD8}, 0, 1); // its ModRM: now ADD RAX, RBX
                vm.nextOut(0x80);
                assertEquals(3000 + 5000, vm.vcpu.registers().rax(), "1000 times ADD RAX, RBX");
                assertEquals(0, vm.vcpu.crossingRuns(), "in blocks, not on its own");
                if (execution.equals("interpreter")) {
                    assertEquals(0, vm.vcpu.tailBlocks(), "the interpreter runs every instruction itself");
                } else {
                    assertTrue(vm.vcpu.tailBlocks() >= 2, "the loop's block decoded with its tail, then again with the new byte: "
                            + vm.vcpu.tailBlocks());
                }
            }
            return null;
        });
    }

    @ParameterizedTest
    @ValueSource(strings = {"interpreter", "blocks", "compiled"})
    void aFaultAtAnInstructionAcrossAPageEndLeavesItsStateUntouched(String execution) {
        long data = 0x150000;
        Asm start = new Asm().movImm64(3, data).raw("ba 64 00 00 00") // rbx = data, edx = 100
                .movImm64(6, LOOP).raw("ff e6"); // jmp rsi
        byte[] loop = HexFormat.of().parseHex("488b03" + "ffca" + "75f9" // mov rax, [rbx]; dec edx; jnz LOOP
                + "48bb0000000000000080" + "ebf0"); // rbx = a non-canonical address; jmp LOOP: #GP(0) there
        ExecutionTest.with(execution, () -> {
            try (EmuVm vm = new EmuVm(start.bytes())) {
                ExceptionsTest.installIdt(vm);
                vm.memory.write(LOOP, loop, 0, loop.length);
                vm.memory.writeLong(data, 0x1234_5678);
                assertEquals(13, vm.nextOut(0x90), "#GP");
                assertEquals(LOOP, vm.vcpu.registers().rdx(), "the saved RIP: the crossing instruction");
                assertEquals(0x1234_56, vm.vcpu.registers().rax() >>> 8, "RAX as the last load left it (the handler's AL aside)");
                assertEquals(0, vm.vcpu.registers().rbx(), "the error code");
            }
            return null;
        });
    }

    /** Two instructions across page ends in one loop are each in a block with a tail, decoded once. */
    @ParameterizedTest
    @ValueSource(strings = {"blocks", "compiled"})
    void twoInstructionsAcrossPageEndsInOneLoopRunInBlocksWithTails(String execution) {
        long second = EmuVm.CODE + 0x1FFE; // ADD RAX, RBX from here, across the next page end
        Asm start = new Asm().raw("31 c0 b9 03 00 00 00 bb 05 00 00 00 ba e8 03 00 00") // eax = 0, ecx = 3, ebx = 5, edx = 1000
                .movImm64(6, LOOP).movImm64(7, second).raw("ff e6"); // rsi = LOOP, rdi = second; jmp rsi
        byte[] first = HexFormat.of().parseHex("4801c8" + "ffe7"); // add rax, rcx; jmp rdi
        byte[] then = HexFormat.of().parseHex("4801d8" + "ffca" + "7402" // add rax, rbx; dec edx; jz to the OUT
                + "ffe6" + "e680"); // jmp rsi; out 0x80
        ExecutionTest.with(execution, () -> {
            try (EmuVm vm = new EmuVm(start.bytes())) {
                vm.memory.write(LOOP, first, 0, first.length);
                vm.memory.write(second, then, 0, then.length);
                vm.nextOut(0x80);
                assertEquals(8000, vm.vcpu.registers().rax(), "1000 times ADD RAX, RCX and ADD RAX, RBX");
                assertEquals(0, vm.vcpu.crossingRuns(), "in blocks, not on their own");
                assertTrue(vm.vcpu.tailBlocks() >= 2 && vm.vcpu.tailBlocks() <= 4, "blocks with tails: " + vm.vcpu.tailBlocks());
            }
            return null;
        });
    }

    /**
     * An instruction the interpreter runs that ends at the last byte of its page, before a page that is not present:
     * looking for an instruction across the end must not leave that page's address in CR2 (no #PF happened).
     */
    @ParameterizedTest
    @ValueSource(strings = {"interpreter", "blocks", "compiled"})
    void anInstructionEndingAtAPageEndBeforeAMissingPageLeavesCr2(String execution) {
        long frame = 0x300000, virt = FourKilobytePages.VIRT; // its page mapped to frame; the next one not present
        Asm start = new Asm().movImm64(0, virt + 0xFF0).raw("ff e0"); // jmp rax
        ExecutionTest.with(execution, () -> {
            try (EmuVm vm = new EmuVm(start.bytes())) {
                FourKilobytePages.map(vm, frame);
                byte[] tail = HexFormat.of().parseHex("90".repeat(15) + "cc"); // NOPs from 0xFF0, then INT3 at 0xFFF
                vm.memory.write(frame + 0xFF0, tail, 0, tail.length);
                SpecialRegisters r = vm.vcpu.specialRegisters();
                vm.vcpu.setSpecialRegisters(new SpecialRegisters(r.cs(), r.ds(), r.es(), r.fs(), r.gs(), r.ss(), r.tr(),
                        r.ldt(), r.gdt(), r.idt(), r.cr0(), 0x1234, r.cr3(), r.cr4(), r.cr8(), r.efer(), r.apicBase(),
                        r.interruptBitmap())); // CR2 0x1234, to see it left
                ExceptionsTest.installIdt(vm);
                assertEquals(3, vm.nextOut(0x90), "#BP from the INT3");
                assertEquals(0x1234, vm.vcpu.registers().rcx(), "CR2 as it was");
            }
            return null;
        });
    }
    /**
     * A block decoded while the next page was not present ends before the instruction across the end (its #PF is the
     * interpreter's to raise, with CR2 the next page's address); once the guest's handler maps the page, that block
     * still holds (its bytes are the same) and the instruction runs on its own, decoded once, each time after it.
     */
    @ParameterizedTest
    @ValueSource(strings = {"interpreter", "blocks", "compiled"})
    void anInstructionIntoAPageMappedLaterRunsOnItsOwn(String execution) {
        long frame = 0x300000, nextFrame = 0x305000;
        long virt = FourKilobytePages.VIRT, loop = virt + 0xFFE; // ADD RAX, RCX from here, its ModRM in the next page
        Asm start = new Asm().raw("31 c0 b9 03 00 00 00 ba e8 03 00 00") // eax = 0, ecx = 3, edx = 1000
                .movImm64(6, loop).raw("ff e6"); // jmp rsi
        byte[] rest = HexFormat.of().parseHex("c8" + "ffca" + "75f9" + "e680" + "bae8030000" + "ebf0");
        ExecutionTest.with(execution, () -> {
            try (EmuVm vm = new EmuVm(start.bytes())) {
                FourKilobytePages.map(vm, frame); // the next page not present yet
                vm.memory.write(frame + 0xFFE, new byte[] {0x48, 0x01}, 0, 2);
                vm.memory.write(nextFrame, rest, 0, rest.length);
                ExceptionsTest.installIdt(vm);
                long rsp = vm.vcpu.registers().rsp();
                assertEquals(14, vm.nextOut(0x90), "#PF fetching the instruction's last byte");
                assertEquals(virt + 0x1000, vm.vcpu.registers().rcx(), "CR2: the next page");
                assertEquals(loop, vm.vcpu.registers().rdx(), "the saved RIP: the instruction across the end");
                FourKilobytePages.mapPage(vm, 1, nextFrame); // the handler's work: the page mapped, then IRET to it
                vm.vcpu.setRegisters(vm.vcpu.registers().withGpr(0, 0).withGpr(1, 3).withGpr(2, 1000).withRsp(rsp)
                        .withRip(loop));
                vm.nextOut(0x80);
                assertEquals(3000, vm.vcpu.registers().rax(), "1000 times ADD RAX, RCX");
                if (execution.equals("interpreter")) {
                    assertEquals(0, vm.vcpu.crossingRuns(), "the interpreter runs every instruction itself");
                } else {
                    assertTrue(vm.vcpu.crossingRuns() > 900, "decoded runs on its own: " + vm.vcpu.crossingRuns());
                    assertTrue(vm.vcpu.crossingDecodes() <= 2, "decoded " + vm.vcpu.crossingDecodes() + " times");
                }
            }
            return null;
        });
    }
}

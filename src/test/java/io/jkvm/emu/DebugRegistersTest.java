package io.jkvm.emu;

import io.jkvm.testing.Asm;
import io.jkvm.testing.EmuVm;
import io.jkvm.testing.Idt;
import io.jkvm.x86.VcpuExit;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static io.jkvm.emu.ExceptionsTest.hex;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * DR0-DR7 on the software core: an instruction breakpoint is a #DB fault before the instruction, which runs once
 * the handler sets RF in the frame; a data breakpoint is a #DB trap after the store that touched a watched byte,
 * and not after a read when it watches writes; DR6.B0-B3 say which.
 */
class DebugRegistersTest {
    private static final long HANDLER = 0x108000, IDT = 0x109000, DATA = 0x10A000;

    private static List<Long> ports(EmuVm vm) {
        List<Long> seen = new ArrayList<>();
        for (int i = 0; i < 20; i++) {
            VcpuExit e = vm.vcpu.run();
            if (e instanceof VcpuExit.Hlt) {
                return seen;
            }
            if (!(e instanceof VcpuExit.Io io)) {
                throw new AssertionError("unexpected " + e + " after " + seen);
            }
            seen.add((long) io.port());
        }
        throw new AssertionError("no HLT: " + seen);
    }

    private static EmuVm withDbHandler(byte[] code, String handler) {
        EmuVm vm = new EmuVm(code);
        byte[] h = hex(handler);
        vm.memory.write(HANDLER, h, 0, h.length);
        Idt.writeGate(vm.memory, IDT, 1, HANDLER);
        Idt.load(vm.vcpu, IDT, 32 * 16 - 1);
        return vm;
    }

    @Test
    void anInstructionBreakpointFaultsBeforeTheInstructionAndRfLetsItRunOnce() {
        long target = EmuVm.CODE + 0x40;
        Asm a = new Asm().movImm64(0, target).raw("0f 23 c0") // mov dr0, rax
                .raw("b8 01 00 00 00 0f 23 f8") // mov eax, 1 (L0, execute, 1 byte); mov dr7, rax
                .movImm64(0, target).raw("ff e0"); // jmp rax
        byte[] code = new byte[0x48];
        byte[] head = a.bytes();
        System.arraycopy(head, 0, code, 0, head.length);
        byte[] tail = hex("bb 42 00 00 00 e6 80 f4"); // at target: mov ebx, 0x42; out 0x80, al; hlt
        System.arraycopy(tail, 0, code, 0x40, tail.length);
        // #DB: set RF in the saved RFLAGS, report on 0x91, IRETQ
        try (EmuVm vm = withDbHandler(code, "48 81 4c 24 10 00 00 01 00 e6 91 48 cf")) {
            assertEquals(List.of(0x91L, 0x80L), ports(vm), "the breakpoint, then the instruction ran once");
            assertEquals(0x42, vm.vcpu.registers().rbx());
            assertEquals(1, vm.vcpu.saveState().debugRegisters().dr6() & 0xF, "DR6.B0");
        }
    }

    @Test
    void aDataBreakpointTrapsAfterTheStoreAndNotAfterARead() {
        long dr7 = 0x4 | 1L << 20 | 3L << 22; // L1, breaks on writes, 4 bytes
        Asm a = new Asm().movImm64(0, DATA + 4).raw("0f 23 c8") // mov dr1, rax
                .movImm64(0, dr7).raw("0f 23 f8") // mov dr7, rax
                .movImm64(7, DATA)
                .raw("8b 47 04").outAl(0x80) // mov eax, [rdi + 4]: a read, not watched
                .raw("89 47 06").outAl(0x81) // mov [rdi + 6], eax: bytes 6-9, two of them watched
                .hlt();
        try (EmuVm vm = withDbHandler(a.bytes(), "e6 92 48 cf")) { // #DB: report on 0x92, IRETQ
            assertEquals(List.of(0x80L, 0x92L, 0x81L), ports(vm), "no trap after the read; one after the store");
            assertEquals(2, vm.vcpu.saveState().debugRegisters().dr6() & 0xF, "DR6.B1");
        }
    }

    /**
     * MOV SS holds its own data-breakpoint trap past the next instruction (the SDM's MOV SS blocking): after an OUT it
     * comes once the port has answered, and with an ICEBP next the two are one #DB (kvm-unit-tests' debug).
     */
    @Test
    void aMovSsWatchpointTrapWaitsForTheNextInstructionAndMergesWithIcebp() {
        long dr7 = 0x1 | 3L << 16 | 1L << 18; // L0, reads and writes, 2 bytes
        Asm a = new Asm().movImm64(0, DATA).raw("0f 23 c0") // mov dr0, rax
                .movImm64(0, dr7).raw("0f 23 f8") // mov dr7, rax
                .movImm64(7, DATA)
                .raw("8e 17").outAl(0x80) // mov ss, [rdi]; out 0x80, al
                .raw("8e 17 f1").outAl(0x81) // mov ss, [rdi]; icebp; out 0x81, al
                .hlt();
        try (EmuVm vm = withDbHandler(a.bytes(), "e6 92 48 cf")) {
            byte[] ss = {(byte) vm.vcpu.specialRegisters().ss().selector(), 0};
            vm.memory.write(DATA, ss, 0, 2);
            assertEquals(List.of(0x80L, 0x92L, 0x92L, 0x81L), ports(vm),
                    "the trap after the OUT that follows MOV SS; one #DB for the watchpoint and the ICEBP");
            assertEquals(1, vm.vcpu.saveState().debugRegisters().dr6() & 0xF, "DR6.B0");
        }
    }

    /**
     * An instruction breakpoint on the instruction after MOV SS: AMD's parts take the #DB, Intel's do not (kvm-unit-tests'
     * emulator, test_mov_pop_ss_code_db); the vendor comes from the fixture model, not from this host.
     */
    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.ValueSource(strings = {"intel", "amd"})
    void anInstructionBreakpointAfterMovSsIsTheVendors(String vendor) {
        io.jkvm.x86.CpuModel model = vendor.equals("intel") ? io.jkvm.x86.CpuidFixtures.intelModel() : io.jkvm.x86.CpuidFixtures.amdModel();
        // mov rax, TARGET; mov dr0, rax; mov eax, 1 (L0, execute, 1 byte); mov dr7, rax; mov eax, ss; mov ss, eax
        java.util.function.LongFunction<Asm> setUp = target -> new Asm().movImm64(0, target).raw("0f 23 c0")
                .raw("b8 01 00 00 00 0f 23 f8").raw("8c d0 8e d0");
        long target = EmuVm.CODE + setUp.apply(EmuVm.CODE + 0x1000).size();
        Asm a = setUp.apply(target).outAl(0x80).hlt(); // at TARGET, the watched instruction: out 0x80, al
        assertEquals(target, EmuVm.CODE + setUp.apply(target).size());
        try (EmuVm vm = new EmuVm(model, a.bytes())) {
            byte[] h = hex("48 81 4c 24 10 00 00 01 00 e6 91 48 cf"); // #DB: RF in the frame, report on 0x91, IRETQ
            vm.memory.write(HANDLER, h, 0, h.length);
            Idt.writeGate(vm.memory, IDT, 1, HANDLER);
            Idt.load(vm.vcpu, IDT, 32 * 16 - 1);
            assertEquals(vendor.equals("amd") ? List.of(0x91L, 0x80L) : List.of(0x80L), ports(vm));
        }
    }

    /** I/O breakpoints (R/W 10 under CR4.DE): a #DB trap after an OUT or IN of the watched port, not of its neighbour. */
    @Test
    void anIoBreakpointTrapsAfterInAndOutOfTheWatchedPort() {
        long dr7 = 0x10 | 2L << 24; // L2, I/O, 1 port
        Asm a = new Asm().raw("0f 20 e0 48 83 c8 08 0f 22 e0") // mov rax, cr4; or rax, 8 (DE); mov cr4, rax
                .movImm64(0, 0x80).raw("0f 23 d0") // mov dr2, rax
                .movImm64(0, dr7).raw("0f 23 f8") // mov dr7, rax
                .raw("e6 81 e6 80 e4 80").hlt(); // out 0x81, al; out 0x80, al; in al, 0x80
        try (EmuVm vm = withDbHandler(a.bytes(), "e6 92 48 cf")) {
            assertEquals(List.of(0x81L, 0x80L, 0x92L, 0x80L, 0x92L), ports(vm),
                    "nothing after port 0x81; a trap after the OUT to 0x80 and after the IN from it");
            assertEquals(4, vm.vcpu.saveState().debugRegisters().dr6() & 0xF, "DR6.B2");
        }
    }

    /** DR7.GD: a MOV of a debug register is a #DB fault with DR6.BD, and the handler finds GD clear. */
    @Test
    void generalDetectFaultsOnAMovOfADebugRegister() {
        Asm a = new Asm().movImm64(0, 0x2400).raw("0f 23 f8") // mov dr7, rax: GD
                .raw("0f 21 c0").outAl(0x80).hlt(); // mov rax, dr0: #DB; then out 0x80
        // #DB: rbx = dr7, rcx = dr6, out 0x92, skip the 3-byte MOV, IRETQ
        try (EmuVm vm = withDbHandler(a.bytes(), "0f 21 fb 0f 21 f1 e6 92 48 83 04 24 03 48 cf")) {
            assertEquals(List.of(0x92L, 0x80L), ports(vm));
            assertEquals(0, vm.vcpu.registers().rbx() & 0x2000, "GD clear in the handler");
            assertEquals(0x2000, vm.vcpu.registers().rcx() & 0x2000, "DR6.BD");
        }
    }
}

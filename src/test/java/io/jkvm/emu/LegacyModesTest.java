package io.jkvm.emu;

import io.jkvm.machine.GuestMemory;
import io.jkvm.testing.EmuVm;
import io.jkvm.testing.TestGuests;
import io.jkvm.x86.ControlBits;
import io.jkvm.x86.CpuModel;
import io.jkvm.x86.CpuidFixtures;
import io.jkvm.x86.ResetState;
import io.jkvm.x86.SpecialRegisters;
import io.jkvm.x86.VcpuExit;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The software core outside 64-bit mode: guests that start where an application processor does after a STARTUP IPI
 * (real mode at 0800:0000) and go through the modes an operating system takes, on both vendors' models. Each guest
 * reports a value per step on a port; the expected values follow from the SDM, not from a run.
 */
class LegacyModesTest {
    private record Out(int port, long value) {
    }

    private static CpuModel model(String vendor) {
        return vendor.equals("intel") ? CpuidFixtures.intelModel() : CpuidFixtures.amdModel();
    }

    /** A vCPU in the state a STARTUP IPI of vector 8 leaves, with {@code guest} loaded at 0x8000. */
    private static EmulatedVcpu started(GuestMemory memory, CpuModel model, String guest) throws IOException {
        byte[] image = Files.readAllBytes(TestGuests.path(guest + ".bin"));
        memory.write(0x8000, image, 0, image.length);
        EmulatedVcpu v = new EmulatedVcpu(0, memory.mapping(), model);
        v.setSpecialRegisters(ResetState.startup(ResetState.APIC_BASE_BSP, 8));
        v.setRegisters(ResetState.startupRegisters(model.cpuid()));
        return v;
    }

    /** Runs to HLT; every OUT on the way, in order (with the vCPU's state seen at {@code inspect}). */
    private static List<Out> outsUntilHalt(EmulatedVcpu v, java.util.function.Consumer<Out> inspect) {
        List<Out> outs = new ArrayList<>();
        for (int i = 0; i < 100; i++) {
            VcpuExit e = v.run();
            if (e instanceof VcpuExit.Hlt) {
                return outs;
            }
            if (!(e instanceof VcpuExit.Io io) || !io.out()) {
                throw new AssertionError("expected OUT or HLT, got " + e + " at RIP 0x" + Long.toHexString(v.registers().rip())
                        + " after " + outs);
            }
            Out out = new Out(io.port(), io.data().get(0));
            outs.add(out);
            inspect.accept(out);
        }
        throw new AssertionError("no HLT after " + outs);
    }

    @ParameterizedTest
    @ValueSource(strings = {"intel", "amd"})
    void fromTheStartupVectorThroughProtectedModeInto64BitMode(String vendor) throws IOException {
        CpuModel model = model(vendor);
        try (GuestMemory memory = GuestMemory.allocate(16L << 20)) {
            EmulatedVcpu v = started(memory, model, "modes_boot");
            SpecialRegisters atStart = v.specialRegisters();
            assertEquals(0x8000, atStart.cs().base(), "a STARTUP IPI of vector 8: CS base 0x8000");
            assertEquals(0x0800, atStart.cs().selector());
            List<Out> outs = outsUntilHalt(v, out -> {
                if (out.port() == 0x94) {
                    SpecialRegisters s = v.specialRegisters();
                    assertEquals(0x08, s.cs().selector(), "32-bit protected mode: CS from the GDT");
                    assertTrue(s.cs().db() && !s.cs().l(), "a 32-bit code segment");
                    assertEquals(0x10, s.ss().selector());
                    assertEquals(0x90000 - 4 + 4, v.registers().rsp(), "ESP after PUSH and POP");
                    assertEquals(0, s.efer() & ControlBits.EFER_LMA, "not yet IA-32e mode");
                }
            });
            assertEquals(List.of(new Out(0x90, 0x1234), new Out(0x91, 0x55AA), new Out(0x92, 0x4242), new Out(0x93, 0x0800),
                    new Out(0x94, 0x12345678)), outs,
                    "16-bit addressing with DS and with SS, INT through the IVT, the CS a far CALL pushed, a 32-bit OUT");
            assertEquals(0x1122334455667788L, v.registers().rax(), "64-bit code ran");
            SpecialRegisters s = v.specialRegisters();
            assertEquals(0x18, s.cs().selector());
            assertTrue(s.cs().l(), "CS.L: 64-bit mode");
            assertEquals(ControlBits.EFER_LMA | ControlBits.EFER_LME, s.efer() & (ControlBits.EFER_LMA | ControlBits.EFER_LME),
                    "paging with EFER.LME set made IA-32e mode active");
            assertEquals(ControlBits.CR0_PG | ControlBits.CR0_PE, s.cr0() & (ControlBits.CR0_PG | ControlBits.CR0_PE));
            assertEquals(ControlBits.CR4_PAE, s.cr4() & ControlBits.CR4_PAE, "PAE paging, as IA-32e mode needs");
            assertEquals(0x3, memory.readLong(0x20000) & 0x3, "the guest's own page tables, found by CR3");
            assertEquals(0x20000, s.cr3());
        }
    }

    /**
     * An application processor's start as an OS makes it: INIT puts the vCPU in the INIT state (x87/SSE state, XCR0
     * and the MSRs kept, EFER cleared) and it runs nothing until a STARTUP IPI, which starts it in real mode at
     * vector × 4 KiB; the record carries the wait; a second STARTUP IPI is ignored.
     */
    @ParameterizedTest
    @ValueSource(strings = {"intel", "amd"})
    void initThenAStartupIpiStartsTheVcpuAtTheVector(String vendor) throws IOException {
        CpuModel model = model(vendor);
        // mov eax, 0x12345678; movd xmm0, eax; push 0x3F80; ldmxcsr [rsp]; hlt
        byte[] code = java.util.HexFormat.of().parseHex("b878563412660f6ec068803f00000fae142 4f4".replace(" ", ""));
        try (EmuVm vm = new EmuVm(model, code)) {
            assertTrue(vm.vcpu.run() instanceof VcpuExit.Hlt);
            long xcr0 = vm.vcpu.saveState().xcr0();
            vm.vcpu.init();
            SpecialRegisters s = vm.vcpu.specialRegisters();
            assertEquals(0xF000, s.cs().selector());
            assertEquals(0xFFFF0000L, s.cs().base());
            assertEquals(ControlBits.CR0_ET, s.cr0(), "CR0: ET, with CD and NW as they were (clear)");
            assertEquals(0, s.efer() | s.cr3() | s.cr4(), "EFER, CR3 and CR4 cleared");
            assertEquals(ResetState.APIC_BASE_BSP, s.apicBase(), "the APIC base kept");
            assertEquals(0xFFF0, vm.vcpu.registers().rip());
            assertEquals(ResetState.rdx(model.cpuid()), vm.vcpu.registers().rdx(), "RDX: the signature");
            io.jkvm.x86.VcpuState waiting = vm.vcpu.saveState();
            assertEquals(io.jkvm.x86.Activity.WAIT_FOR_SIPI, waiting.activity());
            assertEquals(0x3F80, waiting.xsave().mxcsr(), "MXCSR kept");
            assertEquals(0x12345678, java.nio.ByteBuffer.wrap(waiting.xsave().xmm(0)).order(java.nio.ByteOrder.LITTLE_ENDIAN)
                    .getInt(), "XMM0 kept");
            assertEquals(xcr0, waiting.xcr0(), "XCR0 kept");
            long retired = vm.vcpu.instructions();
            assertTrue(vm.vcpu.run() instanceof VcpuExit.Hlt, "nothing runs before the STARTUP IPI");
            assertEquals(retired, vm.vcpu.instructions());
            vm.vcpu.restoreState(waiting);
            assertEquals(io.jkvm.x86.Activity.WAIT_FOR_SIPI, vm.vcpu.saveState().activity(), "the wait survives a record");

            byte[] trampoline = Files.readAllBytes(TestGuests.path("modes_boot.bin"));
            vm.memory.write(0x8000, trampoline, 0, trampoline.length);
            assertTrue(vm.vcpu.startup(8));
            assertEquals(0x8000, vm.vcpu.specialRegisters().cs().base());
            assertEquals(5, outsUntilHalt(vm.vcpu, out -> { }).size(), "the trampoline ran from real mode");
            assertEquals(0x1122334455667788L, vm.vcpu.registers().rax(), "into 64-bit mode");
            assertFalse(vm.vcpu.startup(8), "a running vCPU ignores a STARTUP IPI");
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"intel", "amd"})
    void compatibilityModeRuns32BitCodeBetween64BitCode(String vendor) throws IOException {
        byte[] image = Files.readAllBytes(TestGuests.path("modes_compat.bin"));
        try (EmuVm vm = new EmuVm(model(vendor), image)) {
            List<Out> outs = outsUntilHalt(vm.vcpu, out -> {
                if (out.port() == 0x90) {
                    SpecialRegisters s = vm.vcpu.specialRegisters();
                    assertEquals(0x18, s.cs().selector(), "the far return loaded the 32-bit code segment");
                    assertTrue(s.cs().db() && !s.cs().l(), "D set, L clear: compatibility mode");
                    assertTrue(s.longModeActive(), "still IA-32e mode");
                }
            });
            assertEquals(List.of(new Out(0x90, 4), new Out(0x91, 2), new Out(0x92, 42), new Out(0x93, 0x11223344)), outs,
                    "a 4-byte push, a 2-byte one under 66, INC/DEC ECX from 41 and 49, the pushed value");
            assertEquals(0x64, vm.vcpu.registers().rax());
            assertTrue(vm.vcpu.specialRegisters().cs().l(), "back in 64-bit mode through the 16:32 pointer");
        }
    }

    /**
     * The transitions' own faults, from 64-bit code: paging off there (only compatibility mode may), CR4.PAE off in
     * IA-32e mode, CR0 with PG but not PE, EFER.LME changed under paging, a far jump to a data segment. Each is
     * #GP with its error code at the instruction, nothing changed.
     */
    @org.junit.jupiter.api.Test
    void transitionsRefusedWithGeneralProtection() {
        long code = ExceptionsTest.CODE;
        assertEquals(new ExceptionsTest.Taken(13, 0, 0, code + 7, 0x08),
                ExceptionsTest.run("host", "0f 20 c0 0f ba f0 1f 0f 22 c0"), "mov rax, cr0; btr eax, 31; mov cr0, rax");
        assertEquals(new ExceptionsTest.Taken(13, 0, 0, code + 5, 0x08),
                ExceptionsTest.run("host", "0f 20 e0 24 df 0f 22 e0"), "mov rax, cr4; and al, ~PAE; mov cr4, rax");
        assertEquals(new ExceptionsTest.Taken(13, 0, 0, code + 5, 0x08),
                ExceptionsTest.run("host", "0f 20 c0 24 fe 0f 22 c0"), "mov rax, cr0; and al, ~PE; mov cr0, rax (PG stays)");
        assertEquals(new ExceptionsTest.Taken(13, 0, 0, code + 11, 0x08),
                ExceptionsTest.run("host", "b9 80 00 00 c0 0f 32 0f ba f0 08 0f 30"), "EFER.LME cleared with paging on");
        assertEquals(new ExceptionsTest.Taken(13, 0x10, 0, code, 0x08),
                ExceptionsTest.run("host", "ff 2d 00 00 00 00 00 00 00 00 10 00"), "jmp far [rip]: to 0x10, a data segment");
    }

    @ParameterizedTest
    @ValueSource(strings = {"intel", "amd"})
    void backDownFrom64BitModeToRealMode(String vendor) throws IOException {
        byte[] image = Files.readAllBytes(TestGuests.path("modes_return.bin"));
        try (EmuVm vm = new EmuVm(model(vendor), image)) {
            List<Out> outs = outsUntilHalt(vm.vcpu, out -> {
                if (out.port() == 0x90) {
                    SpecialRegisters s = vm.vcpu.specialRegisters();
                    assertFalse(s.longModeActive(), "paging off ended IA-32e mode");
                    assertEquals(0, s.cr0() & ControlBits.CR0_PG);
                }
            });
            long lme = ControlBits.EFER_LME, lma = ControlBits.EFER_LMA;
            assertEquals(lme, outs.get(0).value() & (lme | lma), "EFER after paging off: LME set, LMA clear");
            assertEquals(0, outs.get(1).value() & (lme | lma), "then LME cleared by WRMSR");
            assertEquals(List.of(new Out(0x92, 0x0800), new Out(0x93, 0x4040)), outs.subList(2, outs.size()),
                    "real mode at 0800, and an INT through the IVT");
            SpecialRegisters s = vm.vcpu.specialRegisters();
            assertEquals(0, s.cr0() & ControlBits.CR0_PE, "real mode");
            assertEquals(0x8000, s.cs().base(), "CS base = selector x 16");
            assertEquals(0x0800, s.cs().selector());
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"intel", "amd"})
    void interruptsAndFastSystemCallsBetweenCompatibilityAnd64BitMode(String vendor) throws IOException {
        byte[] image = Files.readAllBytes(TestGuests.path("modes_compat_events.bin"));
        try (EmuVm vm = new EmuVm(model(vendor), image)) {
            List<Out> outs = outsUntilHalt(vm.vcpu, out -> { });
            List<Out> common = List.of(new Out(0x90, 0x18), new Out(0x92, 0x10), new Out(0x91, 0x5678));
            List<Out> rest = vendor.equals("intel")
                    ? List.of(new Out(0x93, 0), new Out(0x95, 0x77), new Out(0x96, 0x70000))
                    : List.of(new Out(0x94, 0), new Out(0x95, 0x77), new Out(0x93, 9), new Out(0x97, 0x88));
            List<Out> expected = new ArrayList<>(common);
            expected.addAll(rest);
            expected.addAll(List.of(new Out(0x98, 0x08), new Out(0x98, 0x2C), new Out(0x99, 0))); // the 64-bit call gate
            assertEquals(expected, outs, vendor + ": INT 0x30 from compatibility mode (the frame's CS 0x18 and SS 0x10) and"
                    + " IRETQ back; then " + (vendor.equals("intel") ? "SYSCALL #UD and SYSENTER to 64-bit code with ESP 0x70000"
                    : "SYSCALL to CSTAR with RCX the next EIP, and SYSENTER #UD")
                    + "; a far CALL through a 64-bit call gate pushing an 8-byte CS and RIP, and LRETQ back");
            assertTrue(vm.vcpu.specialRegisters().cs().l(), "halted in 64-bit code");
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"intel", "amd"})
    void segmentLimitsExpandDownReadOnlyAndNullSegmentsFault(String vendor) throws IOException {
        try (GuestMemory memory = GuestMemory.allocate(16L << 20)) {
            EmulatedVcpu v = started(memory, model(vendor), "modes_segments");
            Out gp = new Out(0x91, 13), ss = new Out(0x91, 12), code0 = new Out(0x92, 0);
            assertEquals(List.of(
                    new Out(0x90, 0x600DF00DL), gp, code0,   // the last dword within the limit; one crossing it: #GP(0)
                    new Out(0x90, 0xABCDEF01L), gp, code0,   // expand-down: above the limit allowed, at or below #GP(0)
                    new Out(0x90, 0x600DF00DL), gp, code0,   // read-only data: a load, then a store #GP(0)
                    gp, code0,                               // a load through a null ES
                    ss, code0,                               // through SS past its limit: #SS(0)
                    gp, code0), outsUntilHalt(v, out -> { })); // a far jump past the target code segment's limit
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"intel", "amd"})
    void farCallsThroughCallGatesAtTheSameLevelAndFromRing3(String vendor) throws IOException {
        try (GuestMemory memory = GuestMemory.allocate(16L << 20)) {
            EmulatedVcpu v = started(memory, model(vendor), "modes_call_gates");
            assertEquals(List.of(
                    new Out(0x90, 50), new Out(0x91, 0x08), new Out(0x92, 0x70000 - 16), new Out(0x93, 0x10), // ring 0: same stack
                    new Out(0x90, 12), new Out(0x91, 0x1B), new Out(0x92, 0x68000 - 24), new Out(0x93, 0x10), // from ring 3: ESP0
                    new Out(0x98, 0x38), new Out(0x99, 0)), outsUntilHalt(v, out -> { }),
                    "the parameters' sum, the caller's CS, ESP and SS in the gate's target; a DPL0 gate from ring 3 #GP(0x38)");
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"intel", "amd"})
    void protectedModeWithPagingRingsGatesAndTheTss(String vendor) throws IOException {
        CpuModel model = model(vendor);
        try (GuestMemory memory = GuestMemory.allocate(16L << 20)) {
            EmulatedVcpu v = started(memory, model, "modes_protected");
            List<Out> outs = outsUntilHalt(v, out -> {
                if (out.port() == 0x94) {
                    SpecialRegisters s = v.specialRegisters();
                    assertEquals(0x08, s.cs().selector(), "the INT 0x80 handler runs at ring 0");
                    assertEquals(0x10, s.ss().selector(), "on SS0 from the TSS");
                    assertEquals(0, s.cs().dpl());
                }
            });
            assertEquals(List.of(
                    new Out(0x90, 0xCAFEF00DL),  // a store and load through a 4 MiB PSE page
                    new Out(0x91, 0x50004),      // #PF: CR2 is the linear address
                    new Out(0x92, 0),            // error code: not present, read, supervisor
                    new Out(0x94, 0x1111),       // INT 0x80 from ring 3: EAX as the user left it
                    new Out(0x95, 0x1B),         // the frame's CS: ring 3 code, RPL 3
                    new Out(0x96, 0x23),         // the frame's SS: ring 3 data
                    new Out(0x97, 0x68000 - 20), // ESP0 less SS, ESP, EFLAGS, CS, EIP
                    new Out(0x98, 0x81 * 8 + 2), // INT 0x81 through a DPL0 gate at ring 3: #GP(IDT, vector)
                    new Out(0x99, 1),            // at the INT
                    new Out(0x9A, 0x2222),       // the handler's return value reached ring 3
                    new Out(0x98, 0),            // CLI at ring 3 with IOPL 0: #GP(0)
                    new Out(0x99, 2),            // at the CLI
                    new Out(0x9A, 0x2222)), outs);
            assertEquals(0xCAFEF00DL, memory.readInt(0x800010) & 0xFFFFFFFFL, "the PSE page's frame is physical 8 MiB");
            SpecialRegisters s = v.specialRegisters();
            assertEquals(0x08, s.cs().selector(), "halted at ring 0, in the #GP handler");
            assertEquals(0x28, s.tr().selector());
            assertEquals(0xB, s.tr().type(), "LTR marked the TSS busy");
            assertEquals(0x8B, memory.readLong(s.gdt().base() + 0x28) >>> 40 & 0xFF, "in the GDT too");
            assertFalse(s.longModeActive());
        }
    }
}

package io.jkvm.kvm;

import io.jkvm.linux.HostCpu;
import io.jkvm.testing.HostKvm;
import io.jkvm.testing.Idt;
import io.jkvm.testing.LongModeVm;
import io.jkvm.testing.RequiresKvm;
import io.jkvm.x86.CpuFeature;
import io.jkvm.x86.CpuidTable;
import io.jkvm.x86.DebugRegisters;
import io.jkvm.x86.FpuState;
import io.jkvm.x86.Msrs;
import io.jkvm.x86.PendingEvents;
import io.jkvm.x86.Registers;
import io.jkvm.x86.SpecialRegisters;
import io.jkvm.x86.VcpuExit;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static io.jkvm.testing.LongModeVm.hex;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Every wrapper of the kvm layer, against the real /dev/kvm. */
@RequiresKvm
class KvmIoctlTest {

    @Test
    void systemFdReportsVersionCapabilitiesCpuidAndMsrs() {
        try (Kvm kvm = Kvm.open()) {
            assertEquals(12, kvm.apiVersion());
            assertEquals(1, kvm.checkExtension(Capability.USER_MEMORY));
            assertTrue(kvm.checkExtension(Capability.NR_MEMSLOTS) > 0);
            assertTrue(kvm.vcpuMmapSize() >= 4096);
            CpuidTable cpuid = kvm.supportedCpuid();
            assertTrue(cpuid.entries().size() > 5);
            assertTrue(kvm.guestCpuid().has(CpuFeature.TSC_DEADLINE),
                    "what KVM gives a guest has its in-kernel APIC's TSC-deadline timer");
            // two reads, which may run on two host CPUs: their APIC IDs are the answering CPU's own (CpuidTable.withApicId)
            assertEquals(cpuid.withFeature(CpuFeature.TSC_DEADLINE, true).withApicId(0), kvm.guestCpuid().withApicId(0),
                    "and is otherwise its supported CPUID");
            assertEquals(12, cpuid.vendor().length());
            assertEquals(cpuid.vendor(), new String(java.nio.ByteBuffer.allocate(12).order(java.nio.ByteOrder.LITTLE_ENDIAN)
                    .putInt(HostCpu.cpuid(0, 0)[1]).putInt(HostCpu.cpuid(0, 0)[3]).putInt(HostCpu.cpuid(0, 0)[2]).array(),
                    java.nio.charset.StandardCharsets.US_ASCII), "KVM's vendor is the CPU's own, whichever vendor that is");
            assertTrue((cpuid.supportedXcr0() & 0x3) == 0x3, "x87 and SSE are always supported");
            int[] msrs = kvm.msrIndexList();
            assertTrue(Arrays.stream(msrs).anyMatch(m -> m == Msrs.IA32_LSTAR), "LSTAR is saved by KVM");
        }
    }

    @Test
    void vmFdAnswersCapabilitiesAndBuildsIrqchipAndPit() {
        try (Kvm kvm = Kvm.open(); Vm vm = kvm.createVm()) {
            assertTrue(vm.checkExtension(Capability.XSAVE2) == 0 || vm.checkExtension(Capability.XSAVE2) >= 4096);
            vm.setTssAddress(0xFFFB_D000L);
            vm.createIrqchip();
            vm.createPit2();
            vm.irqLine(4, true);
            vm.irqLine(4, false);
            KvmVcpu vcpu = vm.createVcpu(0);
            assertEquals(0, vcpu.id());
            vcpu.setMpState(KvmVcpu.MpState.HALTED);
            assertEquals(KvmVcpu.MpState.HALTED, vcpu.mpState());
            LinuxLikeFailure.assertNamesIoctl(() -> vm.createVcpu(0), "KVM_CREATE_VCPU");
        }
    }

    @Test
    void ioMmioAndHltExitsCarryTheirData() {
        byte[] code = hex("b0 42 e6 80" // mov al, 0x42; out 0x80, al
                + "e4 81 88 c3" // in al, 0x81; mov bl, al
                + "b8 ef be ad de b9 00 00 00 40 89 01" // mov eax, 0xdeadbeef; mov ecx, 0x40000000; mov [rcx], eax
                + "8b 11 f4"); // mov edx, [rcx]; hlt
        try (LongModeVm g = new LongModeVm(code)) {
            VcpuExit.Io out = assertInstanceOf(VcpuExit.Io.class, g.vcpu.run());
            assertTrue(out.out());
            assertEquals(0x80, out.port());
            assertEquals(1, out.size());
            assertEquals(1, out.count());
            assertEquals(0x42, out.data().get(0));

            VcpuExit.Io in = assertInstanceOf(VcpuExit.Io.class, g.vcpu.run());
            assertFalse(in.out());
            assertEquals(0x81, in.port());
            in.data().set(0, 0x99);

            VcpuExit.Mmio write = assertInstanceOf(VcpuExit.Mmio.class, g.vcpu.run());
            assertTrue(write.write());
            assertEquals(0x40000000L, write.address());
            assertEquals(4, write.length());
            assertEquals(0xdeadbeefL, write.data().get(0));

            VcpuExit.Mmio read = assertInstanceOf(VcpuExit.Mmio.class, g.vcpu.run());
            assertFalse(read.write());
            read.data().set(0, 0x12345678);

            assertInstanceOf(VcpuExit.Hlt.class, g.vcpu.run());
            Registers r = g.vcpu.registers();
            assertEquals(0x99, r.rbx() & 0xFF);
            assertEquals(0x12345678, r.rdx());
            assertEquals(LongModeVm.CODE + code.length, r.rip());
        }
    }

    @Test
    void requestExitStopsARunningVcpuAndOneAboutToRun() throws Exception {
        try (LongModeVm g = new LongModeVm(hex("eb fe"))) { // jmp .
            CompletableFuture<VcpuExit> running = CompletableFuture.supplyAsync(g.vcpu::run,
                    r -> Thread.ofPlatform().start(r));
            Thread.sleep(200);
            assertFalse(running.isDone(), "the guest spins until asked to stop");
            g.vcpu.requestExit();
            assertInstanceOf(VcpuExit.Interrupted.class, running.get(10, TimeUnit.SECONDS));
            assertTrue(g.vcpu.exitRequested());
            assertInstanceOf(VcpuExit.Interrupted.class, g.vcpu.run(), "immediate_exit stays set until cleared");
            g.vcpu.clearExitRequest();
            assertFalse(g.vcpu.exitRequested());
            assertEquals(LongModeVm.CODE, g.vcpu.registers().rip());
        }
    }

    @Test
    void externalInterruptIsDeliveredThroughTheIdt() {
        // main: sti; hlt. Handler for vector 0x30 at CODE+0x100: mov al, 0x30; out 0x90, al; hlt.
        byte[] code = new byte[0x110];
        System.arraycopy(hex("fb f4"), 0, code, 0, 2);
        System.arraycopy(hex("b0 30 e6 90 f4"), 0, code, 0x100, 5);
        try (LongModeVm g = new LongModeVm(code)) {
            long idt = 0x9000;
            long handler = LongModeVm.CODE + 0x100;
            Idt.writeGate(g.memory, idt, 0x30, handler);
            Idt.load(g.vcpu, idt, 0xFFF);
            assertInstanceOf(VcpuExit.Hlt.class, g.vcpu.run());
            assertTrue(g.vcpu.registers().interruptsEnabled());
            g.vcpu.interrupt(0x30);
            VcpuExit.Io io = assertInstanceOf(VcpuExit.Io.class, g.vcpu.run());
            assertEquals(0x90, io.port());
            assertEquals(0x30, io.data().get(0));
        }
    }

    /** IF = 0 at entry: inc ebx; sti; inc ebx; inc ebx; hlt. Handler for 0x30: mov eax, ebx; out 0x90, al; hlt. */
    private static LongModeVm vmRaisingIntrWhileIfIsClear(int[] acknowledged) {
        byte[] code = new byte[0x110];
        System.arraycopy(hex("ff c3 fb ff c3 ff c3 f4"), 0, code, 0, 8);
        System.arraycopy(hex("89 d8 e6 90 f4"), 0, code, 0x100, 5);
        LongModeVm g = new LongModeVm(code);
        long idt = 0x9000;
        Idt.writeGate(g.memory, idt, 0x30, LongModeVm.CODE + 0x100);
        Idt.load(g.vcpu, idt, 0xFFF);
        g.vcpu.connectInterrupts(() -> {
            acknowledged[0]++;
            g.vcpu.setInterruptLine(false);
            return 0x30;
        });
        g.vcpu.setInterruptLine(true);
        return g;
    }

    /**
     * An interrupt raised while IF is clear. KVM's API (request_interrupt_window, KVM_EXIT_IRQ_WINDOW_OPEN): with no
     * in-kernel irqchip, KVM_RUN returns as soon as the guest can take it; VMX and SVM do so through interrupt-window
     * exiting, once IF is set and STI's shadow is over (after the STI and the INC in its shadow, before the next INC).
     * kvm_pvm never exits for the window (HostKvm): the interrupt waits for the next exit, the HLT, after which KVM
     * is ready for it. Which rule applies is the host's KVM module's, read from the kernel, not from the run.
     */
    @Test
    void anInterruptRaisedWhileIfIsClearIsInjectedWhenTheHostsKvmOpensTheWindow() {
        int[] acknowledged = new int[1];
        try (LongModeVm g = vmRaisingIntrWhileIfIsClear(acknowledged)) {
            if (!HostKvm.isPvm()) {
                VcpuExit.Io io = assertInstanceOf(VcpuExit.Io.class, g.vcpu.run(), "VMX/SVM: the handler's OUT, before the HLT");
                assertEquals(0x90, io.port());
                assertEquals(2, io.data().get(0), "the INC before STI and the one in its shadow ran; the window opened next");
                assertEquals(1, acknowledged[0]);
                return;
            }
            assertInstanceOf(VcpuExit.Hlt.class, g.vcpu.run(), "kvm_pvm: no window exit, the HLT comes first");
            assertEquals(3, g.vcpu.registers().rbx());
            assertEquals(0, acknowledged[0], "not taken before that exit");
            VcpuExit.Io io = assertInstanceOf(VcpuExit.Io.class, g.vcpu.run());
            assertEquals(0x90, io.port());
            assertEquals(3, io.data().get(0), "delivered at the first entry after the HLT");
            assertEquals(1, acknowledged[0]);
        }
    }

    @Test
    void registerStateRoundTrips() {
        try (LongModeVm g = new LongModeVm(hex("f4"))) {
            Registers r = new Registers(1, 2, 3, 4, 5, 6, 0x8000, 8, 9, 10, 11, 12, 13, 14, 15, 16, 0x100000, 0x2 | 0x1 | 0x40);
            g.vcpu.setRegisters(r);
            assertEquals(r, g.vcpu.registers());

            SpecialRegisters s = g.vcpu.specialRegisters();
            assertTrue(s.longModeActive());
            assertTrue(s.cs().l());
            assertEquals(0x2000, s.cr3());
            SpecialRegisters changed = new SpecialRegisters(s.cs(), s.ds(), s.es(), s.fs(), s.gs(), s.ss(), s.tr(), s.ldt(),
                    s.gdt(), s.idt(), s.cr0(), 0xABC000, s.cr3(), s.cr4(), s.cr8(), s.efer(), s.apicBase(), s.interruptBitmap());
            g.vcpu.setSpecialRegisters(changed);
            assertEquals(changed, g.vcpu.specialRegisters());

            byte[] xmm = new byte[256];
            for (int i = 0; i < xmm.length; i++) {
                xmm[i] = (byte) (i * 7);
            }
            FpuState f = new FpuState(new byte[128], 0x27F, 0, 0, 0, 0, 0, xmm, 0x1FA0);
            g.vcpu.setFpu(f);
            FpuState back = g.vcpu.fpu();
            assertArrayEquals(xmm, back.xmm());
            assertEquals(0x27F, back.fcw());
            // KVM_GET/SET_FPU leave kvm_fpu.mxcsr alone (x86.c copies fcw..xmm only): MXCSR travels in the XSAVE image.

            DebugRegisters d = new DebugRegisters(0x1000, 0x2000, 0x3000, 0x4000, 0xFFFF0FF0L, 0x400);
            g.vcpu.setDebugRegisters(d);
            assertEquals(d, g.vcpu.debugRegisters());

            PendingEvents e = g.vcpu.events();
            g.vcpu.setEvents(e);
            assertEquals(e, g.vcpu.events());

            g.vcpu.setMpState(KvmVcpu.MpState.RUNNABLE); // other states need the in-kernel LAPIC: see the irqchip test
            assertEquals(KvmVcpu.MpState.RUNNABLE, g.vcpu.mpState());
        }
    }

    @Test
    void cpuidMsrsXcrsAndXsaveRoundTrip() {
        try (LongModeVm g = new LongModeVm(hex("f4"))) {
            CpuidTable set = g.vcpu.cpuid();
            // KVM may adjust what it stores (this host's KVM rewrites leaves 1, 7 and 0xD); vendor and signature stay.
            assertEquals(g.cpuid.vendor(), set.vendor());
            assertEquals(g.cpuid.leaf(1, 0).eax(), set.leaf(1, 0).eax());
            assertTrue(set.entries().size() > 5);

            Map<Integer, Long> msrs = new LinkedHashMap<>();
            msrs.put(Msrs.IA32_LSTAR, 0xFFFF_FFFF_8100_0000L);
            msrs.put(Msrs.IA32_STAR, 0x0023_0010_0000_0000L);
            msrs.put(Msrs.IA32_KERNEL_GS_BASE, 0x1234_5000L);
            g.vcpu.setMsrs(msrs);
            assertEquals(msrs, g.vcpu.msrs(Msrs.IA32_LSTAR, Msrs.IA32_STAR, Msrs.IA32_KERNEL_GS_BASE));
            KvmException unknown = assertThrows(KvmException.class, () -> g.vcpu.msrs(0x12345));
            assertTrue(unknown.getMessage().contains("MSR 0x12345"), unknown.getMessage());

            // The entry contract sets XCR0 = x87|SSE when the guest CPU has XSAVE. This KVM's supported CPUID leaf 1
            // has no XSAVE bit (kvm_pvm), so there XCR0 keeps its reset value 1.
            assertEquals(Map.of(0, g.cpuid.hasXsave() ? 3L : 1L), Map.copyOf(g.vcpu.xcrs()));

            byte[] xsave = g.vcpu.xsave();
            assertEquals(g.vcpu.xsaveSize(), xsave.length);
            for (int i = 0; i < 16; i++) {
                xsave[160 + i] = (byte) (0xA0 + i); // XMM0 in the legacy region
            }
            xsave[24] = (byte) 0xA0; // MXCSR 0x1FA0: round-to-nearest, PM set, all masked
            xsave[25] = 0x1F;
            xsave[512] |= 0x2; // XSTATE_BV: SSE state is present
            g.vcpu.setXsave(xsave);
            byte[] back = g.vcpu.xsave();
            assertArrayEquals(Arrays.copyOfRange(xsave, 160, 176), Arrays.copyOfRange(back, 160, 176));
            assertEquals(0x1FA0, (back[24] & 0xFF) | (back[25] & 0xFF) << 8, "MXCSR round-trips through XSAVE");
            assertEquals((byte) 0xA0, g.vcpu.fpu().xmm()[0], "KVM_GET_FPU sees what KVM_SET_XSAVE wrote");
            assertThrows(KvmException.class, () -> g.vcpu.setXsave(new byte[g.vcpu.xsaveSize() + 64]));
        }
    }

    @Test
    void translateWalksTheGuestPageTables() {
        try (LongModeVm g = new LongModeVm(hex("f4"))) {
            assertEquals(0x100000, g.vcpu.translate(0x100000));
            assertEquals(0x3FFF_F123L, g.vcpu.translate(0x3FFF_F123L), "identity map covers the first 4 GiB");
            assertEquals(-1, g.vcpu.translate(0x0000_7000_0000_0000L), "nothing is mapped up there");
        }
    }

    /**
     * KVM_SET_TSC_KHZ: the vCPU's own rate is always taken; half of it needs TSC scaling (KVM_CAP_TSC_CONTROL), and
     * where it is refused the vCPU reports the rate it still counts at, not the one asked for.
     */
    @Test
    void aVcpuTakesATscRateWhereKvmCanScaleAndOtherwiseKeepsItsOwn() {
        try (Kvm kvm = Kvm.open(); Vm vm = kvm.createVm()) {
            KvmVcpu vcpu = vm.createVcpu(0);
            long own = vcpu.tscKhz();
            assertTrue(own > 0, "KVM_CAP_GET_TSC_KHZ: every KVM jkvm supports reports the rate");
            assertTrue(vcpu.setTscKhz(own), "the vCPU's own rate");
            assertEquals(own, vcpu.tscKhz());
            boolean scales = vm.checkExtension(Capability.TSC_CONTROL) > 0;
            assertEquals(scales, vcpu.setTscKhz(own / 2), "half the rate needs scaling");
            assertEquals(scales ? own / 2 : own, vcpu.tscKhz(), "the rate it counts at after the request");
            assertFalse(vcpu.setTscKhz(0), "no rate");
        }
    }

    /**
     * KVM_SET_CLOCK and KVM_GET_CLOCK: the VM's kvmclock reads what was set and runs on from there, as a restore that
     * sets a snapshot's clock needs; set back, it reads the earlier value again (no monotonic floor across a set).
     */
    @Test
    void theVmClockReadsWhatWasSetAndRunsOn() throws Exception {
        try (Kvm kvm = Kvm.open(); Vm vm = kvm.createVm()) {
            vm.createVcpu(0);
            long ahead = 5_000_000_000_000L; // about 83 minutes
            vm.setClock(ahead);
            long first = vm.clock();
            Thread.sleep(20);
            long second = vm.clock();
            assertTrue(first >= ahead && first < ahead + 1_000_000_000L, "read right after the set: " + first);
            assertTrue(second - first >= 15_000_000L && second - first < 5_000_000_000L, "it runs: " + first + " then " + second);
            vm.setClock(1_000_000_000L);
            long back = vm.clock();
            assertTrue(back >= 1_000_000_000L && back < 2_000_000_000L, "set back: " + back);
        }
    }
}

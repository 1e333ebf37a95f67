package io.jkvm.kvm;

import io.jkvm.linux.HostCpu;
import io.jkvm.testing.EmuVm;
import io.jkvm.testing.Idt;
import io.jkvm.testing.LongModeVm;
import io.jkvm.testing.RequiresKvm;
import io.jkvm.x86.Activity;
import io.jkvm.x86.CpuModel;
import io.jkvm.x86.VcpuExit;
import io.jkvm.x86.VcpuState;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;

/**
 * A vCPU saved while it sits in HLT resumes in HLT on either backend: its first run reports the HLT again (the
 * machine then waits for INTR) instead of running on past it, which is what a spurious wake-up would do.
 */
@RequiresKvm
class HltActivityTest {
    /** sti; hlt; out 0x80, al; hlt */
    private static final byte[] CODE = LongModeVm.hex("fb f4 e6 80 f4");

    @Test
    void kvmInHltMovesToTheCoreStillInHlt() {
        try (LongModeVm k = new LongModeVm(CODE); EmuVm e = new EmuVm(new CpuModel("host", k.cpuid, HostCpu.mxcsrMask()), CODE)) {
            assertInstanceOf(VcpuExit.Hlt.class, k.vcpu.run());
            k.vcpu.requestExit();
            assertInstanceOf(VcpuExit.Interrupted.class, k.vcpu.run(), "a pause while in HLT does not enter the guest");
            k.vcpu.clearExitRequest();
            VcpuState s = k.vcpu.saveState();
            assertEquals(Activity.HALTED, s.activity(), "KVM's vCPU after its HLT exit");

            e.vcpu.restoreState(s);
            assertEquals(Activity.HALTED, e.vcpu.saveState().activity(), "the core's record right after the restore");
            assertInstanceOf(VcpuExit.Hlt.class, e.vcpu.run(), "the core resumes in HLT");
            assertEquals(s.registers().rip(), e.vcpu.registers().rip(), "RIP still right after the HLT");
            assertEquals(0x80, ((VcpuExit.Io) e.vcpu.run()).port(), "woken by the machine, it runs on to OUT 0x80");
            assertEquals(Activity.ACTIVE, e.vcpu.saveState().activity());

            e.vcpu.restoreState(s.withActivity(Activity.ACTIVE));
            assertInstanceOf(VcpuExit.Io.class, e.vcpu.run(), "a record saved running runs on at once");
        }
    }

    /**
     * Restored in HLT on KVM with INTR up, the vCPU takes the interrupt that wakes it (the handler's OUT 0x90 comes
     * before the OUT 0x80 after the HLT): whether it can is taken from the restored state, not from a
     * ready_for_interrupt_injection left from before the restore, which kvm_pvm never corrects.
     */
    @Test
    void aVcpuRestoredInHltOnKvmTakesTheInterruptThatWakesIt() {
        long idt = 0x200000, handler = LongModeVm.CODE + 0x40;
        byte[] handlerCode = LongModeVm.hex("b0 2a e6 90 f4"); // mov al, 42; out 0x90, al; hlt
        try (LongModeVm k = new LongModeVm(CODE); EmuVm e = new EmuVm(new CpuModel("host", k.cpuid, HostCpu.mxcsrMask()), CODE)) {
            for (io.jkvm.machine.GuestMemory m : java.util.List.of(k.memory, e.memory)) {
                m.write(handler, handlerCode, 0, handlerCode.length);
                Idt.writeGate(m, idt, 0x30, handler);
            }
            Idt.load(e.vcpu, idt, 0xFFF);
            assertInstanceOf(VcpuExit.Hlt.class, e.vcpu.run());
            VcpuState s = e.vcpu.saveState();
            assertEquals(Activity.HALTED, s.activity());

            int[] acknowledged = new int[1];
            k.vcpu.restoreState(s);
            k.vcpu.connectInterrupts(() -> {
                acknowledged[0]++;
                k.vcpu.setInterruptLine(false);
                return 0x30;
            });
            assertInstanceOf(VcpuExit.Hlt.class, k.vcpu.run(), "the restored HLT, reported once");
            k.vcpu.setInterruptLine(true); // the machine's PIC raises INTR: it wakes the vCPU
            VcpuExit.Io io = assertInstanceOf(VcpuExit.Io.class, k.vcpu.run());
            assertEquals(0x90, io.port(), "the interrupt handler runs first, not the code after the HLT");
            assertEquals(1, acknowledged[0]);
        }
    }

    @Test
    void theCoreInHltMovesToKvmStillInHlt() {
        try (LongModeVm k = new LongModeVm(CODE); EmuVm e = new EmuVm(new CpuModel("host", k.cpuid, HostCpu.mxcsrMask()), CODE)) {
            assertInstanceOf(VcpuExit.Hlt.class, e.vcpu.run());
            VcpuState s = e.vcpu.saveState();
            assertEquals(Activity.HALTED, s.activity(), "the core's vCPU after its HLT exit");

            k.vcpu.restoreState(s);
            assertEquals(Activity.HALTED, k.vcpu.saveState().activity(), "KVM's record right after the restore");
            assertInstanceOf(VcpuExit.Hlt.class, k.vcpu.run(), "KVM's vCPU resumes in HLT");
            assertEquals(0x80, ((VcpuExit.Io) k.vcpu.run()).port(), "woken by the machine, it runs on to OUT 0x80");
            assertEquals(Activity.ACTIVE, k.vcpu.saveState().activity());
        }
    }
}

package io.jkvm.kvm;

import io.jkvm.linux.HostCpu;
import io.jkvm.testing.EmuVm;
import io.jkvm.testing.LongModeVm;
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

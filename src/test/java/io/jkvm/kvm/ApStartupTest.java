package io.jkvm.kvm;

import io.jkvm.machine.LongModeBoot;
import io.jkvm.testing.Asm;
import io.jkvm.testing.LongModeVm;
import io.jkvm.testing.RequiresKvm;
import io.jkvm.x86.Activity;
import io.jkvm.x86.VcpuExit;
import io.jkvm.x86.VcpuState;
import io.jkvm.x86.VcpuStateException;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Application processors on the real /dev/kvm with the in-kernel irqchip: an AP waits for a STARTUP IPI in the
 * kernel (its record says WAIT_FOR_SIPI), the boot processor's INIT and STARTUP through its local APIC start it at
 * the vector's page in real mode, and a waiting AP restored from a record (INIT_RECEIVED) starts on a STARTUP alone.
 * KVM_GET_MP_STATE takes the pending IPIs, so the AP is checked without running it (kvm_pvm runs no real mode).
 */
@RequiresKvm
class ApStartupTest {
    private static final long APIC = 0xFEE00000L;
    private static final long SIPI_ONLY = LongModeVm.CODE + 0x100;

    /** The boot processor: enables its APIC, aims the ICR at APIC ID 1, sends {@code icrLows} in turn, then OUT 0x80. */
    private static byte[] sends(int... icrLows) {
        Asm a = new Asm();
        a.movImm64(0, APIC + 0xF0).raw("c7 00").immediate(0x1FF, 4);        // SPIV: software-enabled
        a.movImm64(0, APIC + 0x310).raw("c7 00").immediate(1L << 24, 4);   // ICR high: destination APIC ID 1
        a.movImm64(0, APIC + 0x300);
        for (int low : icrLows) {
            a.raw("c7 00").immediate(low, 4);                                   // ICR low: sends it
        }
        return a.outAl(0x80).bytes();
    }

    private static void runBsp(LongModeVm g, long rip) {
        g.vcpu.setRegisters(LongModeBoot.registers(rip, g.memory.size()));
        VcpuExit exit = g.vcpu.run();
        assertInstanceOf(VcpuExit.Io.class, exit, () -> "the boot processor ended with " + exit);
    }

    private static void assertStartedAt(KvmVcpu ap, int vector) {
        assertEquals(KvmVcpu.MpState.RUNNABLE, ap.mpState(), "the STARTUP IPI made the AP runnable");
        assertEquals(vector << 8, ap.specialRegisters().cs().selector(), "CS is the vector's segment");
        assertEquals((long) vector << 12, ap.specialRegisters().cs().base());
        assertEquals(0, ap.registers().rip(), "at offset 0 of that page");
        assertEquals(Activity.ACTIVE, ap.saveState().activity());
    }

    @Test
    void theBootProcessorsInitAndStartupStartAWaitingAp() {
        byte[] initThenStartup = sends(0x4500, 0x4608); // INIT (assert), then STARTUP with vector 8
        try (LongModeVm g = new LongModeVm(16L << 20, true, initThenStartup)) {
            byte[] startupOnly = sends(0x4609);
            g.memory.write(SIPI_ONLY, startupOnly, 0, startupOnly.length);
            KvmVcpu ap = g.vm.createVcpu(1);
            ap.setCpuid(g.cpuid.withApicId(1));
            assertEquals(KvmVcpu.MpState.UNINITIALIZED, ap.mpState(), "an AP with the kernel's APIC waits from its creation");
            VcpuState waiting = ap.saveState();
            assertEquals(Activity.WAIT_FOR_SIPI, waiting.activity());

            runBsp(g, LongModeVm.CODE);
            assertStartedAt(ap, 8);

            ap.restoreState(waiting);
            assertEquals(KvmVcpu.MpState.INIT_RECEIVED, ap.mpState(), "a waiting record: the state that takes a STARTUP IPI");
            assertEquals(Activity.WAIT_FOR_SIPI, ap.saveState().activity());
            runBsp(g, SIPI_ONLY);
            assertStartedAt(ap, 9);
        }
    }

    @Test
    void withoutTheKernelsApicAWaitingApIsRefusedInOneLine() {
        try (LongModeVm g = new LongModeVm(16L << 20, true, sends())) {
            KvmVcpu ap = g.vm.createVcpu(1);
            ap.setCpuid(g.cpuid.withApicId(1));
            VcpuState waiting = ap.saveState();
            try (LongModeVm plain = new LongModeVm(new Asm().hlt().bytes())) {
                VcpuStateException e = assertThrows(VcpuStateException.class, () -> plain.vcpu.restoreState(waiting));
                assertTrue(e.getMessage().contains("waits for a STARTUP IPI") && !e.getMessage().contains("\n"), e.getMessage());
            }
        }
    }
}

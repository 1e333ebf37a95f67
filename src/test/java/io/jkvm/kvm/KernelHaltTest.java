package io.jkvm.kvm;

import io.jkvm.testing.Asm;
import io.jkvm.testing.LongModeVm;
import io.jkvm.testing.RequiresKvm;
import io.jkvm.x86.VcpuExit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * HLT inside KVM's in-kernel irqchip on the real /dev/kvm: it never leaves KVM_RUN, a kick makes the run return, and
 * the kernel's MP state with IF tells an HLT with interrupts disabled (the end of a run) from one waiting for an
 * interrupt.
 */
@RequiresKvm
class KernelHaltTest {
    /** Runs {@code code} on a VM with the in-kernel irqchip until the vCPU halts in the kernel, then kicks it out. */
    private static void haltThenKick(byte[] code, boolean interruptsOff) throws Exception {
        try (LongModeVm g = new LongModeVm(16L << 20, true, code)) {
            CompletableFuture<VcpuExit> run = CompletableFuture.supplyAsync(g.vcpu::run, r -> Thread.ofPlatform().start(r));
            assertThrows(java.util.concurrent.TimeoutException.class, () -> run.get(300, TimeUnit.MILLISECONDS),
                    "HLT stays in the kernel: KVM_RUN does not return");
            g.vcpu.kick();
            assertInstanceOf(VcpuExit.Interrupted.class, run.get(10, TimeUnit.SECONDS), "the kick ends the run");
            assertEquals(KvmVcpu.MpState.HALTED, g.vcpu.mpState(), "still halted in the kernel's APIC");
            assertEquals(interruptsOff, g.vcpu.haltedWithInterruptsOff());
            assertFalse(g.vcpu.exitRequested(), "a kick leaves no exit request behind");
        }
    }

    @Test
    @Timeout(30)
    void anHltWithInterruptsDisabledIsSeenAfterAKick() throws Exception {
        haltThenKick(new Asm().cli().hlt().bytes(), true);
    }

    @Test
    @Timeout(30)
    void anHltWaitingForAnInterruptIsNotTheEnd() throws Exception {
        haltThenKick(new Asm().raw("fb").hlt().bytes(), false); // STI; HLT
    }

    @Test
    void withoutTheIrqchipThereIsNoKernelHalt() {
        try (LongModeVm g = new LongModeVm(new Asm().cli().hlt().bytes())) {
            assertInstanceOf(VcpuExit.Hlt.class, g.vcpu.run(), "HLT is an exit");
            assertFalse(g.vcpu.haltedWithInterruptsOff(), "jkvm sees that HLT itself; there is no kernel state to read");
            assertTrue(g.vcpu.saveState().activity() == io.jkvm.x86.Activity.HALTED);
        }
    }
}

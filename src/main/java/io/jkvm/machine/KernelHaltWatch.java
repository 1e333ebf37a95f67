package io.jkvm.machine;

import io.jkvm.kvm.KvmVcpu;
import io.jkvm.x86.VirtualCpu;

/**
 * The end of a run by HLT with interrupts disabled, where the boot processor halts inside KVM's in-kernel irqchip (a
 * kernel's machine on KVM): such an HLT never leaves KVM_RUN, so run()'s thread kicks vCPU 0 out of it every
 * {@link #PERIOD_MILLIS} and its runner looks at the kernel's MP state and IF. On the software core, and on KVM
 * without the in-kernel irqchip, HLT is an exit the machine sees at once.
 */
final class KernelHaltWatch {
    /** How often a halted boot processor is looked at: the most a run ends late by, and 4 KVM_RUN returns a second. */
    static final long PERIOD_MILLIS = 250;

    private KernelHaltWatch() {
    }

    /** Whether the boot processor is on KVM with the in-kernel irqchip, where only a kick shows its HLT. */
    static boolean needed(VirtualCpu bsp) {
        return bsp instanceof KvmVcpu k && k.vm().hasIrqchip();
    }

    /** From run()'s thread: makes vCPU 0's KVM_RUN return, so its runner looks; {@code bsp} is one that {@link #needed} it. */
    static void kick(VirtualCpu bsp) {
        ((KvmVcpu) bsp).kick();
    }

    /** From vCPU {@code id}'s runner after its run returned: whether the boot processor halted for good. */
    static boolean haltedForGood(int id, VirtualCpu vcpu) {
        return id == 0 && needed(vcpu) && ((KvmVcpu) vcpu).haltedWithInterruptsOff();
    }
}

package io.jkvm.testing;

import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Which KVM this host has, from the kernel module that provides /dev/kvm, so a test whose expectation depends on it
 * takes that expectation from the module's known rules, never from what it observed. kvm_pvm (the project's
 * sandboxed machines) runs CPL0 guest code through KVM's instruction emulator and deviates from VMX and SVM:
 * <ul>
 *   <li>it ignores kvm_run.request_interrupt_window: KVM_RUN never exits with KVM_EXIT_IRQ_WINDOW_OPEN, so an
 *       interrupt held back by IF = 0 waits for the next exit (measured: even with IF = 1 at entry it runs on);</li>
 *   <li>XGETBV, INT3, x87 and {@code movq xmm, r64} at CPL0 end in KVM_EXIT_INTERNAL_ERROR (emulation failure);</li>
 *   <li>SGDT/LGDT on an MMIO address never return from KVM_RUN.</li>
 * </ul>
 */
public final class HostKvm {
    private HostKvm() {
    }

    /**
     * The backend a test that runs on either restores with: auto where /dev/kvm exists (KVM or the core, as jkvm
     * picks), else the core, since auto refuses a host without the device.
     */
    public static io.jkvm.machine.Backend autoOrCore() {
        return KvmDeviceCondition.hostHasKvm() ? io.jkvm.machine.Backend.AUTO : io.jkvm.machine.Backend.EMULATOR;
    }

    /** {@link #autoOrCore()} as jkvm's --backend option spells it. */
    public static String autoOrCoreOption() {
        return KvmDeviceCondition.hostHasKvm() ? "auto" : "emulator";
    }

    /** True when /dev/kvm is kvm_pvm's (a loaded module shows under /sys/module). */
    public static boolean isPvm() {
        return Files.isDirectory(Path.of("/sys/module/kvm_pvm"));
    }
}

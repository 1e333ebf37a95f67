package io.jkvm.linux;

import java.lang.invoke.MethodHandles;

/**
 * The libc downcalls as a whole. Each is linked on its first use, and linking is the slow part of a cold start (the
 * first link about a tenth of a second, each further one several milliseconds), so a start may link what it will call
 * ahead, on a thread of its own.
 */
public final class Downcalls {
    private Downcalls() {
    }

    /**
     * Links what every machine calls as it is made, on the calling thread: the system calls (the guest memory and
     * image mappings, files, the console's terminal) and the host CPU's identity. A thread using one of them meanwhile waits for its link to finish, as for any class
     * being initialized.
     */
    public static void linkForMachine() {
        link(Libc.Syscall.class, HostCpu.Code.class);
    }

    /**
     * Links KVM's quick ioctls, which a machine makes whenever KVM can be opened (the software core asks it for the
     * host model); its other ioctls are system calls.
     */
    public static void linkForKvm() {
        link(Libc.IoctlLongCritical.class);
    }

    /** Binds what the sandbox calls as it goes up besides system calls: glibc's user look-up and switch. */
    public static void linkForSandbox() {
        link(Libc.Glibc.class);
    }

    /** Links what KVM's vCPUs call besides: the vCPU threads' kicks. */
    public static void linkForKvmVcpus() {
        link(Libc.PthreadSelf.class, Libc.PthreadKill.class);
    }

    private static void link(Class<?>... holders) {
        MethodHandles.Lookup lookup = MethodHandles.lookup();
        for (Class<?> holder : holders) {
            try {
                lookup.ensureInitialized(holder);
            } catch (IllegalAccessException e) {
                throw new AssertionError("the downcall holders are in this package", e);
            }
        }
    }
}

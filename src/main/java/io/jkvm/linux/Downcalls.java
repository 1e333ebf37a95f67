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
     * image mappings, files, the console's terminal) and the host CPU's identity. A thread using one of them meanwhile
     * waits for its link to finish, as for any class being initialized.
     */
    public static void linkForMachine() {
        link(Libc.Syscall.class, HostCpu.Code.class);
    }

    /**
     * KVM's quick ioctls (capability and size queries) through syscall(2)'s shape in this process, not as critical
     * downcalls: a launch makes a few of them as it makes the machine, and the critical downcall is a shape of its own,
     * whose link (tens of milliseconds cold) would hold up the launch's start to save some 15 ns on each.
     */
    public static void quickIoctlsAsSystemCalls() {
        Libc.CriticalLink.decline(); // Libc itself initialized on a start-ahead thread
    }

    /** Finds what the sandbox calls as it goes up besides system calls: glibc's user look-up and switch. */
    public static void linkForSandbox() {
        link(Libc.Glibc.class);
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

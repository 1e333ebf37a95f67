package io.jkvm.linux;

/**
 * An ioctl request number with the name it has in the UAPI headers, so failures can name it. A quick ioctl
 * (a capability or size query that touches no vCPU) is called as a critical downcall, without the JVM's
 * thread-state transition: measured, that saves about 15 ns on a 110 ns call, but makes a multi-microsecond
 * call such as KVM_GET_REGS about 15% slower, so only the queries are marked quick. A launch of jkvm's own makes
 * them as system calls ({@link Downcalls#quickIoctlsAsSystemCalls}): the critical downcall's link costs its start more.
 */
public record Ioctl(String name, long number, boolean quick) {
    public Ioctl(String name, long number) {
        this(name, number, false);
    }

    public static Ioctl quick(String name, long number) {
        return new Ioctl(name, number, true);
    }

    // Written out: the sandbox compares a launch's ioctls as it builds its filter, and the record's generated
    // equality would make its method handles then (some 15 ms of a start).

    @Override
    public boolean equals(Object o) {
        return o instanceof Ioctl i && number == i.number && quick == i.quick && name.equals(i.name);
    }

    @Override
    public int hashCode() {
        return (name.hashCode() * 31 + Long.hashCode(number)) * 31 + Boolean.hashCode(quick);
    }
}

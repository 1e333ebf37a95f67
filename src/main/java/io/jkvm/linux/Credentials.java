package io.jkvm.linux;

import io.jkvm.linux.uapi.Uapi;
import io.jkvm.linux.uapi.passwd;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Optional;

/** The process's user and groups: who it runs as, and the switch to another user (for every thread at once). */
public final class Credentials {
    private Credentials() {
    }

    /** A user of this host's passwd database. */
    public record User(String name, int uid, int gid) {
    }

    public static int effectiveUid() {
        return (int) Libc.syscallOrErrno(Uapi.SYS_geteuid(), 0, 0, 0); // never fails
    }

    public static int realUid() {
        return (int) Libc.syscallOrErrno(Uapi.SYS_getuid(), 0, 0, 0);
    }

    /** The user called {@code name} (getpwnam), if the host has one. */
    public static Optional<User> lookup(String name) {
        MemorySegment state = Libc.callState();
        try (Arena arena = Arena.ofConfined()) {
            long entry = Libc.call(Libc.Glibc.GETPWNAM, state, arena.allocateFrom(name).address(), 0, 0);
            if (entry == 0) {
                return Optional.empty();
            }
            MemorySegment pw = MemorySegment.ofAddress(entry).reinterpret(passwd.layout().byteSize());
            return Optional.of(new User(name, passwd.pw_uid(pw), passwd.pw_gid(pw)));
        }
    }

    /**
     * Becomes {@code user}: its group as the only supplementary group, then its gid, then its uid, each for every
     * thread (glibc makes the other threads follow). Leaving uid 0 for another clears every capability.
     */
    public static void switchTo(User user) {
        MemorySegment state = Libc.callState();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment groups = arena.allocateFrom(ValueLayout.JAVA_INT, user.gid());
            check(Libc.call(Libc.Glibc.SETGROUPS, state, 1, groups.address(), 0), state, "setgroups([" + user.gid() + "])");
            check(Libc.call(Libc.Glibc.SETGID, state, user.gid(), 0, 0), state, "setgid(" + user.gid() + ")");
            check(Libc.call(Libc.Glibc.SETUID, state, user.uid(), 0, 0), state, "setuid(" + user.uid() + ")");
        }
    }

    /** An int result (the low half of the long one) of 0, else the call and errno named. */
    private static void check(long result, MemorySegment state, String call) {
        if ((int) result != 0) {
            throw new LinuxException(call, Libc.errno(state));
        }
    }
}

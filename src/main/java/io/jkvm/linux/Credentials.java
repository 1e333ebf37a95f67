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
        return Uapi.geteuid();
    }

    public static int realUid() {
        return Uapi.getuid();
    }

    /** The user called {@code name} (getpwnam), if the host has one. */
    public static Optional<User> lookup(String name) {
        MemorySegment state = Libc.callState();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment entry = (MemorySegment) Libc.Getpwnam.HANDLE.invokeExact(state, arena.allocateFrom(name));
            if (entry.equals(MemorySegment.NULL)) {
                return Optional.empty();
            }
            MemorySegment pw = entry.reinterpret(passwd.layout().byteSize());
            return Optional.of(new User(name, passwd.pw_uid(pw), passwd.pw_gid(pw)));
        } catch (Throwable t) {
            throw Libc.linkageBroken(t);
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
            check((int) Libc.Setgroups.HANDLE.invokeExact(state, 1L, groups), state, "setgroups([" + user.gid() + "])");
            check((int) Libc.Setgid.HANDLE.invokeExact(state, user.gid()), state, "setgid(" + user.gid() + ")");
            check((int) Libc.Setuid.HANDLE.invokeExact(state, user.uid()), state, "setuid(" + user.uid() + ")");
        } catch (LinuxException e) {
            throw e;
        } catch (Throwable t) {
            throw Libc.linkageBroken(t);
        }
    }

    private static void check(int r, MemorySegment state, String call) {
        if (r != 0) {
            throw new LinuxException(call, Libc.errno(state));
        }
    }
}

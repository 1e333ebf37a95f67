package io.jkvm.linux;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.concurrent.atomic.AtomicBoolean;

/** An open file descriptor: ioctls on it, closed exactly once. */
public final class Fd implements AutoCloseable {
    private final int value;
    private final String name;
    private final AtomicBoolean closed = new AtomicBoolean();

    private Fd(int value, String name) {
        this.value = value;
        this.name = name;
    }

    /** Adopts a descriptor returned by a call (KVM_CREATE_VM, KVM_CREATE_VCPU, eventfd); {@code name} is for messages. */
    public static Fd adopt(int value, String name) {
        return new Fd(value, name);
    }

    /** fcntl.h's AT_FDCWD: openat(2) relative to the working directory, as glibc's open(3) calls it. */
    private static final int AT_FDCWD = -100;

    /** open(2) with O_CLOEXEC added; throws {@link LinuxException} naming the path on failure. */
    public static Fd open(String path, int flags) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = Libc.callState();
            int fd = (int) Libc.syscall(state, io.jkvm.linux.uapi.Uapi.SYS_openat(), AT_FDCWD,
                    arena.allocateFrom(path).address(), flags | io.jkvm.linux.uapi.Uapi.O_CLOEXEC());
            if (fd < 0) {
                throw new LinuxException("open(" + path + ")", Libc.errno(state));
            }
            return new Fd(fd, path);
        } catch (LinuxException e) {
            throw e;
        } catch (Throwable t) {
            throw Libc.linkageBroken(t);
        }
    }

    public int value() {
        return value;
    }

    public String name() {
        return name;
    }

    /** ioctl with an integer argument (pass 0L where the request takes none); returns the call's non-negative result. */
    public int ioctl(Ioctl request, long arg) {
        int r = ioctlOrErrno(request, arg);
        if (r < 0) {
            throw new LinuxException("ioctl(" + request.name() + ") on " + name, -r);
        }
        return r;
    }

    /** ioctl with a pointer argument; returns the call's non-negative result. */
    public int ioctl(Ioctl request, MemorySegment arg) {
        int r = ioctlOrErrno(request, arg);
        if (r < 0) {
            throw new LinuxException("ioctl(" + request.name() + ") on " + name, -r);
        }
        return r;
    }

    /** ioctl returning {@code -errno} on failure instead of throwing, for callers that expect some errors (EINTR). */
    public int ioctlOrErrno(Ioctl request, long arg) {
        return ioctlOrErrno(value, request, arg);
    }

    /** ioctl with a pointer argument (native memory, alive through the call), returning {@code -errno} on failure. */
    public int ioctlOrErrno(Ioctl request, MemorySegment arg) {
        if (!arg.isNative()) { // its address is passed: a heap array's would point nowhere (the linker refused them)
            throw new IllegalArgumentException("ioctl(" + request.name() + ") takes native memory, not a heap segment");
        }
        return ioctlOrErrno(value, request, arg.address());
    }

    /** ioctl on descriptor {@code fd}, which may be one jkvm does not own (a standard stream). */
    static int ioctlOrErrno(int fd, Ioctl request, long arg) {
        java.lang.invoke.MethodHandle critical = request.quick() ? Libc.criticalIoctl() : null;
        if (critical == null) {
            return (int) Libc.syscallOrErrno(io.jkvm.linux.uapi.Uapi.SYS_ioctl(), fd, request.number(), arg);
        }
        MemorySegment state = Libc.callState();
        int r;
        try {
            r = (int) critical.invokeExact(state, fd, request.number(), arg);
        } catch (Throwable t) {
            throw Libc.linkageBroken(t);
        }
        return r < 0 ? -Libc.errno(state) : r;
    }

    /** mmap(2) of this descriptor, shared, read-write; unmapped when the returned mapping is closed. */
    public Mapping map(long length, long offset) {
        return Mapping.ofFd(this, length, offset);
    }

    public boolean isClosed() {
        return closed.get();
    }

    @Override
    public void close() {
        if (closed.compareAndSet(false, true)) {
            MemorySegment state = Libc.callState();
            long r = Libc.syscall(state, io.jkvm.linux.uapi.Uapi.SYS_close(), value, 0, 0);
            if (r < 0) {
                throw new LinuxException("close(" + name + ")", Libc.errno(state));
            }
        }
    }

    @Override
    public String toString() {
        return name + " (fd " + value + ")";
    }
}

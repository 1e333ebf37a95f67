package io.jkvm.linux;

import io.jkvm.linux.uapi.Uapi;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.invoke.MethodHandle;
import java.util.concurrent.atomic.AtomicInteger;

import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * The libc downcalls, linked with errno captured (which jextract does not emit). Each distinct downcall shape costs a
 * link at every start (code spun for it, several milliseconds, the first about a tenth of a second), so all but the
 * vCPU threads' kicks and KVM's quick queries go through one: syscall(2)'s, seven longs to a long
 * (docs/benchmarks.md). Each handle is in a class of its own, so it is linked on its first use, or ahead by
 * {@link Downcalls}.
 */
final class Libc {
    private Libc() {
    }

    private static final Linker LINKER = Linker.nativeLinker();
    private static final Linker.Option ERRNO = Linker.Option.captureCallState("errno");
    private static final StructLayout CALL_STATE = Linker.Option.captureStateLayout();
    /**
     * errno's place in the captured state, read as an int there, found by adding up the sizes of the members before it:
     * a var handle of it is spun at every launch (5 ms), and a layout path's offset initializes the JDK's layout paths
     * (another 5 ms, on the link the launch waits for).
     */
    private static final long ERRNO_OFFSET = errnoOffset();

    private static long errnoOffset() {
        long offset = 0;
        for (java.lang.foreign.MemoryLayout member : CALL_STATE.memberLayouts()) {
            if (member.name().filter("errno"::equals).isPresent()) {
                return offset;
            }
            offset += member.byteSize();
        }
        throw new IllegalStateException("this JDK's captured call state has no errno");
    }

    /**
     * A libc function's address. Not jextract's {@code Uapi.f$address()}: that initializes jextract's holder of the
     * function, which links a second, errno-less handle, doubling the cost of the link. The descriptors beside each
     * are jextract's (LibcTest holds them to it).
     */
    private static MemorySegment symbol(String name) {
        return LINKER.defaultLookup().findOrThrow(name);
    }

    // ioctl is variadic: its third argument, a long or a pointer, is one register; a pointer is passed as its address.
    // Critical: no thread-state transition, for the quick query ioctls only (see Ioctl); the others are syscall(2)'s.
    static final class IoctlLongCritical {
        static final MethodHandle HANDLE = LINKER.downcallHandle(Uapi.ioctl.address(),
                FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_LONG, JAVA_LONG),
                ERRNO, Linker.Option.firstVariadicArg(2), Linker.Option.critical(false));

        static {
            CriticalLink.STATE.set(CriticalLink.LINKED);
        }
    }

    /**
     * How far the critical ioctl's link is: a shape of its own, so a link of its own (tens of milliseconds cold). A
     * class apart, so that a launch declines it without initializing Libc (its layouts and linker, some milliseconds
     * of the main thread before the start-ahead threads begin).
     */
    static final class CriticalLink {
        private static final int UNLINKED = 0, LINKING = 1, LINKED = 2, DECLINED = 3;
        private static final AtomicInteger STATE = new AtomicInteger();

        private CriticalLink() {
        }

        /** The quick ioctls through syscall(2)'s shape from now on, unless the critical one is linked (or linking). */
        static void decline() {
            STATE.compareAndSet(UNLINKED, DECLINED);
        }
    }

    /**
     * The critical ioctl's handle, linked on the calling thread at its first use; null when this process declined it
     * ({@link CriticalLink#decline}) or another thread is linking it, and the caller's query then goes through
     * syscall(2)'s shape.
     */
    static MethodHandle criticalIoctl() {
        int state = CriticalLink.STATE.get();
        if (state == CriticalLink.LINKED || state == CriticalLink.UNLINKED
                && CriticalLink.STATE.compareAndSet(CriticalLink.UNLINKED, CriticalLink.LINKING)) {
            return IoctlLongCritical.HANDLE;
        }
        return null;
    }

    /** Whether the critical ioctl is linked (for the tests). */
    static boolean criticalIoctlLinked() {
        return CriticalLink.STATE.get() == CriticalLink.LINKED;
    }

    /** syscall(2)'s shape: the number, then six arguments, each a long (a pointer as its address, an int sign-extended). */
    private static final FunctionDescriptor SYSCALL_SHAPE = FunctionDescriptor.of(JAVA_LONG, JAVA_LONG,
            JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG);

    /**
     * The one downcall shape of jkvm's own calls: a function's address, then syscall(2)'s shape, linked once for every
     * function called through it. syscall(2), for every system call jkvm makes itself (mmap, open, close, ioctl,
     * eventfds, poll, arch_prctl, seccomp, prctl...); glibc's functions and jkvm's own host-CPU stubs too, as under
     * the x86-64 System V convention an int argument is the low half of its register, an int result the low half of
     * RAX, and the arguments past a function's own are ignored (the caller pushes and pops the seventh). Linked as not
     * variadic, though syscall(2) is: glibc's x86-64 syscall is assembly that moves the registers into the kernel's and
     * never reads AL, the count of vector registers a variadic call passes. The address as an argument, not bound, and
     * not variadic: each costs the link method handles spun at every launch, some 4 ms each, on the link a launch
     * waits for (docs/benchmarks.md).
     */
    static final class Syscall {
        static final MethodHandle HANDLE = LINKER.downcallHandle(SYSCALL_SHAPE, ERRNO);
        static final MemorySegment SYSCALL = Uapi.syscall.address();
    }

    /** The glibc functions that must be glibc's: the user switch, which glibc makes every thread follow, and passwd's. */
    static final class Glibc {
        static final MemorySegment SETUID = symbol("setuid"), SETGID = symbol("setgid"), SETGROUPS = symbol("setgroups"),
                GETPWNAM = symbol("getpwnam");
    }

    /** Function {@code f}, called through syscall(2)'s shape ({@link Syscall}), with up to three arguments: RAX. */
    static long call(MemorySegment f, MemorySegment state, long a1, long a2, long a3) {
        try {
            return (long) Syscall.HANDLE.invokeExact(f, state, a1, a2, a3, 0L, 0L, 0L, 0L);
        } catch (Throwable t) {
            throw linkageBroken(t);
        }
    }

    /** System call {@code nr} with arguments {@code a1}..{@code a6}: its result, or -1 with errno in {@code state}. */
    static long syscall(MemorySegment state, int nr, long a1, long a2, long a3, long a4, long a5, long a6) {
        try {
            return (long) Syscall.HANDLE.invokeExact(Syscall.SYSCALL, state, (long) nr, a1, a2, a3, a4, a5, a6);
        } catch (Throwable t) {
            throw linkageBroken(t);
        }
    }

    static long syscall(MemorySegment state, int nr, long a1, long a2, long a3) {
        return syscall(state, nr, a1, a2, a3, 0, 0, 0);
    }

    /** System call {@code nr}: its result, or {@code -errno}, for callers that expect some errors (EINTR, EAGAIN). */
    static long syscallOrErrno(int nr, long a1, long a2, long a3) {
        MemorySegment state = callState();
        long r = syscall(state, nr, a1, a2, a3);
        return r < 0 ? -errno(state) : r;
    }

    /** One errno capture buffer per thread, so a downcall on the hot path allocates nothing. */
    private static final ThreadLocal<MemorySegment> STATE =
            ThreadLocal.withInitial(() -> Arena.ofAuto().allocate(CALL_STATE));

    static MemorySegment callState() {
        return STATE.get();
    }

    static int errno(MemorySegment state) {
        return state.get(java.lang.foreign.ValueLayout.JAVA_INT, ERRNO_OFFSET);
    }

    static String strerror(int errno) {
        try {
            MemorySegment text = Uapi.strerror(errno);
            return text.reinterpret(1024).getString(0);
        } catch (RuntimeException e) {
            return "errno " + errno;
        }
    }

    /** Rethrows what a downcall can only throw if the linkage itself is broken. */
    static AssertionError linkageBroken(Throwable t) {
        return new AssertionError("downcall failed unexpectedly", t);
    }
}

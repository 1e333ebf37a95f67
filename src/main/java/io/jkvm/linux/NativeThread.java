package io.jkvm.linux;

import io.jkvm.linux.uapi.Uapi;

/**
 * The pthread of a Java thread, so another thread can interrupt a blocking call in it (KVM_RUN) with a signal.
 * SIGPIPE is used because the JVM already installs a handler for it that does nothing: a handled signal makes
 * the blocked ioctl return EINTR, where an ignored one would not.
 */
public final class NativeThread {
    private final long pthread;

    private NativeThread(long pthread) {
        this.pthread = pthread;
    }

    /** The calling thread. */
    public static NativeThread current() {
        try {
            return new NativeThread((long) Libc.PthreadSelf.HANDLE.invokeExact());
        } catch (Throwable t) {
            throw Libc.linkageBroken(t);
        }
    }

    /** Sends SIGPIPE to this thread; a KVM_RUN in progress there returns with EINTR. */
    public void kick() {
        int r;
        try {
            r = (int) Libc.PthreadKill.HANDLE.invokeExact(pthread, Uapi.SIGPIPE());
        } catch (Throwable t) {
            throw Libc.linkageBroken(t);
        }
        if (r != 0) {
            throw new LinuxException("pthread_kill(SIGPIPE)", r);
        }
    }
}

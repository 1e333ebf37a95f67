package io.jkvm.linux;

import io.jkvm.linux.uapi.Uapi;

/**
 * The kernel thread of a Java thread, so another thread can interrupt a blocking call in it (KVM_RUN) with a signal.
 * SIGPIPE is used because the JVM already installs a handler for it that does nothing: a handled signal makes
 * the blocked ioctl return EINTR, where an ignored one would not. Sent with tgkill(2) through syscall(2)'s shape,
 * as every system call of a launch is: pthread_kill and pthread_self were two more downcall links (13 ms of CPU).
 */
public final class NativeThread {
    private static final long PROCESS = ProcessHandle.current().pid();
    /** No such process (errno-base.h): the thread has ended. */
    private static final int ESRCH = 3;

    private final long tid;

    private NativeThread(long tid) {
        this.tid = tid;
    }

    /** The kernel's id of the thread. */
    public long tid() {
        return tid;
    }

    /** The calling thread. */
    public static NativeThread current() {
        return new NativeThread(Libc.syscallOrErrno(Uapi.SYS_gettid(), 0, 0, 0));
    }

    /**
     * Sends SIGPIPE to this thread; a KVM_RUN in progress there returns with EINTR. A thread that has ended has no
     * call to interrupt (ESRCH, as glibc's pthread_kill answers 0 for it).
     */
    public void kick() {
        long r = Libc.syscallOrErrno(Uapi.SYS_tgkill(), PROCESS, tid, Uapi.SIGPIPE());
        if (r < 0 && r != -ESRCH) {
            throw new LinuxException("tgkill(SIGPIPE)", (int) -r);
        }
    }
}

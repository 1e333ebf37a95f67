package io.jkvm.sandbox;

import io.jkvm.linux.Ioctl;
import io.jkvm.linux.uapi.Uapi;

import java.util.List;

/**
 * The system calls a running jkvm makes, and nothing else: measured with {@code scripts/sandbox-syscalls} (strace of
 * guests on both backends, the control socket, a Linux guest with a disk and virtio-rng: every call after the sandbox
 * went up), then read one by one; the Linux disk and network tests run under it. Hot calls first: the filter tests
 * them in this order. docs/security.md explains the table and what it still lets a compromised jkvm do.
 */
final class SyscallAllowlist {
    private SyscallAllowlist() {
    }

    /** One allowed (or specially refused) system call: its x86-64 number, its rule, and why jkvm needs it. */
    record Entry(String name, int number, SyscallRule rule, String why) {
    }

    private static final SyscallRule ALWAYS = new SyscallRule.Always();

    /** The table; {@code ioctls}: the ioctl requests allowed (KVM's, the terminal's, the TAP's). */
    static List<Entry> entries(List<Ioctl> ioctls) {
        List<Long> requests = ioctls.stream().map(Ioctl::number).distinct().toList();
        return List.of(
                new Entry("ioctl", Uapi.SYS_ioctl(), new SyscallRule.ArgumentIn(1, requests),
                        "KVM_RUN and the other KVM ioctls on the fds jkvm holds; termios on the console; TAP offloads"),
                new Entry("futex", Uapi.SYS_futex(), ALWAYS, "the JVM's locks and parking"),
                new Entry("read", Uapi.SYS_read(), ALWAYS, "the console, TAP frames, sockets, class loading from the open jar"),
                new Entry("write", Uapi.SYS_write(), ALWAYS, "the console, TAP frames, sockets"),
                new Entry("pread64", Uapi.SYS_pread64(), ALWAYS, "virtio-blk reads; classes from the open jar"),
                new Entry("pwrite64", Uapi.SYS_pwrite64(), ALWAYS, "virtio-blk writes"),
                new Entry("lseek", Uapi.SYS_lseek(), ALWAYS, "the open jar"),
                new Entry("poll", Uapi.SYS_poll(), ALWAYS, "the TAP and the console"),
                new Entry("ppoll", Uapi.SYS_ppoll(), ALWAYS, "the JVM's socket waits"),
                new Entry("epoll_wait", Uapi.SYS_epoll_wait(), ALWAYS, "NIO selectors (control socket)"),
                new Entry("epoll_ctl", Uapi.SYS_epoll_ctl(), ALWAYS, "NIO selectors (control socket)"),
                new Entry("epoll_create1", Uapi.SYS_epoll_create1(), ALWAYS,
                        "a control socket connection's selector (an epoll fd: no file, no socket)"),
                new Entry("clock_gettime", Uapi.SYS_clock_gettime(), ALWAYS, "clocks, when the vDSO does not answer"),
                new Entry("clock_nanosleep", Uapi.SYS_clock_nanosleep(), ALWAYS, "timed waits (the PIT, the console pump)"),
                new Entry("nanosleep", Uapi.SYS_nanosleep(), ALWAYS, "timed waits"),
                new Entry("sched_yield", Uapi.SYS_sched_yield(), ALWAYS, "the JVM's spin loops"),
                new Entry("tgkill", Uapi.SYS_tgkill(), ALWAYS, "kicking a vCPU thread out of KVM_RUN (SIGPIPE); the JVM's safepoint and handshake signals"),
                new Entry("rt_sigreturn", Uapi.SYS_rt_sigreturn(), ALWAYS, "returning from a signal handler"),
                new Entry("rt_sigprocmask", Uapi.SYS_rt_sigprocmask(), ALWAYS, "the JVM's signal masks"),
                new Entry("rt_sigaction", Uapi.SYS_rt_sigaction(), ALWAYS, "the JVM's signal handlers"),
                new Entry("sigaltstack", Uapi.SYS_sigaltstack(), ALWAYS, "a new thread's signal stack"),
                new Entry("mmap", Uapi.SYS_mmap(), ALWAYS, "the Java heap, thread stacks, JIT code"),
                new Entry("munmap", Uapi.SYS_munmap(), ALWAYS, "the Java heap, thread stacks, JIT code"),
                new Entry("mprotect", Uapi.SYS_mprotect(), ALWAYS, "guard pages, the JIT's code cache, safepoint polls"),
                new Entry("madvise", Uapi.SYS_madvise(), ALWAYS, "the garbage collector returning memory"),
                new Entry("mremap", Uapi.SYS_mremap(), ALWAYS, "glibc's realloc of large blocks"),
                new Entry("brk", Uapi.SYS_brk(), ALWAYS, "glibc's malloc"),
                new Entry("close", Uapi.SYS_close(), ALWAYS, "fds jkvm is done with"),
                new Entry("fstat", Uapi.SYS_fstat(), ALWAYS, "the size of an fd already open"),
                new Entry("fcntl", Uapi.SYS_fcntl(), ALWAYS, "non-blocking mode of an fd already open"),
                new Entry("dup2", Uapi.SYS_dup2(), ALWAYS, "NIO closing a socket (a placeholder fd over it first)"),
                new Entry("dup3", Uapi.SYS_dup3(), ALWAYS, "NIO closing a socket"),
                new Entry("fsync", Uapi.SYS_fsync(), ALWAYS, "virtio-blk flush"),
                new Entry("fdatasync", Uapi.SYS_fdatasync(), ALWAYS, "virtio-blk flush"),
                new Entry("ftruncate", Uapi.SYS_ftruncate(), ALWAYS, "the exit status file, opened before the sandbox"),
                new Entry("accept", Uapi.SYS_accept(), ALWAYS, "a client of the control socket"),
                new Entry("accept4", Uapi.SYS_accept4(), ALWAYS, "a client of the control socket"),
                new Entry("recvfrom", Uapi.SYS_recvfrom(), ALWAYS, "sockets already open"),
                new Entry("sendto", Uapi.SYS_sendto(), ALWAYS, "sockets already open"),
                new Entry("recvmsg", Uapi.SYS_recvmsg(), ALWAYS, "sockets already open"),
                new Entry("sendmsg", Uapi.SYS_sendmsg(), ALWAYS, "sockets already open"),
                new Entry("shutdown", Uapi.SYS_shutdown(), ALWAYS, "sockets already open"),
                new Entry("getsockopt", Uapi.SYS_getsockopt(), ALWAYS, "sockets already open (the peer's credentials)"),
                new Entry("setsockopt", Uapi.SYS_setsockopt(), ALWAYS, "sockets already open"),
                new Entry("getsockname", Uapi.SYS_getsockname(), ALWAYS, "sockets already open"),
                new Entry("getpeername", Uapi.SYS_getpeername(), ALWAYS, "sockets already open"),
                new Entry("eventfd2", Uapi.SYS_eventfd2(), ALWAYS, "ioeventfd and irqfd of a device the guest enables"),
                new Entry("clone", Uapi.SYS_clone(), new SyscallRule.ArgumentHasBits(0, Uapi.CLONE_THREAD()),
                        "a thread (vCPU, device, the JVM's): CLONE_THREAD, never a new process"),
                new Entry("clone3", Uapi.SYS_clone3(), new SyscallRule.Fails(Uapi.ENOSYS()),
                        "its flags are in memory the filter cannot read: ENOSYS makes glibc fall back on clone"),
                new Entry("set_robust_list", Uapi.SYS_set_robust_list(), ALWAYS, "a new thread"),
                new Entry("rseq", Uapi.SYS_rseq(), ALWAYS, "a new thread"),
                new Entry("prctl", Uapi.SYS_prctl(), new SyscallRule.ArgumentIn(0,
                        List.of((long) Uapi.PR_SET_NAME(), (long) Uapi.PR_GET_NAME(), (long) Uapi.PR_GET_NO_NEW_PRIVS())),
                        "naming a new thread; reading no_new_privs"),
                new Entry("gettid", Uapi.SYS_gettid(), ALWAYS, "the JVM's thread ids"),
                new Entry("getpid", Uapi.SYS_getpid(), ALWAYS, "the JVM's process id"),
                new Entry("sched_getaffinity", Uapi.SYS_sched_getaffinity(), ALWAYS, "the JVM's processor count"),
                new Entry("getrusage", Uapi.SYS_getrusage(), ALWAYS, "the JVM's CPU time"),
                new Entry("sysinfo", Uapi.SYS_sysinfo(), ALWAYS, "the JVM's memory figures"),
                new Entry("prlimit64", Uapi.SYS_prlimit64(), new SyscallRule.ArgumentIsZero(2),
                        "a new thread reading its stack limit: reading only (no new limit)"),
                new Entry("getrandom", Uapi.SYS_getrandom(), ALWAYS, "virtio-rng; the JVM's seeds"),
                new Entry("exit", Uapi.SYS_exit(), ALWAYS, "a thread's end"),
                new Entry("exit_group", Uapi.SYS_exit_group(), ALWAYS, "the end of jkvm"));
    }
}

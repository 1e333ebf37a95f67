package io.jkvm.linux;

import io.jkvm.linux.uapi.Uapi;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;

/** An eventfd(2) counter (irqfd/ioeventfd plumbing); the descriptor closes with it. */
public final class EventFd implements AutoCloseable {
    private final Fd fd;

    private EventFd(Fd fd) {
        this.fd = fd;
    }

    public static EventFd create(String name) {
        MemorySegment state = Libc.callState();
        int r = (int) Libc.syscall(state, Uapi.SYS_eventfd2(), 0, Uapi.EFD_CLOEXEC() | Uapi.EFD_NONBLOCK(), 0);
        if (r < 0) {
            throw new LinuxException("eventfd(" + name + ")", Libc.errno(state));
        }
        return new EventFd(Fd.adopt(r, name));
    }

    public Fd fd() {
        return fd;
    }

    /** Adds 1 to the counter: a thread polling it wakes (or KVM, for an irqfd, raises its GSI). */
    public void signal() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment one = a.allocate(ValueLayout.JAVA_LONG);
            one.set(ValueLayout.JAVA_LONG, 0, 1);
            long r = transfer(Uapi.SYS_write(), one);
            if (r < 0 && r != -Uapi.EAGAIN()) { // EAGAIN: the counter is at its maximum, signalled already
                throw new LinuxException("write(eventfd " + fd.name() + ")", (int) -r);
            }
        }
    }

    /** Reads and resets the counter: how often it was signalled since the last take (0: not at all). */
    public long take() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment count = a.allocate(ValueLayout.JAVA_LONG);
            long r = transfer(Uapi.SYS_read(), count);
            if (r == -Uapi.EAGAIN()) {
                return 0;
            }
            if (r < 0) {
                throw new LinuxException("read(eventfd " + fd.name() + ")", (int) -r);
            }
            return count.get(ValueLayout.JAVA_LONG, 0);
        }
    }

    private long transfer(int call, MemorySegment eightBytes) {
        long r;
        do {
            r = Libc.syscallOrErrno(call, fd.value(), eightBytes.address(), 8);
        } while (r == -Uapi.EINTR());
        return r;
    }

    /**
     * Blocks until at least one of {@code fds} (at most 64) is signalled; returns a bit per signalled one, its index
     * in the list. Their counters stay as they are: {@link #take()} them.
     */
    public static long awaitAny(List<EventFd> fds) {
        if (fds.isEmpty() || fds.size() > 64) {
            throw new IllegalArgumentException("awaitAny takes 1 to 64 eventfds, not " + fds.size());
        }
        try (Arena a = Arena.ofConfined()) {
            MemorySegment pollFds = a.allocate(8L * fds.size(), 8); // struct pollfd: int fd, short events, short revents
            while (true) {
                for (int i = 0; i < fds.size(); i++) {
                    pollFds.set(ValueLayout.JAVA_INT, 8L * i, fds.get(i).fd.value());
                    pollFds.set(ValueLayout.JAVA_SHORT, 8L * i + 4, (short) 1); // POLLIN
                    pollFds.set(ValueLayout.JAVA_SHORT, 8L * i + 6, (short) 0);
                }
                MemorySegment state = Libc.callState();
                long r = Libc.syscall(state, Uapi.SYS_poll(), pollFds.address(), fds.size(), -1);
                if (r < 0) {
                    int errno = Libc.errno(state);
                    if (errno == Uapi.EINTR()) {
                        continue;
                    }
                    throw new LinuxException("poll(eventfds)", errno);
                }
                long ready = 0;
                for (int i = 0; i < fds.size(); i++) {
                    if (pollFds.get(ValueLayout.JAVA_SHORT, 8L * i + 6) != 0) {
                        ready |= 1L << i;
                    }
                }
                if (ready != 0) {
                    return ready;
                }
            }
        }
    }

    @Override
    public void close() {
        fd.close();
    }
}

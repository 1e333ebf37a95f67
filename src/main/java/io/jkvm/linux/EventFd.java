package io.jkvm.linux;

import io.jkvm.linux.uapi.Uapi;

import java.lang.foreign.MemorySegment;

/** An eventfd(2) counter (irqfd/ioeventfd plumbing); the descriptor closes with it. */
public final class EventFd implements AutoCloseable {
    private final Fd fd;

    private EventFd(Fd fd) {
        this.fd = fd;
    }

    public static EventFd create(String name) {
        MemorySegment state = Libc.callState();
        int r;
        try {
            r = (int) Libc.EVENTFD.invokeExact(state, 0, Uapi.EFD_CLOEXEC() | Uapi.EFD_NONBLOCK());
        } catch (Throwable t) {
            throw Libc.linkageBroken(t);
        }
        if (r < 0) {
            throw new LinuxException("eventfd(" + name + ")", Libc.errno(state));
        }
        return new EventFd(Fd.adopt(r, name));
    }

    public Fd fd() {
        return fd;
    }

    @Override
    public void close() {
        fd.close();
    }
}

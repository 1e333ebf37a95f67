package io.jkvm.linux;

import io.jkvm.linux.uapi.Uapi;

/** Whether a file descriptor of this process is a terminal, for output that redraws a line in place only there. */
public final class Terminal {
    public static final int STDERR = 2;

    private Terminal() {
    }

    public static boolean isTerminal(int fd) {
        return Uapi.isatty(fd) == 1;
    }
}

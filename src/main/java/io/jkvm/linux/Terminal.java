package io.jkvm.linux;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Terminals: whether a file descriptor of this process is one (output that redraws a line in place only there), and
 * raw mode for the serial console (termios through ioctl TCGETS/TCSETS, as cfmakeraw makes it, output processing kept).
 */
public final class Terminal {
    public static final int STDIN = 0, STDERR = 2;
    /** The kernel's struct termios (asm/termbits.h): four flag words, c_line, c_cc[19]; TerminalLayoutTest checks it. */
    static final int TERMIOS_SIZE = 36, C_IFLAG = 0, C_OFLAG = 4, C_CFLAG = 8, C_LFLAG = 12, C_CC = 17, VTIME = 5, VMIN = 6;
    static final long TCGETS = 0x5401, TCSETS = 0x5402;
    private static final Ioctl GET_SETTINGS = new Ioctl("TCGETS", TCGETS), SET_SETTINGS = new Ioctl("TCSETS", TCSETS);
    static final int IGNBRK = 0x1, BRKINT = 0x2, PARMRK = 0x8, ISTRIP = 0x20, INLCR = 0x40, IGNCR = 0x80, ICRNL = 0x100,
            IXON = 0x400, ISIG = 0x1, ICANON = 0x2, ECHO = 0x8, ECHONL = 0x40, IEXTEN = 0x8000, CSIZE = 0x30, PARENB = 0x100,
            CS8 = 0x30;

    private Terminal() {
    }

    /** The ioctls a terminal in raw mode gets: reading and restoring its settings. */
    public static java.util.List<Ioctl> ioctls() {
        return java.util.List.of(GET_SETTINGS, SET_SETTINGS);
    }

    /** Whether {@code fd} is a terminal: whether TCGETS reads its settings, as glibc's isatty(3) asks. */
    public static boolean isTerminal(int fd) {
        try (Arena a = Arena.ofConfined()) {
            return Fd.ioctlOrErrno(fd, GET_SETTINGS, a.allocate(TERMIOS_SIZE).address()) == 0;
        }
    }

    /** A terminal in raw mode until {@link #close()} puts back the settings it had (from any thread, once). */
    public static final class RawMode implements AutoCloseable {
        private final Fd fd;
        private final byte[] saved;
        private final java.util.concurrent.atomic.AtomicBoolean restored = new java.util.concurrent.atomic.AtomicBoolean();

        private RawMode(Fd fd, byte[] saved) {
            this.fd = fd;
            this.saved = saved;
        }

        @Override
        public void close() {
            if (restored.compareAndSet(false, true)) {
                set(fd, saved);
            }
        }
    }

    /**
     * Puts terminal {@code fd} in raw mode: no line editing, echo or signal keys (Ctrl-C goes to the guest), 8-bit
     * input, reads of one byte at a time; output processing stays on. Throws a {@link LinuxException} if it is no terminal.
     */
    public static RawMode raw(int fd) {
        Fd terminal = Fd.adopt(fd, "terminal " + fd); // not closed: the descriptor stays the process's
        byte[] saved = get(terminal);
        java.nio.ByteBuffer t = java.nio.ByteBuffer.wrap(saved.clone()).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        t.putInt(C_IFLAG, t.getInt(C_IFLAG) & ~(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR | IGNCR | ICRNL | IXON));
        t.putInt(C_LFLAG, t.getInt(C_LFLAG) & ~(ECHO | ECHONL | ICANON | ISIG | IEXTEN));
        t.putInt(C_CFLAG, t.getInt(C_CFLAG) & ~(CSIZE | PARENB) | CS8);
        t.put(C_CC + VMIN, (byte) 1);
        t.put(C_CC + VTIME, (byte) 0);
        set(terminal, t.array());
        return new RawMode(terminal, saved);
    }

    private static byte[] get(Fd fd) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment termios = a.allocate(TERMIOS_SIZE);
            fd.ioctl(GET_SETTINGS, termios);
            return termios.toArray(ValueLayout.JAVA_BYTE);
        }
    }

    private static void set(Fd fd, byte[] settings) {
        try (Arena a = Arena.ofConfined()) {
            fd.ioctl(SET_SETTINGS, a.allocateFrom(ValueLayout.JAVA_BYTE, settings));
        }
    }
}

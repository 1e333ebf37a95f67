package io.jkvm.machine;

import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;

/**
 * The serial console's output at the speed of the terminal: bytes gather in a 64 KiB buffer that a daemon thread
 * flushes within {@link #FLUSH_INTERVAL_MS} of the first byte after the last flush, and that is flushed when it
 * fills, when the machine ends (every outcome) and when the JVM shuts down on a signal, so no output is lost.
 */
final class ConsoleOutput extends OutputStream {
    static final int BUFFER = 64 * 1024;
    static final long FLUSH_INTERVAL_MS = 10;

    private final OutputStream out;
    private final byte[] buffer = new byte[BUFFER];
    private int count;
    private final Thread flusher;
    private final Thread onShutdown;
    private volatile boolean closed;

    ConsoleOutput(OutputStream out) {
        this.out = out;
        this.flusher = Thread.ofPlatform().daemon().name("console-flush").unstarted(this::flushPeriodically);
        this.onShutdown = new Thread(this::flushQuietly, "console-flush-at-exit");
    }

    /** Starts the periodic flush and the flush at JVM shutdown (SIGTERM, SIGINT); until then writes wait for flush(). */
    void start() {
        if (!flusher.isAlive() && !closed) {
            flusher.start();
            Runtime.getRuntime().addShutdownHook(onShutdown);
        }
    }

    @Override
    public synchronized void write(int b) {
        if (count == BUFFER) {
            drain();
        }
        buffer[count++] = (byte) b;
        watch(b);
    }

    /** Linux's panic message: a reset after it is the kernel's panic=-1 reboot, not one the guest asked for. */
    private static final String PANIC = "Kernel panic - not syncing";
    private final StringBuilder line = new StringBuilder();
    private volatile String panic;

    private void watch(int b) {
        if (b == '\n' || b == '\r') {
            if (panic == null && line.indexOf(PANIC) >= 0) {
                panic = line.substring(line.indexOf(PANIC)).strip();
            }
            line.setLength(0);
        } else if (line.length() < 512) {
            line.append((char) (b & 0xFF));
        }
    }

    /** The first line of a Linux kernel panic the guest printed, or null. */
    String panic() {
        return panic;
    }

    @Override
    public synchronized void flush() {
        drain();
    }

    private void drain() {
        if (count == 0) {
            return;
        }
        try {
            out.write(buffer, 0, count);
            out.flush();
        } catch (IOException e) {
            throw new UncheckedIOException("serial console output failed", e);
        } finally {
            count = 0;
        }
    }

    private void flushPeriodically() {
        while (!closed) {
            try {
                Thread.sleep(FLUSH_INTERVAL_MS);
            } catch (InterruptedException e) {
                return;
            }
            flushQuietly();
        }
    }

    private void flushQuietly() {
        try {
            flush();
        } catch (UncheckedIOException e) {
            // the terminal went away: the guest's output has nowhere to go
        }
    }

    /** Flushes what is left and stops the flusher; the underlying stream stays open (it is the terminal's). */
    @Override
    public void close() {
        boolean started = flusher.isAlive();
        closed = true;
        flusher.interrupt();
        flushQuietly();
        if (started) {
            try {
                Runtime.getRuntime().removeShutdownHook(onShutdown);
            } catch (IllegalStateException e) {
                // already shutting down: the hook runs anyway
            }
        }
    }
}

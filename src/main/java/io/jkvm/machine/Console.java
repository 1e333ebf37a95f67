package io.jkvm.machine;

import java.io.InputStream;
import java.io.OutputStream;
import java.io.PrintStream;

/**
 * Where the serial console writes and what it reads ({@code in} may be null for no input); traces go to {@code trace}.
 * With {@code escapes} (a terminal in raw mode) Ctrl-A is QEMU's escape key: Ctrl-A X quits, Ctrl-A A sends a Ctrl-A.
 */
public record Console(OutputStream out, InputStream in, PrintStream trace, boolean escapes) {
    public Console(OutputStream out, InputStream in, PrintStream trace) {
        this(out, in, trace, false);
    }

    /** Ctrl-A, the escape key. */
    static final int ESCAPE = 0x01;
}

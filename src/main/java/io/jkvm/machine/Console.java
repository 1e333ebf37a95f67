package io.jkvm.machine;

import java.io.InputStream;
import java.io.OutputStream;
import java.io.PrintStream;

/** Where the serial console writes and what it reads ({@code in} may be null for no input); traces go to {@code trace}. */
public record Console(OutputStream out, InputStream in, PrintStream trace) {
}

package io.jkvm.machine;

import java.io.InputStream;
import java.io.OutputStream;

/** Where the serial console writes and what it reads; {@code in} may be null for no input. */
public record Console(OutputStream out, InputStream in) {
}

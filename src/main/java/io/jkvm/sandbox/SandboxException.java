package io.jkvm.sandbox;

/** The sandbox could not be entered: the message names what and the fix, on one line. */
public final class SandboxException extends RuntimeException {
    public SandboxException(String message) {
        super(message);
    }
}

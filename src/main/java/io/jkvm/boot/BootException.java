package io.jkvm.boot;

/** A kernel, module or command line a boot loader cannot use: the message is one line naming it and the fix. */
public final class BootException extends RuntimeException {
    public BootException(String message) {
        super(message);
    }
}

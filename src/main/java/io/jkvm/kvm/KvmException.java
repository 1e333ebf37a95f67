package io.jkvm.kvm;

/** A KVM failure worded for the user: what went wrong and what to do about it, on one line. */
public final class KvmException extends RuntimeException {
    public KvmException(String message) {
        super(message);
    }

    public KvmException(String message, Throwable cause) {
        super(message, cause);
    }
}

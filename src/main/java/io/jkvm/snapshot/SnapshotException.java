package io.jkvm.snapshot;

/** A snapshot that cannot be written, read or restored: the message is one line naming the thing and the fix. */
public final class SnapshotException extends RuntimeException {
    public SnapshotException(String message) {
        super(message);
    }

    public SnapshotException(String message, Throwable cause) {
        super(message, cause);
    }
}

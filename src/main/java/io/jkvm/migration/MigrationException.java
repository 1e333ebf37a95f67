package io.jkvm.migration;

/** A migration that cannot go on: the message is one line saying what happened; the source VM runs on. */
public final class MigrationException extends RuntimeException {
    public MigrationException(String message) {
        super(message);
    }

    public MigrationException(String message, Throwable cause) {
        super(message, cause);
    }
}

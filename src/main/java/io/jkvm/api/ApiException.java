package io.jkvm.api;

/** A control socket that cannot be set up or reached; the message is one line naming the path and the fix. */
public final class ApiException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public ApiException(String message) {
        super(message);
    }

    public ApiException(String message, Throwable cause) {
        super(message, cause);
    }
}

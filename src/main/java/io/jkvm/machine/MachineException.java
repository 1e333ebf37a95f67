package io.jkvm.machine;

/** A machine that cannot be built or run as asked; the message names the thing and the fix, on one line. */
public final class MachineException extends RuntimeException {
    public MachineException(String message) {
        super(message);
    }

    public MachineException(String message, Throwable cause) {
        super(message, cause);
    }
}

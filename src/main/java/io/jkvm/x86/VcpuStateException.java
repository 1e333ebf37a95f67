package io.jkvm.x86;

/**
 * A state a vCPU of either backend refused before taking it: an XCR0, an MSR value, an XSAVE image or a whole state
 * record its CPU model, or its backend, cannot hold. The message names the vCPU, the value and the fix, on one line.
 */
public final class VcpuStateException extends RuntimeException {
    public VcpuStateException(String message) {
        super(message);
    }

    public VcpuStateException(String message, Throwable cause) {
        super(message, cause);
    }
}

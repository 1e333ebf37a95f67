package io.jkvm.x86;

/**
 * Exceptions, interrupts and NMIs in flight between instructions (what KVM_GET_VCPU_EVENTS carries), so a saved
 * vCPU resumes exactly where it stopped.
 */
public record PendingEvents(Exception exception, Interrupt interrupt, Nmi nmi, int sipiVector, boolean tripleFaultPending) {

    public record Exception(boolean injected, boolean pending, int vector, boolean hasErrorCode, int errorCode,
                            boolean hasPayload, long payload) {
    }

    /** {@code shadow} is the STI/MOV SS interrupt shadow. */
    public record Interrupt(boolean injected, int vector, boolean soft, int shadow) {
    }

    public record Nmi(boolean injected, boolean pending, boolean masked) {
    }

    public static PendingEvents none() {
        return new PendingEvents(new Exception(false, false, 0, false, 0, false, 0),
                new Interrupt(false, 0, false, 0), new Nmi(false, false, false), 0, false);
    }
}

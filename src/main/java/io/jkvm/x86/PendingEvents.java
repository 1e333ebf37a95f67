package io.jkvm.x86;

/**
 * Exceptions, interrupts and NMIs in flight between instructions (what KVM_GET_VCPU_EVENTS carries), so a saved
 * vCPU resumes exactly where it stopped.
 */
public record PendingEvents(Exception exception, Interrupt interrupt, Nmi nmi, int sipiVector, boolean tripleFaultPending) {

    /** With neither injected nor pending there is no exception: its other fields are zero, whatever KVM left there. */
    public record Exception(boolean injected, boolean pending, int vector, boolean hasErrorCode, int errorCode,
                            boolean hasPayload, long payload) {
        public Exception {
            if (!injected && !pending) {
                vector = 0;
                hasErrorCode = false;
                errorCode = 0;
                hasPayload = false;
                payload = 0;
            }
        }
    }

    /**
     * {@code shadow} is the STI/MOV SS interrupt shadow. Without {@code injected} there is no interrupt in flight:
     * vector and soft are zero (KVM keeps reporting the last vector it injected, which is no state of the vCPU).
     */
    public record Interrupt(boolean injected, int vector, boolean soft, int shadow) {
        public Interrupt {
            if (!injected) {
                vector = 0;
                soft = false;
            }
        }
    }

    public record Nmi(boolean injected, boolean pending, boolean masked) {
    }

    public static PendingEvents none() {
        return new PendingEvents(new Exception(false, false, 0, false, 0, false, 0),
                new Interrupt(false, 0, false, 0), new Nmi(false, false, false), 0, false);
    }
}

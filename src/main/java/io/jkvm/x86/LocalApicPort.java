package io.jkvm.x86;

/**
 * A processor's side of its local APIC: the interrupt-acknowledge cycle ({@link InterruptSource}), IA32_APIC_BASE
 * writes (enable, disable, relocation, x2APIC mode), CR8 (the task priority register's bits 7:4), the x2APIC MSRs
 * (0x800-0x8FF) and IA32_TSC_DEADLINE.
 */
public interface LocalApicPort extends InterruptSource {
    /** An access the APIC refuses: the processor raises #GP(0). */
    final class Refused extends RuntimeException {
        public Refused() {
            super(null, null, false, false);
        }
    }

    /** The vCPU writes IA32_APIC_BASE; a transition the SDM forbids (x2APIC to xAPIC, disabled to x2APIC) is {@link Refused}. */
    void baseChanged(long apicBase);

    /** CR8: TPR bits 7:4. */
    int taskPriorityClass();

    void setTaskPriorityClass(int cr8);

    /** RDMSR of 0x800-0x8FF: {@link Refused} outside x2APIC mode, for write-only and reserved registers. */
    long readMsr(int msr);

    /** WRMSR of 0x800-0x8FF: {@link Refused} outside x2APIC mode, for read-only and reserved registers, bad values. */
    void writeMsr(int msr, long value);

    /**
     * IA32_TSC_DEADLINE: the deadline in TSC ticks, armed in TSC-deadline mode; the TSC's value {@code tscNow} at host
     * time {@code hostNanos} ({@link System#nanoTime}) and its rate give the deadline's host time.
     */
    void setTscDeadline(long deadline, long tscNow, long tscKhz, long hostNanos);

    long tscDeadline();

    /**
     * KVM's paravirtual IPI (KVM_HC_SEND_IPI): the ICR's fixed or NMI message to each APIC ID {@code minId + i} whose bit
     * {@code i} is set in {@code bitmap}; the number of APICs it reached.
     */
    int sendToApicIds(long bitmap, long minId, int icr);
}

package io.jkvm.x86;

/**
 * A processor's side of its local APIC: the interrupt-acknowledge cycle ({@link InterruptSource}), IA32_APIC_BASE
 * writes (enable, disable, relocation), and CR8, which is the task priority register's bits 7:4.
 */
public interface LocalApicPort extends InterruptSource {
    /** The vCPU wrote IA32_APIC_BASE. */
    void baseChanged(long apicBase);

    /** CR8: TPR bits 7:4. */
    int taskPriorityClass();

    void setTaskPriorityClass(int cr8);
}

package io.jkvm.devices;

/**
 * A device's interrupt output, wired by the machine to an interrupt controller's input (an ISA IRQ of the 8259s and
 * the I/O APIC, an I/O APIC pin, a GSI of KVM's in-kernel irqchip) or a controller's output to a vCPU's INTR: the
 * device drives its level, the line carries it where it was wired. An edge is a raise then a lower.
 */
@FunctionalInterface
public interface InterruptLine {
    void set(boolean level);

    default void raise() {
        set(true);
    }

    default void lower() {
        set(false);
    }

    /** A rising edge, and the line down again (the PIT's IRQ 0, an edge-triggered message). */
    default void pulse() {
        set(true);
        set(false);
    }
}

package io.jkvm.x86;

/**
 * The CPU's side of an interrupt controller (on a PC, the 8259A pair): the interrupt-acknowledge cycle. The
 * controller's INTR output reaches the vCPU through {@link VirtualCpu#setInterruptLine(boolean)}; the vCPU takes
 * the interrupt when the guest allows it (RFLAGS.IF set, no STI or MOV SS shadow) and asks for the vector here.
 */
public interface InterruptSource {
    /**
     * The INTA cycle: the vector of the highest-priority request, which moves into service. A request withdrawn
     * since INTR rose gives the controller's spurious vector (IRQ7's) with nothing put in service.
     */
    int acknowledge();
}

package io.jkvm.machine;

import io.jkvm.devices.Bus;
import io.jkvm.x86.VcpuExit;
import io.jkvm.x86.VirtualCpu;

import java.util.function.Consumer;

/**
 * What the machine does with each exit of a vCPU: port and MMIO accesses go to the devices on the buses, HLT with
 * interrupts on waits for INTR (the runner does the waiting), HLT with them off and debug-exit end the run, and every
 * failure ends it with {@link ExitReport}'s one line.
 */
final class ExitDispatch {
    private final Bus ports;
    private final Bus mmio;
    private final GuestMemory memory;
    private final Consumer<Outcome> finish;

    ExitDispatch(Bus ports, Bus mmio, GuestMemory memory, Consumer<Outcome> finish) {
        this.ports = ports;
        this.mmio = mmio;
        this.memory = memory;
        this.finish = finish;
    }

    /**
     * Handles one exit; true when it left the vCPU in HLT with interrupts on, to wait for INTR. An if chain, not a
     * pattern switch: a switch's bootstrap builds a class at its first run, the launch's first exit (docs/benchmarks.md).
     */
    boolean handle(VirtualCpu vcpu, VcpuExit exit) {
        if (exit instanceof VcpuExit.Io io) {
            for (int i = 0; i < io.count(); i++) {
                if (io.out()) {
                    ports.write(io.port(), io.size(), io.data().get(i));
                } else {
                    io.data().set(i, ports.read(io.port(), io.size()));
                }
            }
        } else if (exit instanceof VcpuExit.Mmio m) {
            if (m.write()) {
                mmio.write(m.address(), m.length(), m.data().get(0));
            } else {
                m.data().set(0, mmio.read(m.address(), m.length()));
            }
        } else if (exit instanceof VcpuExit.Hlt) {
            if (vcpu.registers().interruptsEnabled()) {
                return true;
            }
            finish.accept(Outcome.Exited.HALTED);
        } else if (exit instanceof VcpuExit.SystemEvent e) {
            finish.accept(e.type() == 3 // KVM_SYSTEM_EVENT_CRASH
                    ? ExitReport.failure(exit, vcpu, memory) : new Outcome.Exited(0, "system event " + e.type()));
        } else if (!(exit instanceof VcpuExit.Interrupted)) { // a shutdown, an exit KVM could not run on, an unknown one
            finish.accept(ExitReport.failure(exit, vcpu, memory));
        }
        return false;
    }
}

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

    /** Handles one exit; true when it left the vCPU in HLT with interrupts on, to wait for INTR. */
    boolean handle(VirtualCpu vcpu, VcpuExit exit) {
        switch (exit) {
            case VcpuExit.Io io -> {
                for (int i = 0; i < io.count(); i++) {
                    if (io.out()) {
                        ports.write(io.port(), io.size(), io.data().get(i));
                    } else {
                        io.data().set(i, ports.read(io.port(), io.size()));
                    }
                }
            }
            case VcpuExit.Mmio m -> {
                if (m.write()) {
                    mmio.write(m.address(), m.length(), m.data().get(0));
                } else {
                    m.data().set(0, mmio.read(m.address(), m.length()));
                }
            }
            case VcpuExit.Hlt h -> {
                if (vcpu.registers().interruptsEnabled()) {
                    return true;
                }
                finish.accept(Outcome.Exited.HALTED);
            }
            case VcpuExit.SystemEvent e -> finish.accept(e.type() == 3 // KVM_SYSTEM_EVENT_CRASH
                    ? ExitReport.failure(exit, vcpu, memory) : new Outcome.Exited(0, "system event " + e.type()));
            case VcpuExit.Interrupted i -> {
            }
            case VcpuExit.Shutdown s -> finish.accept(ExitReport.failure(exit, vcpu, memory));
            case VcpuExit.CannotEmulate c -> finish.accept(ExitReport.failure(exit, vcpu, memory));
            case VcpuExit.InternalError e -> finish.accept(ExitReport.failure(exit, vcpu, memory));
            case VcpuExit.FailEntry f -> finish.accept(ExitReport.failure(exit, vcpu, memory));
            case VcpuExit.Unknown u -> finish.accept(ExitReport.failure(exit, vcpu, memory));
        }
        return false;
    }
}

package io.jkvm.machine;

import io.jkvm.emu.EmulatedVcpu;
import io.jkvm.x86.VcpuExit;
import io.jkvm.x86.VirtualCpu;

import java.util.HexFormat;

/** The one line a failed run ends with: what stopped the vCPU, where (RIP and the bytes there), and what to do. */
final class ExitReport {
    private ExitReport() {
    }

    /** The outcome of an exit that ends the run as a failure. */
    static Outcome.Failed failure(VcpuExit exit, VirtualCpu vcpu, GuestMemory memory) {
        String at = where(vcpu, memory);
        return new Outcome.Failed(switch (exit) {
            case VcpuExit.Shutdown s -> "guest shut down (a triple fault) at " + at
                    + ": the guest hit an exception it could not handle; check its IDT, stack and page tables";
            case VcpuExit.CannotEmulate c -> "the software core could not run the guest (emulation failure: " + c.reason() + ") at " + at
                    + ": the guest jumped or read where a real machine has nothing either";
            case VcpuExit.InternalError e -> (vcpu instanceof EmulatedVcpu ? "the software core" : "KVM")
                    + " could not run the guest (KVM_EXIT_INTERNAL_ERROR, suberror " + e.suberror()
                    + (e.suberror() == 1 ? ": emulation failure" : "") + ") at " + at
                    + ": this host's KVM cannot execute that instruction; change the guest or run it on another host";
            case VcpuExit.FailEntry f -> String.format(
                    "VM entry failed (KVM_EXIT_FAIL_ENTRY, hardware reason 0x%x, cpu %d) at %s: the vCPU state is invalid for this host",
                    f.hardwareReason(), f.cpu(), at);
            case VcpuExit.SystemEvent e -> "guest reported a crash (KVM_EXIT_SYSTEM_EVENT crash) at " + at;
            case VcpuExit.Unknown u -> String.format("KVM stopped the vCPU with exit reason %d, which jkvm does not handle, at %s",
                    u.reason(), at);
            default -> "the vCPU stopped with " + exit + " at " + at;
        });
    }

    /** One line for what stopped a vCPU thread: the message, or for an Error what ran out. */
    static String describe(Throwable e) {
        if (e instanceof OutOfMemoryError) {
            return "jkvm ran out of Java heap (" + e.getMessage() + "): give the JVM more with JAVA_TOOL_OPTIONS=-Xmx..., or fewer --cpus";
        }
        if (e instanceof StackOverflowError) {
            return "jkvm's stack overflowed (a jkvm bug: please report it with the guest)";
        }
        String m = e.getMessage();
        return m == null || m.isBlank() ? e.getClass().getSimpleName() + " (a jkvm bug: please report it)" : m.replaceAll("\\p{Cntrl}+", " ").strip();
    }

    /** "RIP 0x… (bytes at RIP: 0f 01 d0 …)": the instruction bytes are read through the guest's page tables. */
    static String where(VirtualCpu vcpu, GuestMemory memory) {
        try {
            long rip = vcpu.registers().rip();
            long cr3 = vcpu.specialRegisters().cr3();
            byte[] bytes = memory.readLinear(cr3, rip, 15);
            String hex = bytes.length == 0 ? "unmapped" : HexFormat.ofDelimiter(" ").formatHex(bytes);
            return String.format("RIP 0x%x (bytes at RIP: %s)", rip, hex);
        } catch (RuntimeException e) {
            return "an unknown RIP (" + e.getMessage() + ")";
        }
    }
}

package io.jkvm.x86;

/** Why a vCPU stopped running guest code: the same typed exits whichever backend ran it. */
public sealed interface VcpuExit {

    /** Data of a port or MMIO access: element {@code i} of {@code count}, each {@code size} bytes. */
    interface AccessData {
        long get(int index);

        void set(int index, long value);
    }

    /** IN or OUT (or INS/OUTS with {@code count} > 1): an OUT's data is in {@code data}, an IN's is written there. */
    record Io(boolean out, int port, int size, int count, AccessData data) implements VcpuExit {
    }

    /** A load or store to guest-physical memory no RAM slot backs. */
    record Mmio(long address, int length, boolean write, AccessData data) implements VcpuExit {
    }

    /** HLT executed (only seen without an in-kernel irqchip). */
    record Hlt() implements VcpuExit {
    }

    /** Triple fault or other shutdown condition. */
    record Shutdown() implements VcpuExit {
    }

    /** PSCI-style system event: shutdown, reset or crash. */
    record SystemEvent(int type, long[] data) implements VcpuExit {
    }

    /** The backend could not go on; for KVM, suberror 1 is an instruction its emulator failed on. */
    record InternalError(int suberror, long[] data) implements VcpuExit {
    }

    /** The software core cannot go on with this guest (what KVM reports as an emulation failure), and why. */
    record CannotEmulate(String reason) implements VcpuExit {
    }

    /** VM entry failed; the reason is hardware-specific (VMX exit qualification or SVM error). */
    record FailEntry(long hardwareReason, int cpu) implements VcpuExit {
    }

    /** The run was cut short from outside (a signal, immediate_exit): nothing happened in the guest. */
    record Interrupted() implements VcpuExit {
    }

    /** An exit this frontend does not handle; {@code reason} is the backend's number for it. */
    record Unknown(int reason, long detail) implements VcpuExit {
    }
}

package io.jkvm.testing;

import io.jkvm.machine.GuestMemory;
import io.jkvm.x86.DescriptorTable;
import io.jkvm.x86.VirtualCpu;

/** A long-mode IDT for test guests: 64-bit interrupt gates written into guest memory, and IDTR loaded. */
public final class Idt {
    private Idt() {
    }

    /** The gate for {@code vector} in the IDT at {@code idt}: {@code handler} in the code segment 0x08, present, DPL 0, interrupt gate. */
    public static void writeGate(GuestMemory memory, long idt, int vector, long handler) {
        memory.writeLong(idt + vector * 16L, (handler & 0xFFFF) | (0x08L << 16) | (0x8EL << 40) | ((handler >>> 16 & 0xFFFF) << 48));
        memory.writeLong(idt + vector * 16L + 8, handler >>> 32);
    }

    /** IDTR = (base, limit), the vCPU's other special registers as they are. */
    public static void load(VirtualCpu vcpu, long base, int limit) {
        vcpu.setSpecialRegisters(vcpu.specialRegisters().withIdt(new DescriptorTable(base, limit)));
    }
}

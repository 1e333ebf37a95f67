package io.jkvm.testing;

import io.jkvm.emu.EmulatedVcpu;
import io.jkvm.kvm.Kvm;
import io.jkvm.machine.GuestMemory;
import io.jkvm.machine.LongModeBoot;
import io.jkvm.x86.CpuModel;

/** The two sides of an oracle test: the host CPU, and a software-core vCPU in long mode with code at 0x100000. */
public final class OracleCore implements AutoCloseable {
    public final NativeCpu host = new NativeCpu();
    public final GuestMemory memory = GuestMemory.allocate(4L << 20);
    public final EmulatedVcpu core;

    public OracleCore(String cpu) {
        CpuModel model;
        try (Kvm kvm = Kvm.open()) {
            model = CpuModel.parse(cpu, kvm.supportedCpuid());
        }
        LongModeBoot.writeTables(memory);
        core = new EmulatedVcpu(0, memory.mapping(), model.cpuid());
        core.setSpecialRegisters(LongModeBoot.specialRegisters(core.specialRegisters(), model.cpuid().hasXsave()));
    }

    /** Puts {@code insn} followed by HLT at 0x100000. */
    public void load(byte[] insn) {
        byte[] code = new byte[insn.length + 1];
        System.arraycopy(insn, 0, code, 0, insn.length);
        code[insn.length] = (byte) 0xF4;
        memory.write(0x100000, code, 0, code.length);
    }

    @Override
    public void close() {
        host.close();
        memory.close();
    }
}

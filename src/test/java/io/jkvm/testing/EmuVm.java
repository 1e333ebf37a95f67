package io.jkvm.testing;

import io.jkvm.emu.EmulatedVcpu;
import io.jkvm.linux.HostCpu;
import io.jkvm.machine.GuestMemory;
import io.jkvm.machine.LongModeBoot;
import io.jkvm.x86.CpuModel;
import io.jkvm.x86.CpuidTable;
import io.jkvm.x86.VcpuExit;

/** A software-core vCPU set up per the entry contract, with raw code at 0x100000. */
public final class EmuVm implements AutoCloseable {
    public static final long CODE = 0x100000;

    public final GuestMemory memory;
    public final EmulatedVcpu vcpu;
    public final CpuModel model;

    public EmuVm(String cpu, byte[] code) {
        this(cpu, code, 16L << 20);
    }

    /** As {@link #EmuVm(String, byte[])}, with {@code memoryBytes} of RAM instead of 16 MiB. */
    public EmuVm(String cpu, byte[] code, long memoryBytes) {
        CpuidTable host = HostModel.cpuid();
        model = io.jkvm.machine.CpuModels.parse(cpu, host, HostCpu.mxcsrMask());
        memory = GuestMemory.allocate(memoryBytes);
        LongModeBoot.writeTables(memory);
        memory.write(CODE, code, 0, code.length);
        vcpu = new EmulatedVcpu(0, memory.mapping(), model);
        vcpu.setSpecialRegisters(LongModeBoot.specialRegisters(vcpu.specialRegisters(), model.cpuid().hasXsave()));
        if (model.cpuid().hasXsave()) {
            vcpu.setXcr0(LongModeBoot.xcr0());
        }
        vcpu.setRegisters(LongModeBoot.registers(CODE, memory.size()));
    }

    /** The same over a CPU model of its own (a fixture of a part this host may not be), not parsed from the host. */
    public EmuVm(CpuModel fixture, byte[] code) {
        model = fixture;
        CpuidTable cpuid = fixture.cpuid();
        memory = GuestMemory.allocate(16L << 20);
        LongModeBoot.writeTables(memory);
        memory.write(CODE, code, 0, code.length);
        vcpu = new EmulatedVcpu(0, memory.mapping(), fixture);
        vcpu.setSpecialRegisters(LongModeBoot.specialRegisters(vcpu.specialRegisters(), cpuid.hasXsave()));
        vcpu.setRegisters(LongModeBoot.registers(CODE, memory.size()));
    }

    /** On every feature the core implements ({@code --cpu max}): what this host's KVM lists does not narrow the test. */
    public EmuVm(byte[] code) {
        this("max", code);
    }

    /** Runs to the next port write and returns its value. */
    public long nextOut(int port) {
        VcpuExit e = vcpu.run();
        if (e instanceof VcpuExit.Io io && io.out() && io.port() == port) {
            return io.data().get(0);
        }
        throw new AssertionError("expected OUT to port 0x" + Integer.toHexString(port) + ", got " + e
                + " at RIP 0x" + Long.toHexString(vcpu.registers().rip()));
    }

    @Override
    public void close() {
        memory.close();
    }
}

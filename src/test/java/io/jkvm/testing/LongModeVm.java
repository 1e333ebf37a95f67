package io.jkvm.testing;

import io.jkvm.kvm.Kvm;
import io.jkvm.kvm.KvmVcpu;
import io.jkvm.kvm.Vm;
import io.jkvm.machine.GuestMemory;
import io.jkvm.machine.LongModeBoot;
import io.jkvm.x86.CpuidTable;

import java.util.Map;

/** A one-vCPU KVM VM set up per the entry contract with raw code bytes at 0x100000, for ioctl-level tests. */
public final class LongModeVm implements AutoCloseable {
    public static final long CODE = 0x100000;

    public final Kvm kvm;
    public final Vm vm;
    public final GuestMemory memory;
    public final KvmVcpu vcpu;
    public final CpuidTable cpuid;

    public LongModeVm(long memorySize, byte... code) {
        this(memorySize, false, code);
    }

    /** With {@code irqchip}, the VM has KVM's in-kernel irqchip (made before any vCPU, as KVM requires). */
    public LongModeVm(long memorySize, boolean irqchip, byte... code) {
        kvm = Kvm.open();
        vm = kvm.createVm();
        if (irqchip) {
            vm.createIrqchip();
        }
        memory = GuestMemory.allocate(memorySize);
        LongModeBoot.writeTables(memory);
        memory.write(CODE, code, 0, code.length);
        vm.setUserMemoryRegion(0, 0, memory.size(), memory.hostAddress(), false);
        cpuid = kvm.supportedCpuid();
        vcpu = vm.createVcpu(0);
        vcpu.setCpuid(cpuid);
        vcpu.setSpecialRegisters(LongModeBoot.specialRegisters(vcpu.specialRegisters(), cpuid.hasXsave()));
        if (cpuid.hasXsave()) {
            vcpu.setXcrs(Map.of(0, LongModeBoot.xcr0()));
        }
        vcpu.setRegisters(LongModeBoot.registers(CODE, memory.size()));
    }

    public LongModeVm(byte... code) {
        this(16L << 20, code);
    }

    @Override
    public void close() {
        vm.close();
        memory.close();
        kvm.close();
    }

    /** Bytes from hex text such as "e6 80 f4". */
    public static byte[] hex(String text) {
        return java.util.HexFormat.of().parseHex(text.replace(" ", ""));
    }
}

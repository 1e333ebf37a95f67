package io.jkvm.kvm;

import io.jkvm.linux.Fd;
import io.jkvm.linux.LinuxException;
import io.jkvm.linux.uapi.Uapi;
import io.jkvm.linux.uapi.kvm_irq_level;
import io.jkvm.linux.uapi.kvm_pit_config;
import io.jkvm.linux.uapi.kvm_userspace_memory_region;

import io.jkvm.x86.CpuidTable;
import io.jkvm.x86.XsaveLayout;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;

/** A KVM VM fd: memory slots, vCPUs, and the in-kernel interrupt controller and timer when asked. */
public final class Vm implements AutoCloseable {
    private final Kvm kvm;
    private final Fd fd;
    private final int vcpuMmapSize;
    private final List<Vcpu> vcpus = new ArrayList<>();
    private volatile CpuidTable hostCpuid;
    private volatile XsaveLayout hostLayout;
    private volatile int[] stateMsrs;

    Vm(Kvm kvm, Fd fd) {
        this.kvm = kvm;
        this.fd = fd;
        this.vcpuMmapSize = kvm.vcpuMmapSize();
    }

    public Kvm kvm() {
        return kvm;
    }

    /**
     * What KVM supports on this host, read once per VM. Dynamic XSAVE features (AMX) appear only after the process
     * asked for them ({@link io.jkvm.linux.ArchPrctl#requestGuestPermission}), so ask before creating the VM.
     */
    public CpuidTable hostCpuid() {
        CpuidTable t = hostCpuid;
        if (t == null) {
            t = kvm.supportedCpuid();
            hostCpuid = t;
        }
        return t;
    }

    /** The standard-format XSAVE layout of KVM's buffers on this host (offsets from the host's CPUID leaf 0xD). */
    public XsaveLayout hostLayout() {
        XsaveLayout l = hostLayout;
        if (l == null) {
            l = XsaveLayout.fromCpuid(hostCpuid());
            hostLayout = l;
        }
        return l;
    }

    /** The state MSRs ({@link io.jkvm.x86.Msrs#vcpuState()}) this host's KVM lists, asked once per VM. */
    int[] stateMsrs() {
        int[] m = stateMsrs;
        if (m == null) {
            java.util.Set<Integer> listed = new java.util.HashSet<>();
            for (int i : kvm.msrIndexList()) {
                listed.add(i);
            }
            m = java.util.Arrays.stream(io.jkvm.x86.Msrs.vcpuState()).filter(listed::contains).toArray();
            stateMsrs = m;
        }
        return m;
    }

    /** The state MSRs a vCPU of {@code model} carries here: the model's ({@link io.jkvm.x86.Msrs#vcpuState(CpuidTable)}) that KVM lists. */
    int[] stateMsrs(CpuidTable model) {
        java.util.Set<Integer> listed = new java.util.HashSet<>();
        for (int i : stateMsrs()) {
            listed.add(i);
        }
        return java.util.Arrays.stream(io.jkvm.x86.Msrs.vcpuState(model)).filter(listed::contains).toArray();
    }

    /** KVM_CHECK_EXTENSION on the VM fd: the answer for this VM (KVM_CAP_XSAVE2's buffer size is asked here). */
    public int checkExtension(Capability capability) {
        return fd.ioctl(Ioctls.CHECK_EXTENSION, capability.number());
    }

    /**
     * Maps {@code size} bytes of host memory at {@code hostAddress} into the guest at {@code guestPhysical}.
     * A size of 0 deletes the slot.
     */
    public void setUserMemoryRegion(int slot, long guestPhysical, long size, long hostAddress, boolean readOnly) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment r = arena.allocate(kvm_userspace_memory_region.layout());
            kvm_userspace_memory_region.slot(r, slot);
            kvm_userspace_memory_region.flags(r, readOnly ? 2 : 0); // KVM_MEM_READONLY
            kvm_userspace_memory_region.guest_phys_addr(r, guestPhysical);
            kvm_userspace_memory_region.memory_size(r, size);
            kvm_userspace_memory_region.userspace_addr(r, hostAddress);
            fd.ioctl(Ioctls.SET_USER_MEMORY_REGION, r);
        }
    }

    /** Creates vCPU {@code id} and maps its kvm_run region. */
    public Vcpu createVcpu(int id) {
        int vcpuFd = fd.ioctl(Ioctls.CREATE_VCPU, id);
        Fd owned = Fd.adopt(vcpuFd, "KVM vCPU " + id + " fd");
        try {
            Vcpu vcpu = new Vcpu(this, id, owned, owned.map(vcpuMmapSize, 0));
            vcpus.add(vcpu);
            return vcpu;
        } catch (RuntimeException e) {
            owned.close();
            throw e;
        }
    }

    /** In-kernel PIC, IOAPIC and local APICs: must come before any vCPU. */
    public void createIrqchip() {
        fd.ioctl(Ioctls.CREATE_IRQCHIP, 0L);
    }

    /** In-kernel i8254 PIT (needs the irqchip). */
    public void createPit2() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment config = arena.allocate(kvm_pit_config.layout());
            kvm_pit_config.flags(config, Uapi.KVM_PIT_SPEAKER_DUMMY());
            fd.ioctl(Ioctls.CREATE_PIT2, config);
        }
    }

    /** Three pages of guest-physical space VMX uses for the real-mode TSS; must not overlap RAM that is used. */
    public void setTssAddress(long address) {
        fd.ioctl(Ioctls.SET_TSS_ADDR, address);
    }

    /** Raises or lowers an interrupt line of the in-kernel irqchip. */
    public void irqLine(int irq, boolean high) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment level = arena.allocate(kvm_irq_level.layout());
            kvm_irq_level.irq(level, irq);
            kvm_irq_level.level(level, high ? 1 : 0);
            fd.ioctl(Ioctls.IRQ_LINE, level);
        }
    }

    @Override
    public void close() {
        RuntimeException first = null;
        for (Vcpu v : vcpus) {
            try {
                v.close();
            } catch (LinuxException e) {
                first = first == null ? e : first;
            }
        }
        vcpus.clear();
        fd.close();
        if (first != null) {
            throw first;
        }
    }
}

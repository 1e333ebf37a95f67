package io.jkvm.machine;

import io.jkvm.emu.EmulatedVcpu;
import io.jkvm.kvm.Capability;
import io.jkvm.kvm.DirtyBitmap;
import io.jkvm.kvm.KernelIrqchip;
import io.jkvm.kvm.Kvm;
import io.jkvm.kvm.KvmVcpu;
import io.jkvm.kvm.Vm;
import io.jkvm.x86.CpuModel;
import io.jkvm.x86.CpuidTable;
import io.jkvm.x86.RamLayout;
import io.jkvm.x86.VirtualCpu;

import java.util.List;
import java.util.function.Consumer;

/**
 * Makes a machine's vCPUs on either backend over its guest memory. KVM's VM is created with the first KVM vCPU (at
 * start, or at the first handoff from the software core), guest RAM as its memory slot 0; KVM vCPUs are kept by id
 * and reused, since KVM cannot destroy one.
 */
final class VcpuFactory implements AutoCloseable {
    private final Kvm kvm;
    private final GuestMemory memory;
    private final CpuModel model;
    private final KvmVcpu[] kvmVcpus;
    private final Consumer<String> undefinedTrace;
    private final boolean kernelIrqchip;
    private final long createdNanos = System.nanoTime(); // where the core's kvmclock reads 0 on every vCPU of this machine
    private Vm vm;

    /** {@code kvm} null: there is no KVM here, only the software core. {@code undefinedTrace} null: no #UD trace. */
    VcpuFactory(Kvm kvm, GuestMemory memory, CpuModel model, int cpus, Consumer<String> undefinedTrace) {
        this(kvm, memory, model, cpus, undefinedTrace, false);
    }

    /**
     * As above; {@code kernelIrqchip}: a PC platform's machine, whose KVM VM gets the in-kernel irqchip (8259s, I/O
     * APIC, local APICs) wired as a PC's ({@link KernelIrqchip#pcRouting}) before its first vCPU.
     */
    VcpuFactory(Kvm kvm, GuestMemory memory, CpuModel model, int cpus, Consumer<String> undefinedTrace, boolean kernelIrqchip) {
        this.kvm = kvm;
        this.memory = memory;
        this.model = model;
        this.kvmVcpus = new KvmVcpu[cpus];
        this.undefinedTrace = undefinedTrace;
        this.kernelIrqchip = kernelIrqchip;
    }

    /** The KVM VM, once a vCPU of this machine has been made on KVM; null before. */
    Vm kvmVm() {
        return vm;
    }

    boolean hasKvm() {
        return kvm != null;
    }

    /** vCPU {@code id} on {@code on} at a flat image's 64-bit entry, as the entry contract sets it up. */
    VirtualCpu atEntry(Backend on, int id, CpuidTable modelCpuid, long entry) {
        CpuidTable cpuid = modelCpuid.withApicId(id);
        VirtualCpu vcpu = make(on, id, cpuid);
        LongModeBoot.enter(vcpu, cpuid.hasXsave(), LongModeBoot.registers(entry, memory.size()));
        return vcpu;
    }

    /**
     * vCPU {@code id} on {@code on}, loaded with its record in {@code state} (from {@code origin}); a record it cannot
     * hold is one line, a TSC rate it cannot take a warning through {@code warn}.
     */
    VirtualCpu restored(Backend on, int id, io.jkvm.snapshot.MachineState state, String origin, Consumer<String> warn) {
        io.jkvm.x86.VcpuState record = state.vcpus().get(id);
        VirtualCpu vcpu = make(on, id, record.cpuid());
        long khz = state.tscKhz();
        if (!vcpu.takeTscRate(khz) && id == 0) {
            warn.accept("jkvm: warning: the guest's TSC counted at " + khz + " kHz in " + origin + "; "
                    + BackendMoves.name(on) + " here cannot scale it to that rate (no KVM_CAP_TSC_CONTROL, or out of its range), "
                    + "so it counts at " + vcpu.tscKhz() + " kHz from now on");
        }
        try {
            vcpu.restoreState(record);
        } catch (RuntimeException e) {
            throw new MachineException("cannot restore vCPU " + id + " on " + BackendMoves.name(on) + ": " + e.getMessage(), e);
        }
        return vcpu;
    }

    /** vCPU {@code id} on {@code on} with the model's CPUID as that vCPU sees it ({@code cpuid}). */
    VirtualCpu make(Backend on, int id, CpuidTable cpuid) {
        if (on != Backend.KVM) {
            EmulatedVcpu emulated = new EmulatedVcpu(id, memory.mapping(), memory.layout(), model.withCpuid(cpuid));
            emulated.zeroKvmClockAt(createdNanos); // a restore or handoff sets the state's clock over it
            emulated.watchHostWrites(memory::hostWrites); // its code checked again when a device wrote RAM
            if (undefinedTrace != null) {
                emulated.traceUndefined(undefinedTrace);
            }
            return emulated;
        }
        KvmVcpu existing = kvmVcpus[id];
        if (existing != null) {
            return existing;
        }
        if (vm == null) {
            Vm v = kvm.createVm();
            try {
                List<RamLayout.Range> ram = memory.layout().ranges();
                for (int slot = 0; slot < ram.size(); slot++) { // a slot per range: the hole stays KVM's MMIO exits
                    RamLayout.Range r = ram.get(slot);
                    v.setUserMemoryRegion(slot, r.start(), r.length(), memory.hostAddress() + r.start(), false);
                }
                if (kernelIrqchip) {
                    v.createIrqchip();
                    v.setGsiRouting(KernelIrqchip.pcRouting());
                }
            } catch (RuntimeException e) {
                v.close();
                throw e;
            }
            vm = v;
        }
        KvmVcpu kvmVcpu = vm.createVcpu(id);
        kvmVcpu.setCpuid(cpuid);
        kvmVcpus[id] = kvmVcpu;
        return kvmVcpu;
    }

    /**
     * Turns KVM's dirty log of guest RAM (memory slot 0) on and returns what reads it (the pages written since the
     * last read, as bitmap words); null when no KVM VM exists (no vCPU of this machine has run on KVM).
     */
    java.util.function.Supplier<long[]> startKvmDirtyLog() {
        if (vm == null) {
            return null;
        }
        Vm v = vm;
        List<RamLayout.Range> ram = memory.layout().ranges();
        for (int slot = 0; slot < ram.size(); slot++) {
            v.setDirtyLogging(slot, true);
        }
        return () -> {
            long[] words = new long[DirtyBitmap.wordsFor(memory.size() / DirtyBitmap.PAGE_SIZE)];
            for (int slot = 0; slot < ram.size(); slot++) { // each slot's bits where its pages are: 4 GiB is word-aligned
                long[] log = v.dirtyLog(slot).words();
                System.arraycopy(log, 0, words, (int) (ram.get(slot).start() / DirtyBitmap.PAGE_SIZE / 64), log.length);
            }
            return words;
        };
    }

    /**
     * The VM's kvmclock now, in nanoseconds, on the backend {@code vcpus} run on: KVM's VM-wide clock (KVM_GET_CLOCK),
     * or the core's, which every vCPU keeps alike (vCPU 0's).
     */
    long kvmClock(List<VirtualCpu> vcpus) {
        if (vcpus.getFirst() instanceof EmulatedVcpu e) {
            return e.kvmClock();
        }
        return vm.clock();
    }

    /** Sets the VM's kvmclock to read {@code nanos} now on the backend {@code vcpus} run on (while none of them runs). */
    void setKvmClock(List<VirtualCpu> vcpus, long nanos) {
        if (vcpus.getFirst() instanceof EmulatedVcpu first) {
            long offset = nanos - (first.kvmClock() - first.kvmClockOffset()); // one offset: the vCPUs keep one clock
            for (VirtualCpu v : vcpus) {
                ((EmulatedVcpu) v).setKvmClockOffset(offset);
            }
        } else {
            vm.setClock(nanos);
        }
    }

    void stopKvmDirtyLog() {
        if (vm == null) {
            return;
        }
        for (int slot = 0; slot < memory.layout().ranges().size(); slot++) {
            if (vm.dirtyLogging(slot)) {
                vm.setDirtyLogging(slot, false);
            }
        }
    }

    /**
     * For the software core: KVM when it can be opened (its supported CPUID is the host model, and the vCPUs can move
     * to it), else none: the core runs without KVM and takes the host model from the CPU's own CPUID.
     */
    static Kvm openKvmIfThere(String path) {
        if (!new java.io.File(path).exists()) {
            return null; // no KVM on this host: nothing to open (an open's error would only be built to be dropped)
        }
        try {
            return Kvm.open(path);
        } catch (RuntimeException e) {
            return null; // missing, or no permission: that is what the software core is for
        }
    }

    /** KVM_CAP_MAX_VCPUS (else KVM_CAP_NR_VCPUS, else 4, as the API says) bounds the vCPUs of one VM. */
    static void requireKvmTakes(Kvm k, int cpus) {
        int max = k.checkExtension(Capability.MAX_VCPUS);
        if (max <= 0) {
            max = k.checkExtension(Capability.NR_VCPUS);
        }
        if (max <= 0) {
            max = 4;
        }
        if (cpus > max) {
            throw new MachineException("--cpus " + cpus + " is more than this host's KVM runs in one VM (KVM_CAP_MAX_VCPUS = "
                    + max + "): use at most " + max + ", or --backend emulator");
        }
    }

    /** Closes KVM's VM (its vCPUs with it) and the KVM device; guest memory is the machine's to close after. */
    @Override
    public void close() {
        try {
            if (vm != null) {
                vm.close();
            }
        } finally {
            if (kvm != null) {
                kvm.close();
            }
        }
    }
}

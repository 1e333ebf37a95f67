package io.jkvm.machine;

import io.jkvm.snapshot.MachineState;
import io.jkvm.snapshot.SnapshotCompatibility;
import io.jkvm.x86.CpuModel;
import io.jkvm.x86.RamLayout;
import io.jkvm.x86.VirtualCpu;

import java.util.List;
import java.util.function.Consumer;

/**
 * How a machine starts: booting an image per the entry contract, booting a kernel, or resuming a machine state. What
 * differs between them is each one's own method, not a switch over the three: a pattern switch is an invokedynamic
 * whose bootstrap builds a class at its first run, a millisecond or more of every launch (docs/benchmarks.md).
 */
sealed interface MachineStart {
    /** Guest RAM as this start needs it: an image's with the long-mode tables, a kernel's with ACPI's, a state's. */
    GuestMemory memory(MachineConfig config);

    /** vCPU {@code id} as this start has it begin, made by {@code factory} on {@code backend}. */
    VirtualCpu vcpu(VcpuFactory factory, Backend backend, int id, CpuModel model, Consumer<String> warn);

    /** Whether the machine has the PC's test device (a kernel asked for it, or the state holds its record). */
    boolean testDevice();

    /** The virtio devices the machine attaches: the kernel's, or the images and TAPs the state's records name. */
    List<VirtioConfig> virtio();

    record Boot(GuestImage image) implements MachineStart {
        @Override
        public GuestMemory memory(MachineConfig config) {
            return filled(RamLayout.flat(config.memorySize()), m -> {
                LongModeBoot.writeTables(m);
                image.loadInto(m);
            });
        }

        @Override
        public VirtualCpu vcpu(VcpuFactory factory, Backend backend, int id, CpuModel model, Consumer<String> warn) {
            return factory.atEntry(backend, id, model.cpuid(), image.entry());
        }

        @Override
        public boolean testDevice() {
            return false;
        }

        @Override
        public List<VirtioConfig> virtio() {
            return List.of();
        }
    }

    /** A kernel its boot protocol placed (multiboot v1, a Linux bzImage, a PVH vmlinux). */
    record KernelBoot(KernelLoading.Loaded image, KernelConfig kernel) implements MachineStart {
        @Override
        public GuestMemory memory(MachineConfig config) {
            return filled(RamLayout.pc(config.memorySize()), m -> {
                // in the BIOS area; a kernel placed over it wins
                byte[] acpi = PcPlatform.acpiTables(config.cpus(), kernel.virtio().size());
                m.write(PcPlatform.ACPI_TABLES, acpi, 0, acpi.length);
                KernelLoading.write(image, m);
            });
        }

        @Override
        public VirtualCpu vcpu(VcpuFactory factory, Backend backend, int id, CpuModel model, Consumer<String> warn) {
            return KernelLoading.vcpu(factory.make(backend, id, model.cpuid().withApicId(id)), id, image,
                    model.cpuid().hasXsave());
        }

        @Override
        public boolean testDevice() {
            return kernel.pcTestDevice();
        }

        @Override
        public List<VirtioConfig> virtio() {
            return kernel.virtio();
        }
    }

    /**
     * A machine state to go on from, its guest RAM (mapped from a snapshot, or filled by a migration) in the layout it
     * is given, whence it came, and whether it runs with the CPU model the config names (--cpu) rather than its own.
     */
    record Resume(MachineState state, java.util.function.Function<RamLayout, GuestMemory> memory, String origin,
                  boolean retarget) implements MachineStart {
        Resume on(CpuModel model) {
            return new Resume(SnapshotCompatibility.retarget(state, model), memory, origin, false);
        }

        /** {@link #ramLayout(MachineState)} of the state, or one line saying why it has none. */
        RamLayout layout() {
            RamLayout layout = ramLayout(state);
            if (layout == null) {
                throw new MachineException("cannot restore " + origin + ": its guest memory of " + MemorySize.format(state.memorySize())
                        + " ends inside the PC's MMIO window (3G-4G), which no machine jkvm makes has: it is corrupt");
            }
            return layout;
        }

        @Override
        public GuestMemory memory(MachineConfig config) {
            return memory.apply(layout());
        }

        @Override
        public VirtualCpu vcpu(VcpuFactory factory, Backend backend, int id, CpuModel model, Consumer<String> warn) {
            return factory.restored(backend, id, state, origin, warn);
        }

        @Override
        public boolean testDevice() {
            return DeviceManager.hasTestDevice(state);
        }

        @Override
        public List<VirtioConfig> virtio() {
            return DeviceManager.virtioIn(state);
        }
    }

    /** New guest RAM in {@code layout}, written by {@code fill}; unmapped again when that fails. */
    private static GuestMemory filled(RamLayout layout, Consumer<GuestMemory> fill) {
        GuestMemory m = GuestMemory.allocate(layout);
        try {
            fill.accept(m);
        } catch (RuntimeException | Error e) {
            Threads.closeQuietly(m);
            throw e;
        }
        return m;
    }

    /**
     * Where a state's RAM is: for a PC platform's state whose memory reaches past 4 GiB, below and above the MMIO
     * window, else all from 0; null when it ends inside the window. Its memory size is the span its memory image
     * covers, the hole included.
     */
    static RamLayout ramLayout(MachineState state) {
        long span = state.memorySize();
        return DeviceManager.hasPlatform(state) ? RamLayout.pcOfSpan(span) : RamLayout.flat(span);
    }
}

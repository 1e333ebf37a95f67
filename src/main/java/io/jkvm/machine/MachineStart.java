package io.jkvm.machine;

import io.jkvm.snapshot.MachineState;
import io.jkvm.snapshot.SnapshotCompatibility;
import io.jkvm.x86.CpuModel;
import io.jkvm.x86.RamLayout;

/** How a machine starts: booting an image per the entry contract, booting a kernel, or resuming a machine state. */
sealed interface MachineStart {
    record Boot(GuestImage image) implements MachineStart {
    }

    /** A kernel its boot protocol placed (multiboot v1, a Linux bzImage, a PVH vmlinux). */
    record KernelBoot(KernelLoading.Loaded image, KernelConfig kernel) implements MachineStart {
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
    }

    /** Guest RAM as this start needs it: an image's with the long-mode tables, a kernel's with ACPI's, a state's. */
    default GuestMemory memory(MachineConfig config) {
        if (this instanceof Resume r) {
            return r.memory().apply(r.layout());
        }
        GuestMemory m = GuestMemory.allocate(this instanceof Boot ? RamLayout.flat(config.memorySize())
                : RamLayout.pc(config.memorySize()));
        try {
            switch (this) {
                case Boot b -> {
                    LongModeBoot.writeTables(m);
                    b.image().loadInto(m);
                }
                case KernelBoot kb -> {
                    // in the BIOS area; a kernel placed over it wins
                    byte[] acpi = PcPlatform.acpiTables(config.cpus(), kb.kernel().virtio().size());
                    m.write(PcPlatform.ACPI_TABLES, acpi, 0, acpi.length);
                    KernelLoading.write(kb.image(), m);
                }
                case Resume r -> throw new AssertionError(r);
            }
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

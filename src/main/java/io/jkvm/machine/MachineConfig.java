package io.jkvm.machine;

import java.nio.file.Path;
import java.util.Optional;

/**
 * What a user asks for: the image (or the bundled guest) or a kernel to boot, RAM, vCPUs, the guest CPU model, backend,
 * and where KVM lives.
 */
public record MachineConfig(Optional<Path> image, long memorySize, int cpus, String cpuModel, Backend backend,
                            long loadAddress, String kvmPath, boolean trace, Optional<KernelConfig> kernel) {
    public static final long DEFAULT_MEMORY = 64L << 20;
    /** Boot tables below 1 MiB plus an image at 0x100000 and a stack need at least this much. */
    public static final long MIN_MEMORY = 2L << 20;
    /** vCPUs per VM at most, on either backend (KVM may allow fewer: KVM_CAP_MAX_VCPUS). */
    public static final int MAX_CPUS = 256;
    /** vCPUs of a kernel's PC platform at most: APIC IDs 0-254, which the MADT and the I/O APIC's destinations reach. */
    public static final int MAX_PC_CPUS = 255;

    public MachineConfig {
        if (memorySize < MIN_MEMORY) {
            throw new MachineException("--mem " + MemorySize.format(memorySize) + " is too small: jkvm needs at least "
                    + MemorySize.format(MIN_MEMORY) + " (boot tables below 1M, the image at 0x100000, a stack)");
        }
        if (memorySize > LongModeBoot.MAX_RAM) {
            throw new MachineException("--mem " + MemorySize.format(memorySize) + " is more than jkvm maps: use at most "
                    + MemorySize.format(LongModeBoot.MAX_RAM));
        }
        if (memorySize % 4096 != 0) {
            throw new MachineException("--mem " + memorySize + " bytes is not a whole number of 4K pages: round it, e.g. 64M");
        }
        if (cpus < 1) {
            throw new MachineException("--cpus " + cpus + " must be at least 1");
        }
        if (cpus > MAX_CPUS) {
            throw new MachineException("--cpus " + cpus + " is more than jkvm runs: use at most " + MAX_CPUS + " (one thread each)");
        }
        if (kernel.isPresent() && cpus > MAX_PC_CPUS) {
            throw new MachineException("--cpus " + cpus + " with --kernel: a PC's xAPIC addresses " + MAX_PC_CPUS + " processors (APIC ID"
                    + " 255 is its broadcast): use at most " + MAX_PC_CPUS);
        }
    }

    /** A machine booting an image per the long-mode entry contract (no --kernel). */
    public MachineConfig(Optional<Path> image, long memorySize, int cpus, String cpuModel, Backend backend, long loadAddress,
                         String kvmPath, boolean trace) {
        this(image, memorySize, cpus, cpuModel, backend, loadAddress, kvmPath, trace, Optional.empty());
    }

    public static MachineConfig defaults() {
        return new MachineConfig(Optional.empty(), DEFAULT_MEMORY, 1, "host", Backend.AUTO, GuestImage.DEFAULT_LOAD_ADDRESS, "/dev/kvm", false);
    }
}

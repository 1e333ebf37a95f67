package io.jkvm.machine;

import io.jkvm.boot.BootException;
import io.jkvm.boot.BootImage;
import io.jkvm.boot.LinuxBoot;
import io.jkvm.boot.Multiboot;
import io.jkvm.boot.Pvh;
import io.jkvm.emu.EmulatedVcpu;
import io.jkvm.x86.Registers;
import io.jkvm.x86.ResetState;
import io.jkvm.x86.RamLayout;
import io.jkvm.x86.VirtualCpu;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;

/**
 * A machine's kernel boot: the files read (regular files of a size RAM can hold), the kernel placed by its boot
 * protocol, and the vCPUs' starting states. A multiboot v1 kernel's boot processor starts at its entry in 32-bit
 * protected mode, paging off, EAX = the multiboot magic and EBX = its information, and a PVH ELF kernel's the same
 * way with EBX = its start information; a Linux bzImage's at its 64-bit entry in long mode over identity-mapped RAM,
 * RSI = the zero page. The others wait after INIT for a STARTUP IPI.
 */
final class KernelLoading {
    private KernelLoading() {
    }

    /** A kernel placed by its boot protocol. */
    sealed interface Loaded {
        BootImage image();
    }

    record MultibootKernel(BootImage image) implements Loaded {
    }

    /** A PVH ELF kernel: entered as a multiboot kernel is, in 32-bit protected mode, EBX = its start information. */
    record PvhKernel(BootImage image) implements Loaded {
    }

    record LinuxKernel(LinuxBoot.Loaded linux) implements Loaded {
        @Override
        public BootImage image() {
            return linux.image();
        }
    }

    /** A stack for the 64-bit entry's first instructions: low RAM below the command line, clear of the zero page. */
    private static final long LINUX_STACK = 0x1F000;

    /** The kernel for {@code ram} (a PC's layout): it, its initrd and what the protocol gives it go below 4 GiB. */
    static Loaded load(KernelConfig k, RamLayout ram) {
        long ramSize = ram.below();
        if (k.virtio().size() > PcPlatform.VIRTIO_SLOTS) {
            throw new MachineException(k.virtio().size() + " virtio devices (--disk, --net, --device virtio-rng): jkvm has "
                    + PcPlatform.VIRTIO_SLOTS + " virtio-mmio slots");
        }
        for (VirtioConfig v : k.virtio()) {
            String problem = v instanceof VirtioConfig.Disk d ? VirtioConfig.problem(d) : null;
            if (problem != null) {
                throw new MachineException(problem); // before anything is built
            }
        }
        ByteBuffer kernel = read(k.kernel(), "--kernel", ramSize);
        boolean bzImage = LinuxBoot.detect(kernel);
        if (bzImage || Pvh.entry(kernel) >= 0) { // Linux: the initrd is its ramdisk, placed by the protocol
            ByteBuffer initrd = k.initrd().map(p -> read(p, "--initrd", ramSize)).orElse(null);
            String name = k.kernel().toString();
            try {
                return bzImage
                        ? new LinuxKernel(LinuxBoot.load(name, kernel, k.append(), initrd, LinuxBoot.MemoryRange.pcMap(ram), ramSize, PcPlatform.ACPI_TABLES))
                        : new PvhKernel(Pvh.load(name, kernel, k.append(), initrd, LinuxBoot.MemoryRange.pcMap(ram), ramSize, PcPlatform.ACPI_TABLES));
            } catch (BootException e) {
                throw new MachineException("--kernel " + e.getMessage(), e);
            }
        }
        if (!Multiboot.detect(kernel)) {
            throw new MachineException("--kernel " + k.kernel() + " is neither a Linux bzImage, a PVH ELF (vmlinux) nor a multiboot"
                    + " kernel (no \"HdrS\" setup header, no Xen PVH entry note, no 0x1BADB002 header in its first 8 KiB); a flat"
                    + " or ELF64 guest of the entry contract takes no --append, --initrd, --device, --disk or --net");
        }
        List<Multiboot.Module> modules = k.initrd().map(p -> List.of(new Multiboot.Module(p.toString(), read(p, "--initrd", ramSize),
                p.toString()))).orElse(List.of());
        String commandLine = k.kernel() + (k.append().isEmpty() ? "" : " " + k.append()); // as QEMU's: the path, then the arguments
        try {
            return new MultibootKernel(Multiboot.load(k.kernel().toString(), kernel, commandLine, modules, ram));
        } catch (BootException e) {
            throw new MachineException("--kernel " + e.getMessage(), e);
        }
    }

    /**
     * The file's bytes, mapped read-only: the loaders place slices of them, which {@link #write} copies into guest RAM,
     * with no copy in the Java heap (a vmlinux is 66 MB; reading it and copying its segments took half a second).
     */
    private static ByteBuffer read(Path path, String option, long limit) {
        try {
            if (!Files.isRegularFile(path)) {
                throw new MachineException(option + " " + path + ": no such file (or not a regular file)");
            }
            long size = Files.size(path);
            if (size > limit) {
                throw new MachineException(option + " " + path + " is " + size + " bytes, more than the guest's RAM: give more with --mem");
            }
            if (size > Integer.MAX_VALUE) {
                throw new MachineException(option + " " + path + " is " + size + " bytes: jkvm loads files of up to 2 GiB");
            }
            return mapped(path, size);
        } catch (IOException e) {
            throw new MachineException(option + " " + path + ": " + e.getMessage(), e);
        }
    }

    /** {@code size} bytes of {@code file} from its start, mapped read-only (unmapped when the buffer is collected). */
    static ByteBuffer mapped(Path file, long size) throws IOException {
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ)) {
            return channel.map(FileChannel.MapMode.READ_ONLY, 0, size);
        }
    }

    static void write(Loaded kernel, GuestMemory memory) {
        if (kernel instanceof LinuxKernel) {
            LongModeBoot.writeTables(memory, LongModeBoot.LINUX); // the GDT and identity page tables the 64-bit entry runs on
        }
        for (BootImage.Chunk c : kernel.image().chunks()) {
            if (!memory.contains(c.address(), c.memorySize())) {
                throw new MachineException(String.format("--kernel places %d bytes at 0x%x, beyond the guest's RAM: give more with --mem",
                        c.memorySize(), c.address()));
            }
            try {
                memory.write(c.address(), c.data());
            } catch (InternalError e) { // the JVM's word for SIGBUS on a mapped file that shrank under it
                throw new MachineException("the --kernel or --initrd file shrank while jkvm copied it into guest RAM: keep it"
                        + " unchanged while the machine starts", e);
            }
            // RAM is fresh (zero) where the chunk's memory size goes past its bytes: nothing to clear
        }
    }

    /** What keeps this host's KVM from running a PC platform's kernel: kvm_pvm runs no 32-bit or real-mode kernel code. Null: nothing. */
    static String kvmObstacle() {
        return Files.isDirectory(Path.of("/sys/module/kvm_pvm"))
                ? "this host's KVM is kvm_pvm, which runs no 32-bit or real-mode kernel code" : null;
    }

    /**
     * The backend that runs a kernel ({@code subject}: what the user asked for, as "--kernel"): {@code chosen}, but
     * the software core where {@link #kvmObstacle} says KVM cannot, said in one line, and refused in one line when
     * {@code --backend kvm} asked for KVM.
     */
    static Backend backend(Backend chosen, MachineConfig config, String subject, java.util.function.Consumer<String> trace) {
        if (chosen != Backend.KVM) {
            return chosen;
        }
        String why = kvmObstacle();
        if (why == null) {
            return chosen;
        }
        if (config.backend() == Backend.KVM) {
            throw new MachineException(subject + " with --backend kvm: " + why + ": use --backend emulator or auto");
        }
        trace.accept("jkvm: " + why + ": the software core runs the kernel");
        return Backend.EMULATOR;
    }

    /** vCPU {@code id}'s starting state for the kernel. */
    static VirtualCpu vcpu(VirtualCpu v, int id, Loaded kernel, boolean xsave) {
        if (id != 0) {
            v.setSpecialRegisters(ResetState.specialRegisters(ResetState.APIC_BASE_BSP & ~0x100L));
            if (v instanceof EmulatedVcpu core) {
                core.init(); // waits for the boot processor's STARTUP IPI
            } // on KVM the kernel's APIC holds it from its creation (UNINITIALIZED) until INIT and STARTUP
            return v;
        }
        if (kernel instanceof LinuxKernel linux) {
            long[] gprs = new long[16];
            gprs[4] = LINUX_STACK;
            gprs[6] = linux.linux().zeroPage(); // RSI
            LongModeBoot.enter(v, xsave, Registers.byEncoding(gprs, linux.linux().entry(), 0x2), LongModeBoot.LINUX);
            return v;
        }
        BootImage image = kernel.image();
        v.setSpecialRegisters(ResetState.flatProtectedMode());
        long[] gprs = new long[16];
        gprs[0] = kernel instanceof MultibootKernel ? Multiboot.BOOTLOADER_MAGIC & 0xFFFFFFFFL : 0;
        gprs[3] = image.information(); // the multiboot information, or PVH's start information
        v.setRegisters(Registers.byEncoding(gprs, image.entry(), 0x2));
        return v;
    }
}

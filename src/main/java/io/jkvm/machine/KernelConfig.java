package io.jkvm.machine;

import io.jkvm.boot.LinuxBoot;
import io.jkvm.boot.Multiboot;
import io.jkvm.boot.Pvh;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;

/**
 * {@code --kernel FILE [--append ARGS] [--initrd FILE] [--device pc-testdev|virtio-rng] [--disk FILE[,ro]]}: a kernel
 * booted as a boot loader would, with its virtio devices in slot order.
 */
public record KernelConfig(Path kernel, String append, Optional<Path> initrd, boolean pcTestDevice, List<VirtioConfig> virtio) {
    /** The largest ELF read whole to look for a PVH note (a distribution's vmlinux is tens of MiB); larger: a kernel. */
    private static final long LARGEST_ELF_READ = 128L << 20;

    public KernelConfig {
        virtio = List.copyOf(virtio);
    }

    public KernelConfig(Path kernel, String append, Optional<Path> initrd, boolean pcTestDevice) {
        this(kernel, append, initrd, pcTestDevice, List.of());
    }

    /**
     * Whether {@code file} is a kernel a boot protocol loads (a Linux bzImage, a PVH ELF, a multiboot kernel); false
     * for a flat binary or an ELF64 of the entry contract, which {@code --kernel} runs as {@code --image} does. A file
     * that cannot be read, or is too large to be a guest image, counts as a kernel: its loading says why in one line.
     */
    public static boolean bootsByProtocol(Path file) {
        if (!Files.isRegularFile(file)) {
            return true; // not read at all (a FIFO would block): the kernel's loading refuses it in one line
        }
        try (InputStream in = Files.newInputStream(file)) {
            byte[] head = in.readNBytes(8192); // where bzImage's setup header and multiboot's header are
            ByteBuffer headers = ByteBuffer.wrap(head);
            if (LinuxBoot.detect(headers) || Multiboot.detect(headers)) {
                return true;
            }
            if (!GuestImage.hasElfMagic(head)) {
                return false;
            }
            // an ELF's PVH note may be anywhere in it: mapped whole where it can be a guest at all
            long size = Files.size(file);
            return size > LARGEST_ELF_READ || Pvh.entry(KernelLoading.mapped(file, size)) >= 0;
        } catch (IOException | RuntimeException e) {
            return true;
        }
    }
}

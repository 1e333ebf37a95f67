package io.jkvm.machine;

import java.nio.file.Path;
import java.util.List;
import java.util.Optional;

/**
 * {@code --kernel FILE [--append ARGS] [--initrd FILE] [--device pc-testdev|virtio-rng] [--disk FILE[,ro]]}: a kernel
 * booted as a boot loader would, with its virtio devices in slot order.
 */
public record KernelConfig(Path kernel, String append, Optional<Path> initrd, boolean pcTestDevice, List<VirtioConfig> virtio) {
    public KernelConfig {
        virtio = List.copyOf(virtio);
    }

    public KernelConfig(Path kernel, String append, Optional<Path> initrd, boolean pcTestDevice) {
        this(kernel, append, initrd, pcTestDevice, List.of());
    }
}

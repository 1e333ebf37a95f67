package io.jkvm.machine;

import java.nio.file.Path;

/**
 * A virtio device a kernel's machine has on virtio-mmio, in the order of its slots (the DSDT describes each):
 * {@code --disk FILE[,ro]} and {@code --device virtio-rng}.
 */
public sealed interface VirtioConfig {
    /** A virtio-blk disk on the raw image {@code image}, read-only with {@code readOnly}. */
    record Disk(Path image, boolean readOnly) implements VirtioConfig {
    }

    /** A virtio-rng device, fed from the host's entropy. */
    record Rng() implements VirtioConfig {
    }

    /** The id of the device in slot {@code slot}: its record's id in a snapshot, and its name in messages. */
    default String id(int slot) {
        return switch (this) {
            case Disk d -> VirtioConfig.DISK + slot;
            case Rng r -> VirtioConfig.RNG + slot;
        };
    }

    String DISK = "virtio-blk", RNG = "virtio-rng";

    /**
     * Why the disk's image cannot back it, or null: it must be a regular file (a raw image) of at least one 512-byte
     * sector, readable, and writable unless read-only.
     */
    static String problem(Disk d) {
        Path p = d.image();
        if (!java.nio.file.Files.isRegularFile(p)) {
            return "--disk " + p + ": no such file (or not a regular file): give a raw disk image";
        }
        if (!java.nio.file.Files.isReadable(p) || !d.readOnly() && !java.nio.file.Files.isWritable(p)) {
            return "--disk " + p + ": not " + (d.readOnly() ? "readable" : "readable and writable") + " by this user"
                    + (d.readOnly() ? "" : ": fix its permissions or add ,ro");
        }
        try {
            if (java.nio.file.Files.size(p) < 512) {
                return "--disk " + p + " is smaller than one 512-byte sector: give a raw disk image";
            }
        } catch (java.io.IOException e) {
            return "--disk " + p + ": " + e.getMessage();
        }
        return null;
    }

    /** {@code --disk FILE[,ro]}: a raw image, with ",ro" read-only. */
    static Disk parseDisk(String spec) {
        if (spec.endsWith(",ro")) {
            return new Disk(Path.of(spec.substring(0, spec.length() - 3)), true);
        }
        if (spec.isEmpty() || spec.contains(",")) {
            throw new MachineException("--disk " + spec + ": give FILE or FILE,ro (a raw image; ,ro makes it read-only)");
        }
        return new Disk(Path.of(spec), false);
    }
}

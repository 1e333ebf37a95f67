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

    /** A virtio-net NIC on the host's TAP device {@code tap}, with MAC address {@code mac} (null: one from its slot). */
    record Net(String tap, String mac) implements VirtioConfig {
    }

    /** The id of the device in slot {@code slot}: its record's id in a snapshot, and its name in messages. */
    default String id(int slot) {
        return switch (this) {
            case Disk d -> VirtioConfig.DISK + slot;
            case Rng r -> VirtioConfig.RNG + slot;
            case Net n -> VirtioConfig.NET + slot;
        };
    }

    String DISK = "virtio-blk", RNG = "virtio-rng", NET = "virtio-net";

    /** The MAC address of a NIC in slot {@code slot} given none: QEMU's prefix 52:54:00, then 12:34 and 0x56 + slot. */
    static String defaultMac(int slot) {
        return String.format("52:54:00:12:34:%02x", 0x56 + slot);
    }

    /** {@code --net tap=NAME[,mac=XX:XX:XX:XX:XX:XX]}. */
    static Net parseNet(String spec) {
        String tap = null, mac = null;
        for (String part : spec.split(",")) {
            if (part.startsWith("tap=") && part.length() > 4 && part.length() <= 4 + 15) {
                tap = part.substring(4);
            } else if (part.startsWith("mac=") && part.substring(4).matches("(?i)[0-9a-f]{2}(:[0-9a-f]{2}){5}")
                    && (Integer.parseInt(part.substring(4, 6), 16) & 1) == 0) {
                mac = part.substring(4).toLowerCase(java.util.Locale.ROOT);
            } else {
                tap = null;
                break;
            }
        }
        if (tap == null) {
            throw new MachineException("--net " + spec + ": give tap=NAME (a TAP device of 1 to 15 characters) and optionally"
                    + " mac=52:54:00:12:34:56 (a unicast address)");
        }
        return new Net(tap, mac);
    }

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

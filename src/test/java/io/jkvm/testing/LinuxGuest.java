package io.jkvm.testing;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.zip.GZIPOutputStream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Debian's kernel and busybox for the tests (scripts/linux-guest fetches them), and busybox initramfs images. */
public final class LinuxGuest {
    private LinuxGuest() {
    }

    private static final Path GUEST = Path.of("target", "linux-guest");

    /** The kernel, busybox, the shell initramfs and the ext4 image, made by scripts/linux-guest if they are not there yet. */
    public static Path guest() throws IOException, InterruptedException {
        if (java.util.stream.Stream.of("vmlinuz", "vmlinux", "modules/ext4.ko", "initrd.gz", "disk.ext4")
                .anyMatch(f -> !Files.isRegularFile(GUEST.resolve(f)))) {
            Process p = new ProcessBuilder("bash", "scripts/linux-guest").redirectErrorStream(true).start();
            String log = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            assertTrue(p.waitFor(300, TimeUnit.SECONDS), "scripts/linux-guest did not finish");
            assertEquals(0, p.exitValue(), "scripts/linux-guest could not fetch Debian's kernel: " + log);
        }
        return GUEST;
    }

    /** What every test's /init does first: busybox's applets, /proc, /sys, /dev (devtmpfs) and /tmp. */
    private static final String PRELUDE = """
            #!/bin/busybox sh
            /bin/busybox --install -s /bin
            mount -t proc proc /proc
            mount -t sysfs sysfs /sys
            mount -t devtmpfs devtmpfs /dev
            mkdir /tmp
            """;

    /** The initrd dir/initrd.gz: busybox, and an /init of the prelude, then the shell lines {@code body}. */
    public static Path initrd(Path dir, String body) throws IOException, InterruptedException {
        return write(dir, PRELUDE + body, Map.of());
    }

    /**
     * As {@link #initrd}, with the kernel's virtio and ext4 modules scripts/linux-guest unpacked (lib/modules/*.ko),
     * which /init loads with insmod, in their order, before {@code body}.
     */
    public static Path initrdWithVirtio(Path dir, String body) throws IOException, InterruptedException {
        Path modules = guest().resolve("modules");
        Map<String, byte[]> files = new LinkedHashMap<>();
        for (String m : Files.readAllLines(modules.resolve("order"))) {
            files.put("lib/modules/" + m, Files.readAllBytes(modules.resolve(m)));
        }
        files.put("lib/modules/order", Files.readAllBytes(modules.resolve("order")));
        return write(dir, PRELUDE + "for m in $(cat /lib/modules/order); do insmod /lib/modules/$m || exit 1; done\n" + body, files);
    }

    private static Path write(Path dir, String init, Map<String, byte[]> files) throws IOException, InterruptedException {
        Path initrd = dir.resolve("initrd.gz");
        Files.write(initrd, initramfs(Files.readAllBytes(guest().resolve("busybox")), init, files));
        return initrd;
    }

    /**
     * A gzipped newc cpio archive: /init (a busybox shell script), /bin/busybox, mount points, and {@code files} (path
     * to bytes; lib/ and lib/modules/ exist).
     */
    static byte[] initramfs(byte[] busybox, String init, Map<String, byte[]> files) throws IOException {
        ByteArrayOutputStream cpio = new ByteArrayOutputStream();
        int[] inode = {1};
        Entry e = (name, mode, body) -> {
            String header = String.format("070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X", inode[0]++, mode, 0, 0,
                    1, 0, body.length, 0, 0, 0, 0, name.length() + 1, 0);
            cpio.writeBytes(header.getBytes(StandardCharsets.US_ASCII));
            cpio.writeBytes((name + "\0").getBytes(StandardCharsets.US_ASCII));
            pad(cpio);
            cpio.writeBytes(body);
            pad(cpio);
        };
        for (String d : new String[]{"bin", "proc", "sys", "dev", "lib", "lib/modules"}) {
            e.add(d, 0040755, new byte[0]);
        }
        files.forEach((name, body) -> e.add(name, 0100644, body));
        e.add("bin/busybox", 0100755, busybox);
        e.add("init", 0100755, init.getBytes(StandardCharsets.US_ASCII));
        e.add("TRAILER!!!", 0, new byte[0]);
        ByteArrayOutputStream gz = new ByteArrayOutputStream();
        try (OutputStream out = new GZIPOutputStream(gz)) {
            cpio.writeTo(out);
        }
        return gz.toByteArray();
    }

    private interface Entry {
        void add(String name, int mode, byte[] body);
    }

    private static void pad(ByteArrayOutputStream out) {
        while (out.size() % 4 != 0) {
            out.write(0);
        }
    }

}

package io.jkvm.cli;

import io.jkvm.testing.Cli;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import java.util.zip.GZIPOutputStream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Debian's own kernel (linux-image-amd64's, fetched by scripts/linux-guest) boots on the software core with two
 * vCPUs through the Linux boot protocol: ACPI's MADT brings up both processors, the busybox initramfs this test
 * builds runs as /init, reports the kernel and the processors it sees, and `poweroff -f` ends `jkvm run` with status 0
 * through ACPI S5.
 */
class LinuxGuestTest {
    private static final Path GUEST = Path.of("target", "linux-guest");

    @TempDir
    Path dir;

    /** The kernel and busybox, fetched by scripts/linux-guest if they are not there yet. */
    static Path guest() throws IOException, InterruptedException {
        if (!Files.isRegularFile(GUEST.resolve("vmlinuz"))) {
            Process p = new ProcessBuilder("bash", "scripts/linux-guest").redirectErrorStream(true).start();
            String log = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            assertTrue(p.waitFor(300, TimeUnit.SECONDS), "scripts/linux-guest did not finish");
            assertEquals(0, p.exitValue(), "scripts/linux-guest could not fetch Debian's kernel: " + log);
        }
        return GUEST;
    }

    /** A gzipped newc cpio archive: /init (a busybox shell script), /bin/busybox, and mount points. */
    static byte[] initramfs(byte[] busybox, String init) throws IOException {
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
        for (String d : new String[]{"bin", "proc", "sys", "dev"}) {
            e.add(d, 0040755, new byte[0]);
        }
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

    @Test
    @Timeout(600)
    void debiansKernelBootsToABusyboxShellOnTwoVcpusAndPowersOff() throws Exception {
        Path guest = guest();
        Path initrd = dir.resolve("initrd.gz");
        Files.write(initrd, initramfs(Files.readAllBytes(guest.resolve("busybox")), """
                #!/bin/busybox sh
                /bin/busybox --install -s /bin
                mount -t proc proc /proc
                echo "jkvm: Linux $(uname -r) is up with $(grep -c ^processor /proc/cpuinfo) processors"
                poweroff -f
                """));
        Cli.Result r = Cli.run("run", "--backend", "emulator", "--cpus", "2", "--mem", "256M", "--kernel",
                guest.resolve("vmlinuz").toString(), "--initrd", initrd.toString(), "--append", "console=ttyS0 panic=-1");
        assertTrue(r.out().matches("(?s).*jkvm: Linux \\d+\\.\\d+\\.\\d+-\\d+-amd64 is up with 2 processors.*"),
                () -> "the kernel's console:\n" + r.out() + r.err());
        assertTrue(r.out().contains("ACPI: PM: Preparing to enter system sleep state S5"), r.out());
        assertEquals(0, r.status(), () -> "poweroff through ACPI S5: " + r.err());
    }
}

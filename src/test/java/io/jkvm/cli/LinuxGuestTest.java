package io.jkvm.cli;

import io.jkvm.testing.Cli;
import io.jkvm.testing.LinuxGuest;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Debian's own kernel (its vmlinux, booted through PVH) through a reboot and a panic (its boot to a shell on two vCPUs and ACPI power-off is
 * LinuxDiskTest's, with the virtio devices). Two boots of Linux on the core: in the full run only (scripts/test --full); CI
 * checks a reset's new boot and a panic's status with a small kernel (KernelBootTest).
 */
@Tag("full")
class LinuxGuestTest {
    @TempDir
    Path dir;

    /**
     * `reboot -f` resets the machine and the same kernel boots again (a disk tells the second boot from the first);
     * there /init exits, the kernel panics, and with panic=-1 its reset ends `jkvm run` with status 2 and the panic's line.
     */
    @Test
    @Timeout(600)
    void debiansKernelRebootsAndThenItsPanicEndsTheRunWithStatus2() throws Exception {
        Path guest = LinuxGuest.guest();
        Path disk = dir.resolve("marker.img");
        Files.write(disk, new byte[1 << 20]);
        Path initrd = LinuxGuest.initrdWithVirtio(dir, """
                if [ "$(head -c 6 /dev/vda)" = booted ]; then
                  echo "jkvm: second boot"
                  exit 1
                fi
                printf booted | dd of=/dev/vda conv=fsync 2>/dev/null
                echo "jkvm: first boot"
                reboot -f
                """);
        Cli.Result r = Cli.run("run", "--backend", "emulator", "--mem", "256M", "--kernel", guest.resolve("vmlinux").toString(),
                "--initrd", initrd.toString(), "--append", "console=ttyS0 panic=-1 quiet", "--disk", disk.toString());
        String out = r.out();
        assertTrue(out.indexOf("jkvm: first boot") >= 0 && out.indexOf("jkvm: second boot") > out.indexOf("jkvm: first boot"), out);
        assertEquals(1, out.split("jkvm: first boot", -1).length - 1, () -> "one first boot:\n" + out);
        assertEquals(2, r.status(), () -> out + r.err());
        assertTrue(r.errorLine().startsWith("jkvm: the guest's kernel panicked (Kernel panic - not syncing: Attempted to kill init!"),
                r.err());
    }
}

package io.jkvm.cli;

import io.jkvm.testing.ChildJvm;
import io.jkvm.testing.LinuxGuest;
import io.jkvm.testing.Pty;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * `jkvm run` on a real pseudo-terminal (util-linux's script), Debian's kernel booted through PVH (its vmlinux, the
 * fastest to boot on the core) with the shell initramfs and the ext4 image scripts/linux-guest makes, as README's
 * command boots them: the terminal goes into raw mode, commands typed into the busybox shell of Debian's kernel (its
 * 8250 driver on COM1's interrupts) are answered, one of them from the disk, Ctrl-A X quits with status 0, and the
 * shell that ran jkvm finds its terminal as it was (canonical mode and echo back on).
 */
class LinuxConsoleTest {
    @TempDir
    Path dir;

    @Test
    @Timeout(600)
    void aCommandTypedIntoTheGuestShellIsAnsweredAndCtrlAXQuitsWithTheTerminalRestored() throws Exception {
        Path guest = LinuxGuest.guest();
        Path disk = Files.copy(guest.resolve("disk.ext4"), dir.resolve("disk.ext4"));
        String jkvm = Pty.shellCommand(ChildJvm.jkvm("run", "--backend", "emulator", "--mem", "256M", "--kernel",
                guest.resolve("vmlinux").toString(), "--initrd", guest.resolve("initrd.gz").toString(), "--disk", disk.toString(),
                "--append", "console=ttyS0 panic=-1 quiet"));
        // The shell in the pty runs jkvm, then reports its status and whether the terminal is canonical again
        try (Pty pty = new Pty(jkvm + "; echo \"jkvm-status=$?\"; " + Pty.TERMINAL_MODES)) {
            pty.await("jkvm: /dev/vda is on /mnt", 400);
            pty.await("leave the shell to power off", 60);
            pty.await("# ", 60); // busybox sh's prompt
            pty.type("cat /mnt/hello.txt; echo $((6 * 7))\r".getBytes(StandardCharsets.US_ASCII));
            pty.await("hello from an ext4 image scripts/linux-guest made", 60);
            pty.await("\n42", 60);
            pty.type(new byte[]{0x01, 'x'}); // Ctrl-A X
            pty.await("jkvm-status=0", 60);
            assertTrue(pty.waitFor(30), "the pty's shell ended");
            assertTrue(pty.restoredAfter("jkvm-status=0"), () -> "the terminal is back in canonical mode with echo:\n" + pty.text());
        }
    }
}

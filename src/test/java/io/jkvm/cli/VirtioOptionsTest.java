package io.jkvm.cli;

import io.jkvm.testing.Cli;
import io.jkvm.testing.HostCommand;
import io.jkvm.testing.TestGuests;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code --disk} and {@code --net} refuse what cannot be a disk or a NIC before the guest starts, in one line with
 * status 2 and the image left as it was: a missing file, a directory, an image too small for a sector, a malformed
 * spec, either without --kernel, an image another jkvm holds (the advisory lock: exclusive for a writable disk,
 * shared for ,ro), a TAP that does not exist, is held by another process or is a TUN, and a TAP's and ifreq's layout checked against the kernel's headers.
 */
class VirtioOptionsTest {
    @TempDir
    Path dir;

    private Cli.Result run(String... disk) {
        String[] args = new String[]{"run", "--backend", "emulator", "--mem", "16M", "--kernel",
                TestGuests.path("multiboot_timers.elf").toString(), "--append", "ticks=1"};
        String[] all = java.util.Arrays.copyOf(args, args.length + disk.length);
        System.arraycopy(disk, 0, all, args.length, disk.length);
        return Cli.run(all);
    }

    private static void assertOneLine(Cli.Result r, String... parts) {
        assertEquals(2, r.status(), r::err);
        assertEquals(1, r.err().strip().lines().count(), r::err);
        for (String part : parts) {
            assertTrue(r.err().contains(part), () -> "'" + part + "' in: " + r.err());
        }
        assertFalse(r.err().contains("Exception"), r::err);
    }

    @Test
    void whatCannotBeADiskIsOneLineBeforeTheGuestRuns() throws Exception {
        Path small = dir.resolve("small.img");
        Files.write(small, new byte[100]);
        assertOneLine(run("--disk", dir.resolve("missing.img").toString()), "missing.img", "no such file");
        assertOneLine(run("--disk", dir.toString()), "not a regular file");
        assertOneLine(run("--disk", small.toString()), "smaller than one 512-byte sector");
        assertOneLine(run("--disk", small + ",rw"), "give FILE or FILE,ro");
        assertOneLine(Cli.run("run", "--disk", small.toString()), "--disk goes with --kernel");
        assertArrayEquals(new byte[100], Files.readAllBytes(small));
    }

    @Test
    void aTapAnotherProcessHoldsOrATunIsOneLine() throws Exception {
        HostCommand.run("ip", "tuntap", "add", "jkvm-busy0", "mode", "tap");
        try {
            HostCommand.run("ip", "tuntap", "add", "jkvm-tun0", "mode", "tun");
            try (io.jkvm.linux.Tap held = io.jkvm.linux.Tap.open("jkvm-busy0")) { // as a running jkvm or QEMU holds it
                assertOneLine(run("--net", "tap=jkvm-busy0"), "--net tap=jkvm-busy0: another process has it attached");
            }
            assertOneLine(run("--net", "tap=jkvm-tun0"), "--net tap=jkvm-tun0: it is not a TAP device");
        } finally {
            HostCommand.run("ip", "link", "del", "jkvm-busy0");
            new ProcessBuilder("ip", "link", "del", "jkvm-tun0").start().waitFor();
        }
    }

    @Test
    void aTapThatIsNotThereOrAMalformedNetIsOneLine() {
        assertOneLine(run("--net", "tap=jkvm-none0"), "no network interface jkvm-none0", "ip tuntap add jkvm-none0 mode tap");
        assertOneLine(run("--net", "jkvm-none0"), "give tap=NAME");
        assertOneLine(run("--net", "tap=x,mac=01:00:00:00:00:01"), "a unicast address");
        assertOneLine(run("--net", "tap=a-name-longer-than-15"), "give tap=NAME");
        assertOneLine(Cli.run("run", "--net", "tap=x"), "--net goes with --kernel");
    }

    @Test
    void anImageAnotherJkvmHoldsIsRefusedAndAReadOnlyOneIsShared() throws Exception {
        Path disk = dir.resolve("disk.img");
        Files.write(disk, new byte[4096]);
        // The holder: a jkvm process of its own (the lock is a process's), its guest waiting for input that never comes
        Process holder = new ProcessBuilder(io.jkvm.testing.ChildJvm.jkvm("run", "--backend", "emulator", "--mem", "16M",
                "--kernel", TestGuests.path("multiboot_timers.elf").toString(), "--append", "ticks=100000", "--disk", disk + ",ro"))
                .redirectErrorStream(true).start();
        try {
            CompletableFuture<String> firstLine = CompletableFuture.supplyAsync(() -> {
                try {
                    return new java.io.BufferedReader(new java.io.InputStreamReader(holder.getInputStream())).readLine();
                } catch (java.io.IOException e) {
                    return e.getMessage();
                }
            });
            assertEquals("timers", firstLine.get(60, TimeUnit.SECONDS), "the holder's guest runs (and holds the image)");
            assertOneLine(run("--disk", disk.toString()), disk.toString(), "in use by another jkvm", "or ,ro on both");
            Cli.Result shared = run("--disk", disk + ",ro");
            // The guest ran to its end: debug-exit with (1 processor << 1) | 1
            assertEquals(3, shared.status(), () -> "a read-only disk shares the image with another read-only one: " + shared.err());
        } finally {
            holder.destroyForcibly().waitFor();
        }
        assertArrayEquals(new byte[4096], Files.readAllBytes(disk));
    }
}

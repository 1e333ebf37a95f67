package io.jkvm.machine;

import io.jkvm.testing.LinuxGuest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.stream.IntStream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Issue #15 with a real OS: Debian's kernel on two vCPUs, its /init counting once a second, is snapshotted mid-count;
 * the restored machine counts on from where it was (its APIC timers, TSC-deadline included, the I/O APIC's routing and
 * the serial port carried by their records), without booting again, to the same last count and ACPI power-off.
 */
class LinuxSnapshotTest {
    @TempDir
    Path dir;

    private static Console console(ByteArrayOutputStream out) {
        return new Console(out, new ByteArrayInputStream(new byte[0]), new PrintStream(new ByteArrayOutputStream(), true,
                StandardCharsets.UTF_8));
    }

    private static List<Integer> counts(String output) {
        return output.lines().filter(l -> l.startsWith("count ")).map(l -> Integer.parseInt(l.substring(6).strip())).toList();
    }

    @Test
    @Timeout(600)
    void aCountingLinuxGuestRestoredFromASnapshotCountsOnWithoutBootingAgain() throws Exception {
        Path guest = LinuxGuest.guest();
        Path initrd = dir.resolve("initrd.gz"), snapshot = dir.resolve("linux.snap");
        Files.write(initrd, LinuxGuest.initramfs(Files.readAllBytes(guest.resolve("busybox")), """
                #!/bin/busybox sh
                /bin/busybox --install -s /bin
                i=0
                while [ $i -lt 10 ]; do echo "count $i"; i=$((i+1)); sleep 1; done
                poweroff -f
                """));
        MachineConfig config = new MachineConfig(Optional.empty(), 256L << 20, 2, "host", Backend.EMULATOR,
                MachineConfig.defaults().loadAddress(), MachineConfig.defaults().kvmPath(), false,
                Optional.of(new KernelConfig(guest.resolve("vmlinuz"), "console=ttyS0 panic=-1 quiet", Optional.of(initrd), false)));
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        String before;
        try (Machine m = Machine.create(config, console(out))) {
            CompletableFuture<Outcome> run = CompletableFuture.supplyAsync(m::run, r -> Thread.ofPlatform().start(r));
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(400);
            while (!out.toString(StandardCharsets.UTF_8).contains("count 2")) {
                assertTrue(System.nanoTime() < deadline && !run.isDone(), () -> "never counted to 2:\n" + out);
                Thread.sleep(20);
            }
            assertTrue(m.pause());
            try {
                m.snapshot(snapshot);
                before = out.toString(StandardCharsets.UTF_8);
            } finally {
                m.resume();
            }
            assertEquals(new Outcome.Exited(0, "the guest powered off (ACPI S5)"), run.join(), out.toString(StandardCharsets.UTF_8));
        }
        ByteArrayOutputStream after = new ByteArrayOutputStream();
        try (Machine restored = Machine.restore(snapshot, Backend.AUTO, "/dev/kvm", false, console(after))) {
            assertEquals(new Outcome.Exited(0, "the guest powered off (ACPI S5)"), restored.run(), after.toString(StandardCharsets.UTF_8));
        }
        List<Integer> first = counts(before), then = counts(after.toString(StandardCharsets.UTF_8));
        assertEquals(IntStream.rangeClosed(0, 9).boxed().toList(),
                java.util.stream.Stream.concat(first.stream(), then.stream()).toList(),
                "the restored guest counts on from the snapshot, one count a second, to the last:\n" + before + "--\n" + after);
        assertTrue(!then.isEmpty() && !after.toString(StandardCharsets.UTF_8).contains("Run /init"), "no second boot");
    }
}

package io.jkvm.machine;

import io.jkvm.api.ControlTarget;
import io.jkvm.migration.MigrationException;
import io.jkvm.migration.MigrationTarget;
import io.jkvm.testing.HostKvm;
import io.jkvm.testing.LinuxGuest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.stream.IntStream;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Issue #15's Linux check with a disk: Debian's kernel (its vmlinux, booted through PVH) on two vCPUs counts once a second, writing each count to its own
 * sector of a virtio-blk disk (fsync) and reading the previous count back from the disk. Snapshotted and restored, and
 * live-migrated between two machines over loopback, it counts on from where it was, and the image ends holding every
 * count: the disk's queue, its in-flight requests and the writes the device made to RAM all came along.
 */
class LinuxDiskStateTest {
    private static final Outcome POWERED_OFF = new Outcome.Exited(0, "the guest powered off (ACPI S5)");

    @TempDir
    Path dir;

    private static Console console(ByteArrayOutputStream out) {
        return new Console(out, new ByteArrayInputStream(new byte[0]), new PrintStream(new ByteArrayOutputStream(), true,
                StandardCharsets.UTF_8));
    }

    private static List<Integer> counts(String output) {
        return output.lines().filter(l -> l.startsWith("count ")).map(l -> Integer.parseInt(l.substring(6).strip())).toList();
    }

    /** The machine: the counting guest with {@code disk} as /dev/vda. */
    private MachineConfig config(Path disk) throws Exception {
        Path guest = LinuxGuest.guest();
        Path initrd = LinuxGuest.initrdWithVirtio(dir, """
                i=0
                while [ $i -lt 10 ]; do
                  printf "count $i" | dd of=/dev/vda bs=512 seek=$i conv=sync,fsync 2>/dev/null || echo "write $i failed"
                  if [ $i -gt 0 ]; then
                    was=$(dd if=/dev/vda bs=512 skip=$((i-1)) count=1 iflag=direct 2>/dev/null | tr -d '\\0')
                    [ "$was" = "count $((i-1))" ] || echo "the disk lost count $((i-1)): '$was'"
                  fi
                  echo "count $i"; i=$((i+1)); sleep 1
                done
                poweroff -f
                """);
        return new MachineConfig(Optional.empty(), 256L << 20, 2, "host", Backend.EMULATOR,
                MachineConfig.defaults().loadAddress(), MachineConfig.defaults().kvmPath(), false,
                Optional.of(new KernelConfig(guest.resolve("vmlinux"), "console=ttyS0 panic=-1 quiet", Optional.of(initrd), false,
                        List.of(new VirtioConfig.Disk(disk, false)))));
    }

    private Path disk() throws Exception {
        Path disk = dir.resolve("disk.img");
        Files.write(disk, new byte[4 << 20]);
        return disk;
    }

    private static void awaitCount(ByteArrayOutputStream out, CompletableFuture<Outcome> run, int n) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(400);
        while (!out.toString(StandardCharsets.UTF_8).contains("count " + n)) {
            assertTrue(System.nanoTime() < deadline && !run.isDone(), () -> "never counted to " + n + ":\n" + out);
            Thread.sleep(20);
        }
    }

    private static CompletableFuture<Outcome> start(Machine m) {
        return CompletableFuture.supplyAsync(m::run, r -> Thread.ofPlatform().start(r));
    }

    /** Every count in its sector, and the guest's own checks quiet, across {@code before} and {@code after}. */
    private static void assertCountedOn(Path disk, String before, String after) throws Exception {
        assertEquals(IntStream.range(0, 10).boxed().toList(), Stream.concat(counts(before).stream(), counts(after).stream()).toList(),
                "the guest counts on from where it was:\n" + before + "--\n" + after);
        assertFalse((before + after).contains("lost count") || (before + after).contains("failed"), before + "--\n" + after);
        assertFalse(after.contains("Run /init"), "no second boot:\n" + after);
        byte[] image = Files.readAllBytes(disk);
        for (int i = 0; i < 10; i++) {
            byte[] sector = Arrays.copyOfRange(image, 512 * i, 512 * i + 512);
            byte[] expected = Arrays.copyOf(("count " + i).getBytes(StandardCharsets.US_ASCII), 512);
            assertTrue(Arrays.equals(expected, sector), "sector " + i + " of the image holds 'count " + i + "'");
        }
    }

    @Test
    @Timeout(600)
    void aLinuxGuestWritingItsDiskIsSnapshottedAndRestoredAndCountsOnOnTheSameDisk() throws Exception {
        Path disk = disk(), snapshot = dir.resolve("linux.snap");
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        String before;
        try (Machine m = Machine.create(config(disk), console(out))) {
            CompletableFuture<Outcome> run = start(m);
            awaitCount(out, run, 2);
            assertTrue(m.pause());
            m.snapshot(snapshot);
            before = out.toString(StandardCharsets.UTF_8);
            m.stop(); // the snapshot's machine goes on from here, on the same image: this one must not write it again
            run.join();
        }
        ByteArrayOutputStream after = new ByteArrayOutputStream();
        try (Machine restored = Machine.restore(snapshot, HostKvm.autoOrCore(), "/dev/kvm", false, console(after))) {
            assertEquals(POWERED_OFF, restored.run(), after.toString(StandardCharsets.UTF_8));
        }
        assertCountedOn(disk, before, after.toString(StandardCharsets.UTF_8));
    }

    @Test
    @Timeout(600)
    void aLinuxGuestWritingItsDiskIsLiveMigratedOverLoopbackAndCountsOnThere() throws Exception {
        Path disk = disk();
        byte[] key = new byte[32];
        new java.security.SecureRandom().nextBytes(key);
        int port;
        try (ServerSocket s = new ServerSocket(0)) {
            port = s.getLocalPort();
        }
        ByteArrayOutputStream out = new ByteArrayOutputStream(), there = new ByteArrayOutputStream();
        GuestMemory[] memory = new GuestMemory[1];
        CompletableFuture<Outcome> destination = CompletableFuture.supplyAsync(() -> {
            MigrationTarget.Incoming in = MigrationTarget.receive("127.0.0.1", port, key, shape -> {
                memory[0] = GuestMemory.allocate(shape.memorySize());
                return memory[0];
            }, Machine.DEVICE_STATES, line -> { });
            try (Machine arrived = Machine.arrived(in.state(), memory[0], HostKvm.autoOrCore(), null, "/dev/kvm", false, console(there),
                    in.from())) {
                in.resumed();
                return arrived.run();
            }
        }, r -> Thread.ofPlatform().start(r));
        String before;
        try (Machine m = Machine.create(config(disk), console(out))) {
            m.migrationKey(key);
            CompletableFuture<Outcome> run = start(m);
            awaitCount(out, run, 2);
            ControlTarget.MigrationResult result = migrateWhenListening(m, port);
            assertTrue(result.rounds() >= 1 && result.downtimeMillis() < result.totalMillis(), result.toString());
            assertEquals(new Outcome.Exited(0, "migrated to 127.0.0.1:" + port), run.join());
            before = out.toString(StandardCharsets.UTF_8);
        }
        Outcome ended;
        try {
            ended = destination.get(400, TimeUnit.SECONDS);
        } catch (java.util.concurrent.TimeoutException e) {
            throw new AssertionError("the destination did not end in 400 s; its console:\n" + there.toString(StandardCharsets.UTF_8)
                    + "--\nthe source's:\n" + before, e);
        }
        assertEquals(POWERED_OFF, ended, there.toString(StandardCharsets.UTF_8));
        assertCountedOn(disk, before, there.toString(StandardCharsets.UTF_8));
    }

    /** Migrates {@code m} to 127.0.0.1:{@code port}, trying again for 10 s while the destination does not listen yet. */
    static ControlTarget.MigrationResult migrateWhenListening(Machine m, int port) {
        long deadline = System.currentTimeMillis() + 10_000;
        while (true) { // the destination may not listen yet
            try {
                return m.migrate("tcp:127.0.0.1:" + port, 300);
            } catch (MachineException | MigrationException e) {
                if (!e.getMessage().contains("cannot reach") || System.currentTimeMillis() > deadline) {
                    throw e;
                }
                Thread.onSpinWait();
            }
        }
    }
}

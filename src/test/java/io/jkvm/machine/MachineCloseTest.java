package io.jkvm.machine;

import io.jkvm.migration.MigrationException;
import io.jkvm.migration.MigrationTarget;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HexFormat;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * A machine closed while another thread runs it (a caller's failure path) ends the run first: its vCPU threads are
 * gone before its guest memory is, so none stores to unmapped memory (which would end the JVM with SIGSEGV). The
 * same for a live migration still reading guest RAM when the guest ends.
 */
class MachineCloseTest {
    @TempDir
    Path dir;

    /** A guest that never ends and stores at every round: 1: inc qword [rip + 0x1ff9] (load + 0x2000); jmp 1b. */
    private Machine storeLoop() throws Exception {
        Path image = Files.write(dir.resolve("store-loop.bin"), HexFormat.of().parseHex("48ff05f91f0000ebf7"));
        MachineConfig config = new MachineConfig(Optional.of(image), 16L << 20, 1, "core", Backend.EMULATOR,
                GuestImage.DEFAULT_LOAD_ADDRESS, "/dev/kvm", false);
        Console console = new Console(new ByteArrayOutputStream(), new ByteArrayInputStream(new byte[0]),
                new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8));
        return Machine.create(config, console);
    }

    @Test
    @Timeout(60)
    void closingARunningMachineEndsItsRunBeforeItsMemoryGoes() throws Exception {
        Machine m = storeLoop();
        CompletableFuture<Outcome> run = CompletableFuture.supplyAsync(m::run, r -> Thread.ofPlatform().start(r));
        long counter = GuestImage.DEFAULT_LOAD_ADDRESS + 0x2000;
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (m.memory().readLong(counter) < 100_000) {
            assertTrue(System.nanoTime() < deadline, "the guest did not store 100000 times in 30 s");
            Thread.sleep(1);
        }
        m.close();
        assertEquals(new Outcome.Exited(0, "the machine was closed while it ran"), run.get(10, TimeUnit.SECONDS));
        MachineException again = assertThrows(MachineException.class, m::run);
        assertTrue(again.getMessage().contains("closed"), again.getMessage());
    }

    /**
     * The guest ends while its live migration sends RAM to a destination that has stopped reading: the run's end ends
     * the migration (its connection closed), which says why, and closing the machine waits for it before the RAM goes.
     * Without that, the source read freed RAM once the destination read on, and the JVM ended with SIGSEGV.
     */
    @Test
    @Timeout(60)
    void aMigrationUnderWayWhenTheGuestEndsStopsBeforeTheMemoryGoes() throws Exception {
        byte[] key = new byte[32];
        java.util.Arrays.fill(key, (byte) 9);
        CountDownLatch stalled = new CountDownLatch(1), readOn = new CountDownLatch(1);
        MigrationTarget.Memory slow = new MigrationTarget.Memory() {
            @Override
            public long size() {
                return 16L << 20;
            }

            @Override
            public void writePage(long offset, byte[] page, int at) {
                stalled.countDown();
                try {
                    readOn.await(); // a destination that stops reading: the source's sends fill the connection and wait
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
        };
        int port;
        try (java.net.ServerSocket s = new java.net.ServerSocket(0)) {
            port = s.getLocalPort();
        }
        CompletableFuture<Void> destination = CompletableFuture.runAsync(() -> {
            try (MigrationTarget.Incoming ignored = MigrationTarget.receive("127.0.0.1", port, key, shape -> slow,
                    Machine.DEVICE_STATES, line -> { })) {
                fail("the source never sent its state");
            } catch (MigrationException expected) {
                // the source went away mid-stream
            }
        }, r -> Thread.ofPlatform().daemon().start(r));
        Machine m = storeLoop();
        byte[] filler = new byte[4096];
        java.util.Arrays.fill(filler, (byte) 0x5A);
        for (long page = 4L << 20; page < 12L << 20; page += 4096) {
            m.memory().write(page, filler, 0, 4096); // 8 MiB that round 0 must send, more than the connection holds
        }
        m.migrationKey(key);
        CompletableFuture<Outcome> run = CompletableFuture.supplyAsync(m::run, r -> Thread.ofPlatform().start(r));
        CompletableFuture<Object> migration = CompletableFuture.supplyAsync(() -> {
            try {
                return LinuxDiskStateTest.migrateWhenListening(m, port);
            } catch (MachineException e) {
                return e;
            }
        }, r -> Thread.ofPlatform().start(r));
        assertTrue(stalled.await(20, TimeUnit.SECONDS), "the destination got no page");
        m.stop();
        assertEquals(new Outcome.Exited(0, "stopped through the control socket"), run.get(10, TimeUnit.SECONDS));
        // the migration answers as the run ends, before the machine closes (jkvm run closes its control socket first)
        Object result = migration.get(10, TimeUnit.SECONDS);
        assertTrue(result instanceof MachineException e && e.getMessage().equals("the migration to 127.0.0.1:" + port
                + " failed: the guest ended during the migration"), String.valueOf(result));
        m.close();
        readOn.countDown(); // the destination reads on: a source still sending would read the freed RAM now
        destination.get(70, TimeUnit.SECONDS);
    }
}

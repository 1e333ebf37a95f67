package io.jkvm.cli;

import io.jkvm.cli.ControlSocketRunTest.Jkvm;
import io.jkvm.testing.Cli;
import io.jkvm.testing.HostKvm;
import io.jkvm.testing.KvmDeviceCondition;
import io.jkvm.testing.TestGuests;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;

import static org.junit.jupiter.api.Assumptions.assumeTrue;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Live migration between two jkvm processes on loopback: a guest mid-computation moves from one to the other through
 * `jkvm ctl … migrate`, its output going on in the destination exactly where the source's stopped, with the same
 * final status as a run that did not move; a source with the wrong key is refused and runs on.
 */
class LiveMigrationTest {
    @TempDir
    Path dir;

    private Path key(String name, byte fill) throws Exception {
        Path key = dir.resolve(name);
        byte[] bytes = new byte[32];
        java.util.Arrays.fill(bytes, fill);
        Files.write(key, bytes);
        Files.setPosixFilePermissions(key, PosixFilePermissions.fromString("rw-------"));
        return key;
    }

    /** ctl migrate, again while the destination's JVM is still starting (nothing listens yet), for up to 60 s. */
    static Cli.Result migrateOnceListening(Path socket, String target) throws InterruptedException {
        long deadline = System.nanoTime() + java.util.concurrent.TimeUnit.SECONDS.toNanos(60);
        while (true) {
            Cli.Result r = Cli.run("ctl", socket.toString(), "migrate", target);
            if (r.status() == 0 || !r.err().contains("cannot reach the destination") || System.nanoTime() > deadline) {
                return r;
            }
            Thread.sleep(200);
        }
    }

    /**
     * A destination {@code run --incoming tcp:127.0.0.1:port …}, returned once it listens (its LISTEN socket is in
     * /proc/net/tcp, or tcp6 where the JVM's sockets are IPv6 ones), so the source's guest does not run on while the destination's JVM starts.
     */
    static Jkvm listeningDestination(int port, String... args) throws Exception {
        List<String> command = new java.util.ArrayList<>(List.of("run", "--incoming", "tcp:127.0.0.1:" + port,
                "--backend", HostKvm.autoOrCoreOption()));
        command.addAll(List.of(args));
        Jkvm destination = new Jkvm(command.toArray(String[]::new));
        String local = String.format(":%04X", port);
        long deadline = System.nanoTime() + java.util.concurrent.TimeUnit.SECONDS.toNanos(60);
        try {
            while (java.util.stream.Stream.of("/proc/net/tcp", "/proc/net/tcp6").flatMap(LiveMigrationTest::lines)
                    .map(l -> l.trim().split("\\s+")).noneMatch(f -> f[1].endsWith(local) && f[3].equals("0A"))) {
                assertTrue(destination.process.isAlive(), "the destination ended before it listened:\n" + destination.output());
                assertTrue(System.nanoTime() < deadline, "the destination did not listen on port " + port + " within 60 s");
                Thread.sleep(50);
            }
        } catch (Throwable t) {
            destination.close();
            throw t;
        }
        return destination;
    }

    private static java.util.stream.Stream<String> lines(String file) {
        try {
            return Files.readAllLines(Path.of(file)).stream();
        } catch (java.io.IOException e) {
            return java.util.stream.Stream.empty(); // a kernel without IPv6 has no tcp6
        }
    }

    private static int freePort() throws Exception {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"emulator", "kvm", "paused first", "to a wider model"})
    @Timeout(240)
    void aGuestMovesMidRunAndEndsAsARunThatDidNotMove(String how) throws Exception {
        boolean pausedFirst = how.equals("paused first");
        boolean wider = how.equals("to a wider model"); // the source runs host,-F and the destination offers host
        String sourceBackend = pausedFirst || wider ? "emulator" : how;
        String sourceCpu = wider ? "host,-" + io.jkvm.testing.HostModel.removableFeature() : "host";
        String guest = TestGuests.path("handoff_checksum.elf").toString();
        // the KVM source, and the wider destination model (`host`, which only KVM runs whole), need the device
        assumeTrue(!how.equals("kvm") && !wider || KvmDeviceCondition.hostHasKvm(), KvmDeviceCondition.NO_DEVICE);
        Cli.Result baseline = Cli.runWithInput("g", "run", "--image", guest, "--backend", HostKvm.autoOrCoreOption());
        Path key = key("key", (byte) 7), socket = dir.resolve("src.sock");
        int port = freePort();
        List<String> destinationArgs = new java.util.ArrayList<>(List.of("--migration-key", key.toString()));
        if (wider) {
            destinationArgs.addAll(List.of("--cpu", "host"));
        }
        try (Jkvm destination = listeningDestination(port, destinationArgs.toArray(String[]::new));
             Jkvm source = new Jkvm("run", "--api-socket", socket.toString(), "--migration-key", key.toString(), "--image", guest,
                     "--backend", sourceBackend, "--cpu", sourceCpu)) {
            source.awaitOutput("round 2: ");
            if (pausedFirst) {
                assertEquals(0, Cli.run("ctl", socket.toString(), "pause").status(), "a VM paused before it is migrated");
            }
            Cli.Result migrated = LiveMigrationTest.migrateOnceListening(socket, "tcp:127.0.0.1:" + port);
            assertEquals(0, migrated.status(), migrated.err());
            assertTrue(migrated.out().contains("downtimeMillis:"), migrated.out());
            assertEquals(0, source.waitFor(), "the source ends once the guest runs on the destination");
            destination.send("g"); // the guest reads it when it gets there, as the baseline did
            assertEquals(baseline.status(), destination.waitFor());
            assertEquals(baseline.out(), source.output() + destination.output(),
                    "the destination goes on exactly where the source stopped");
        }
    }

    /**
     * A kernel with two processors (src/test/guests/multiboot_timers.S) moves mid-run with its PC platform: its APIC
     * and PIT timers tick on at the destination, its I/O APIC routes, its second processor starts there, and the
     * output and status are those of a run that did not move. With 4G the memory has a PC's hole below 4 GiB, which
     * the destination lays out again from the state (its APICs in the window, not in RAM); its first round scans 5 GiB
     * of mapping, so the guest ticks eight times as long, to be running still when the migration ends. (Where the
     * kernel maps no shared zero page, as kvm_pvm's hosts boot with pvm_no_zero_page=1, that scan fills 5 GiB: about
     * 30 s there, when 150 ticks took 20 s.)
     */
    @ParameterizedTest(name = "--mem {0}, {1}")
    @CsvSource({"16M, ticks=50", "4G, ticks=400"})
    @Timeout(300)
    void aKernelMovesWithItsPlatformAndEndsAsARunThatDidNotMove(String mem, String ticks) throws Exception {
        String[] kernel = {"--backend", "emulator", "--mem", mem, "--cpus", "2", "--kernel",
                TestGuests.path("multiboot_timers.elf").toString(), "--append", ticks};
        Cli.Result baseline = Cli.run(java.util.stream.Stream.concat(java.util.stream.Stream.of("run"),
                java.util.Arrays.stream(kernel)).toArray(String[]::new));
        assertEquals(5, baseline.status(), baseline.err());
        Path key = key("key", (byte) 3), socket = dir.resolve("kernel.sock");
        int port = freePort();
        List<String> sourceArgs = new java.util.ArrayList<>(List.of("run", "--api-socket", socket.toString(), "--migration-key",
                key.toString()));
        sourceArgs.addAll(List.of(kernel));
        try (Jkvm destination = listeningDestination(port, "--migration-key", key.toString());
             Jkvm source = new Jkvm(sourceArgs.toArray(String[]::new))) {
            source.awaitOutput("tick 2\n");
            Cli.Result migrated = migrateOnceListening(socket, "tcp:127.0.0.1:" + port);
            assertEquals(0, migrated.status(), migrated.err());
            assertEquals(0, source.waitFor(), "the source ends once the guest runs on the destination");
            assertEquals(5, destination.waitFor(), "both processors counted in on the destination");
            assertEquals(baseline.out(), source.output() + destination.output(),
                    "the destination goes on exactly where the source stopped");
        }
    }

    /**
     * A destination offering a CPU model that lacks a feature the guest's had (run --incoming --cpu host,-F) refuses
     * the state in one line, which the source reports; the source runs on and the guest ends there.
     */
    @org.junit.jupiter.api.Test
    @Timeout(180)
    void aDestinationWhoseModelLacksAFeatureRefusesAndTheSourceRunsOn() throws Exception {
        String narrow = "host,-" + io.jkvm.testing.HostModel.removableCoreFeature(); // the source runs on the core
        Path key = key("key", (byte) 5), socket = dir.resolve("narrow.sock");
        int port = freePort();
        String guest = TestGuests.path("handoff_checksum.elf").toString();
        try (Jkvm destination = listeningDestination(port, "--migration-key", key.toString(),
                "--cpu", narrow);
             Jkvm source = new Jkvm("run", "--api-socket", socket.toString(), "--migration-key", key.toString(),
                     "--image", guest, "--backend", "emulator")) {
            source.awaitOutput("round 1: ");
            Cli.Result refused = migrateOnceListening(socket, "tcp:127.0.0.1:" + port);
            assertEquals(2, refused.status(), refused.out());
            assertTrue(refused.errorLine().contains("cannot restore with --cpu " + narrow + ": the model lacks ")
                    && refused.errorLine().endsWith("the VM runs on here"), refused.errorLine());
            assertEquals(2, destination.waitFor(), "the destination ends with its one line");
            source.send("g");
            assertEquals(1, source.waitFor() & 1, "the guest ends on the source through debug-exit (an odd status)");
            assertTrue(source.output().contains("checksum "), source.output());
        }
    }

    /** A source whose stderr is a terminal draws the migration's progress there as one line redrawn in place. */
    @org.junit.jupiter.api.Test
    @Timeout(240)
    void aSourceOnATerminalDrawsTheProgressLineInPlace() throws Exception {
        Path key = key("key", (byte) 3), socket = dir.resolve("tty.sock");
        int port = freePort();
        String guest = TestGuests.path("handoff_checksum.elf").toString();
        try (Jkvm destination = listeningDestination(port, "--migration-key", key.toString());
             Jkvm source = Jkvm.onTerminal("run", "--api-socket", socket.toString(), "--migration-key", key.toString(),
                     "--image", guest, "--backend", "emulator")) {
            source.awaitOutput("round 2: ");
            Cli.Result migrated = migrateOnceListening(socket, "tcp:127.0.0.1:" + port);
            assertEquals(0, migrated.status(), migrated.err());
            assertEquals(0, source.waitFor());
            String shown = source.output();
            assertTrue(shown.contains("\r\033[Kjkvm: migration round 0: sending guest RAM"), shown);
            assertTrue(shown.contains("\r\033[Kjkvm: migration stopping the vCPUs: "), shown);
            destination.send("g");
            assertTrue((destination.waitFor() & 1) == 1, "the guest ends on the destination through debug-exit");
        }
    }

    @org.junit.jupiter.api.Test
    @Timeout(120)
    void aSourceWithAnotherKeyIsRefusedAndRunsOn() throws Exception {
        Path ours = key("ours", (byte) 1), theirs = key("theirs", (byte) 2), socket = dir.resolve("src.sock");
        int port = freePort();
        String guest = TestGuests.path("handoff_checksum.elf").toString();
        try (Jkvm destination = listeningDestination(port, "--migration-key", ours.toString());
             Jkvm source = new Jkvm("run", "--api-socket", socket.toString(), "--migration-key", theirs.toString(), "--image", guest,
                     "--backend", "emulator")) {
            source.awaitOutput("round 1: ");
            Cli.Result refused = migrateOnceListening(socket, "tcp:127.0.0.1:" + port);
            assertEquals(2, refused.status(), refused.out());
            assertTrue(refused.errorLine().contains("the peer does not hold the migration key")
                    && refused.errorLine().endsWith("the VM runs on here"), refused.errorLine());
            assertTrue(Cli.run("ctl", socket.toString(), "info").out().contains("running"), "the source runs on");
            source.send("g");
            assertEquals(0, source.waitFor() & 1 ^ 1, "it ends through debug-exit (an odd status)");
            assertTrue(source.output().contains("checksum "), source.output());
            assertTrue(destination.process.isAlive(), "the destination still waits for a source with the key");
        }
    }
}

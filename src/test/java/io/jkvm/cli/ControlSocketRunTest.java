package io.jkvm.cli;

import io.jkvm.testing.Cli;
import io.jkvm.testing.RequiresKvm;
import io.jkvm.testing.TestGuests;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * `jkvm run --api-socket` end to end, as separate processes: a running guest is inspected, paused, resumed and
 * snapshotted through `jkvm ctl`; the snapshot restores in another process and ends as the original did; `stop`
 * ends a run.
 */
@RequiresKvm
class ControlSocketRunTest {
    @TempDir
    Path dir;

    /** A `jkvm` process whose stdout is collected as it comes and whose stdin the test holds. */
    static final class Jkvm implements AutoCloseable {
        final Process process;
        final ByteArrayOutputStream out = new ByteArrayOutputStream();
        final Thread reader;

        Jkvm(String... args) throws IOException {
            this(List.of(), args);
        }

        /** The same, started through {@code prefix} (e.g. ip netns exec NAME). */
        Jkvm(List<String> prefix, String... args) throws IOException {
            this(withPrefix(prefix, args), true);
        }

        /**
         * The same on a terminal of its own: script(1) gives it a pseudo-terminal as stdin, stdout and stderr, and
         * {@link #output()} is what that terminal showed (stderr's lines too, with the terminal's CR LF line ends).
         */
        static Jkvm onTerminal(String... args) throws IOException {
            return new Jkvm(List.of("script", "-qfec", io.jkvm.testing.Pty.shellCommand(withPrefix(List.of(), args)), "/dev/null"), true);
        }

        private static List<String> withPrefix(List<String> prefix, String... args) {
            List<String> command = new ArrayList<>(prefix);
            command.addAll(io.jkvm.testing.ChildJvm.jkvm(args));
            return command;
        }

        private Jkvm(List<String> command, boolean whole) throws IOException {
            process = new ProcessBuilder(command).redirectError(ProcessBuilder.Redirect.INHERIT).start();
            InputStream in = process.getInputStream();
            reader = Thread.ofPlatform().daemon().start(() -> {
                try {
                    in.transferTo(new OutputStream() {
                        @Override
                        public void write(int b) {
                            synchronized (out) {
                                out.write(b);
                            }
                        }

                        @Override
                        public void write(byte[] b, int off, int len) {
                            synchronized (out) {
                                out.write(b, off, len);
                            }
                        }
                    });
                } catch (IOException e) {
                    // the process ended
                }
            });
        }

        String output() {
            synchronized (out) {
                return out.toString(StandardCharsets.UTF_8);
            }
        }

        void awaitOutput(String text) throws InterruptedException {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            while (!output().contains(text)) {
                assertTrue(process.isAlive() || output().contains(text), "jkvm ended early:\n" + output());
                assertTrue(System.nanoTime() < deadline, "never printed '" + text + "':\n" + output());
                Thread.sleep(10);
            }
        }

        void send(String input) throws IOException {
            process.getOutputStream().write(input.getBytes(StandardCharsets.UTF_8));
            process.getOutputStream().close();
        }

        int waitFor() throws InterruptedException {
            assertTrue(process.waitFor(60, TimeUnit.SECONDS), "jkvm did not end:\n" + output());
            reader.join(5000);
            return process.exitValue();
        }

        @Override
        public void close() {
            process.destroyForcibly();
        }
    }

    private static Cli.Result ctl(Path socket, String... command) {
        List<String> args = new ArrayList<>(List.of("ctl", socket.toString()));
        args.addAll(List.of(command));
        return Cli.run(args.toArray(String[]::new));
    }

    @Test
    @Timeout(180)
    void aRunningGuestIsPausedSnapshottedAndRestoredElsewhereThroughTheSocket() throws Exception {
        Path socket = dir.resolve("vm.sock"), snapshot = dir.resolve("vm.snap");
        String guest = TestGuests.path("handoff_checksum.elf").toString();
        String original;
        int originalStatus;
        try (Jkvm vm = new Jkvm("run", "--api-socket", socket.toString(), "--image", guest, "--cpu", "core")) {
            vm.awaitOutput("round 3: ");
            Cli.Result info = ctl(socket, "info");
            assertEquals(0, info.status(), info.err());
            assertTrue(info.out().contains("running"), info.out());
            assertEquals(0, ctl(socket, "pause").status());
            assertTrue(ctl(socket, "info").out().contains("paused"));
            Cli.Result snap = ctl(socket, "snapshot", snapshot.toString());
            assertEquals(0, snap.status(), snap.err());
            assertTrue(snap.out().contains("pausedMillis: 0\n"), "a VM paused before stands no longer still: " + snap.out());
            assertTrue(ctl(socket, "info").out().contains("paused"), "a paused VM stays paused after a snapshot");
            assertEquals(0, ctl(socket, "resume").status());
            vm.awaitOutput("waiting for input");
            vm.send("g");
            originalStatus = vm.waitFor();
            original = vm.output();
        }
        assertTrue(Files.exists(snapshot));
        assertTrue(!Files.exists(socket), "the socket goes with the run");
        try (Jkvm restored = new Jkvm("restore", snapshot.toString(), "--backend", "emulator")) {
            restored.send("g");
            assertEquals(originalStatus, restored.waitFor());
            String rest = restored.output();
            assertTrue(!rest.isEmpty() && original.endsWith(rest) && original.length() > rest.length(),
                    "the restored run goes on from the snapshot:\n" + rest + "\n--- original ---\n" + original);
            assertTrue(rest.contains("checksum "), rest);
        }
    }

    @Test
    @Timeout(120)
    void stopEndsARunWithStatus0() throws Exception {
        Path socket = dir.resolve("stop.sock");
        try (Jkvm vm = new Jkvm("run", "--api-socket", socket.toString(), "--image", TestGuests.path("handoff_checksum.elf").toString())) {
            vm.awaitOutput("round 1: ");
            Cli.Result stop = ctl(socket, "stop");
            assertEquals(0, stop.status(), stop.err());
            assertEquals(0, vm.waitFor());
        }
    }

    /** Snapshots the checksum guest at round 3 into {@code snapshot}; returns a copy whose memory file has one bit flipped. */
    private Path snapshotAndCorruptCopy(Path snapshot) throws Exception {
        Path socket = dir.resolve("vm.sock");
        try (Jkvm vm = new Jkvm("run", "--api-socket", socket.toString(), "--image",
                TestGuests.path("handoff_checksum.elf").toString(), "--cpu", "core")) {
            vm.awaitOutput("round 3: ");
            Cli.Result snap = ctl(socket, "snapshot", snapshot.toString());
            assertEquals(0, snap.status(), snap.err());
            assertEquals(0, ctl(socket, "stop").status());
            assertEquals(0, vm.waitFor());
        }
        Path corrupt = Files.createDirectory(dir.resolve("corrupt")).resolve("vm.snap");
        Files.copy(snapshot, corrupt);
        try (var files = Files.list(dir)) {
            Path memory = files.filter(p -> p.getFileName().toString().startsWith("vm.snap.mem")).findFirst().orElseThrow();
            byte[] bytes = Files.readAllBytes(memory);
            int at = 0;
            while (bytes[at] == 0) {
                at++;
            }
            bytes[at] ^= 0x40;
            Files.write(corrupt.resolveSibling(memory.getFileName()), bytes);
        }

        return corrupt;
    }

    /** Polls for the socket a waiting jkvm opens once it has warmed up. */
    private static void awaitSocket(Path socket, Jkvm vm) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (!Files.exists(socket)) {
            assertTrue(vm.process.isAlive(), "jkvm ended before opening its socket:\n" + vm.output());
            assertTrue(System.nanoTime() < deadline, "no socket at " + socket);
            Thread.sleep(20);
        }
    }

    /**
     * `jkvm restore --api-socket PATH` with no SNAPSHOT waits, empty, for a restore command: the VM's commands are
     * refused until then, a corrupt snapshot is refused in one line and leaves it waiting, and a good one runs on
     * from where it was taken, as `jkvm restore SNAPSHOT` would.
     */
    @Test
    @Timeout(180)
    void aJkvmWaitingForASnapshotRestoresItThroughTheSocket() throws Exception {
        Path snapshot = dir.resolve("vm.snap");
        Path corrupt = snapshotAndCorruptCopy(snapshot);

        Path waiting = dir.resolve("waiting.sock");
        try (Jkvm vm = new Jkvm("restore", "--api-socket", waiting.toString(), "--backend", "emulator")) {
            awaitSocket(waiting, vm);
            assertTrue(ctl(waiting, "info").out().contains("state:       empty"), ctl(waiting, "info").out());
            Cli.Result pause = ctl(waiting, "pause");
            assertEquals(2, pause.status());
            assertEquals("jkvm: no VM here yet: this jkvm waits for a restore command ({\"command\": \"restore\", \"file\": ...})",
                    pause.errorLine());
            Cli.Result bad = ctl(waiting, "restore", corrupt.toString());
            assertEquals(2, bad.status());
            assertTrue(bad.errorLine().contains("is corrupt (its checksum differs): take the snapshot again"), bad.err());
            assertTrue(ctl(waiting, "info").out().contains("empty"), "a refused restore leaves it waiting");

            Cli.Result restored = ctl(waiting, "restore", snapshot.toString());
            assertEquals(0, restored.status(), restored.err());
            assertTrue(restored.out().contains("state:         running") && restored.out().contains("restoreMillis: "), restored.out());
            Cli.Result again = ctl(waiting, "restore", snapshot.toString());
            assertEquals(2, again.status());
            assertTrue(again.errorLine().startsWith("jkvm: this jkvm runs a VM already"), again.err());
            vm.awaitOutput("waiting for input");
            vm.send("g");
            int status = vm.waitFor();
            assertTrue(status % 2 == 1 && status != 255, "debug-exit with the checksum, not the FXSAVE check's 0x7f: " + status);
            assertTrue(vm.output().contains("checksum "), vm.output());
            assertTrue(!vm.output().contains("round 1: "), "the guest went on from the snapshot, not from its start:\n" + vm.output());
        }
        assertTrue(!Files.exists(waiting), "the socket goes with the run");
    }

    /**
     * Stop ends a waiting jkvm with status 0; without the memory check, a corrupt memory file is mapped as it is (the
     * check is what refuses it); and restore needs a SNAPSHOT or a socket.
     */
    @Test
    @Timeout(180)
    void stopEndsAWaitingJkvmAndAnUncheckedRestoreSkipsTheMemoryCheck() throws Exception {
        Path corrupt = snapshotAndCorruptCopy(dir.resolve("vm.snap"));
        Path unchecked = dir.resolve("unchecked.sock");
        try (Jkvm vm = new Jkvm("restore", "--api-socket", unchecked.toString(), "--backend", "emulator")) {
            awaitSocket(unchecked, vm);
            Cli.Result restored = ctl(unchecked, "restore", corrupt.toString(), "--no-memory-check");
            assertEquals(0, restored.status(), restored.err());
            assertTrue(restored.out().contains("restoreMillis: "), restored.out());
        }
        Path noKvm = dir.resolve("nokvm.sock"); // a warm-up that fails only leaves the restore path cold
        try (Jkvm vm = new Jkvm("restore", "--api-socket", noKvm.toString(), "--backend", "kvm", "--kvm", dir.resolve("no-kvm").toString())) {
            awaitSocket(noKvm, vm);
            Cli.Result refused = ctl(noKvm, "restore", corrupt.toString(), "--no-memory-check");
            assertEquals(2, refused.status());
            assertTrue(refused.errorLine().contains("no-kvm"), "the restore names the KVM device it could not open: " + refused.err());
            assertTrue(ctl(noKvm, "info").out().contains("empty"), "and the jkvm waits on");
            assertEquals(0, ctl(noKvm, "stop").status());
            assertEquals(0, vm.waitFor());
        }
        Path waiting = dir.resolve("empty.sock");
        try (Jkvm vm = new Jkvm("restore", "--api-socket", waiting.toString(), "--backend", "emulator")) {
            awaitSocket(waiting, vm);
            Cli.Result stop = ctl(waiting, "stop");
            assertEquals(0, stop.status(), stop.err());
            assertEquals(0, vm.waitFor());
        }
        Cli.Result neither = Cli.run("restore");
        assertEquals(2, neither.status());
        assertEquals("jkvm: restore needs a SNAPSHOT, or --api-socket PATH to wait for a restore command on it (see jkvm restore --help)",
                neither.errorLine());
    }
}

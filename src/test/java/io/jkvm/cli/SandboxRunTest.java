package io.jkvm.cli;

import io.jkvm.testing.ChildJvm;
import io.jkvm.testing.RequiresKvm;
import io.jkvm.testing.TestGuests;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * `jkvm run`'s sandbox (docs/security.md), in child processes: a guest runs under the sandbox exactly as without it
 * on both backends; a jkvm run with no --sandbox option is confined, and its /proc status shows the filter,
 * no_new_privs and no capabilities on every thread; auto leaves it off, saying why, where the run needs what the
 * sandbox refuses; and the sandbox's own code, entered in a child JVM, makes what it forbids fail with EPERM.
 */
class SandboxRunTest {
    @TempDir
    Path dir;

    private static final boolean ROOT = "root".equals(System.getProperty("user.name"));

    private record Ended(int status, String out) {
    }

    private static Ended run(String... args) throws Exception {
        try (ControlSocketRunTest.Jkvm vm = new ControlSocketRunTest.Jkvm(args)) {
            vm.awaitOutput("waiting for input");
            vm.send("g");
            int status = vm.waitFor();
            return new Ended(status, vm.output());
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"kvm", "emulator"})
    @Timeout(180)
    @RequiresKvm
    void aGuestRunsUnderTheSandboxExactlyAsWithout(String backend) throws Exception {
        String guest = TestGuests.path("handoff_checksum.elf").toString();
        Path status = dir.resolve("status");
        Ended free = run("run", "--backend", backend, "--cpu", "core", "--image", guest);
        Ended confined = run("run", "--backend", backend, "--cpu", "core", "--image", guest, "--sandbox", "on",
                "--exit-status-file", status.toString());
        assertTrue(free.out().contains("checksum "), free.out());
        assertEquals(free.out(), confined.out(), "the serial output under the sandbox");
        assertEquals(free.status(), confined.status(), "the exit status under the sandbox");
        assertEquals(confined.status() + "\n", Files.readString(status), "--exit-status-file, written from inside the sandbox");
    }

    @Test
    @Timeout(120)
    void rdrandAndRdseedOnTheSoftwareCoreDrawTheHostsEntropyUnderTheSandbox() throws Exception {
        // the core's entropy source is made at the guest's first RDRAND, with the sandbox up
        try (ControlSocketRunTest.Jkvm vm = new ControlSocketRunTest.Jkvm("run", "--backend", "emulator", "--sandbox", "on",
                "--image", TestGuests.path("entropy.elf").toString())) {
            assertEquals(1, vm.waitFor(), vm.output());
            assertTrue(vm.output().contains("entropy ok"), vm.output());
        }
    }

    @Test
    @Timeout(120)
    @RequiresKvm
    void aRunningJkvmIsSandboxedByDefaultWithTheFilterNoNewPrivilegesAndNoCapabilitiesOnEveryThread() throws Exception {
        try (ControlSocketRunTest.Jkvm vm = new ControlSocketRunTest.Jkvm("run", "--cpu", "core", // no --sandbox: auto
                "--image", TestGuests.path("handoff_checksum.elf").toString())) {
            vm.awaitOutput("waiting for input"); // the guest runs: the sandbox went up before its first instruction
            long pid = vm.process.pid();
            List<Path> tasks;
            try (var list = Files.list(Path.of("/proc", Long.toString(pid), "task"))) {
                tasks = list.toList();
            }
            assertTrue(tasks.size() > 5, "the JVM's threads: " + tasks);
            List<String> checked = new ArrayList<>();
            for (Path task : tasks) {
                String s;
                try {
                    s = Files.readString(task.resolve("status"));
                } catch (java.nio.file.NoSuchFileException e) {
                    continue; // a thread that ended since the listing
                }
                String name = field(s, "Name");
                assertEquals("2", field(s, "Seccomp"), name + ": seccomp mode 2 is a filter");
                assertEquals("1", field(s, "NoNewPrivs"), name);
                assertEquals(0L, Long.parseLong(field(s, "CapEff"), 16), name + ": effective capabilities");
                assertEquals(0L, Long.parseLong(field(s, "CapPrm"), 16), name + ": permitted capabilities");
                if (ROOT) { // started as root, it became nobody: real, effective, saved and filesystem uid
                    assertEquals("65534 65534 65534 65534", field(s, "Uid").replaceAll("\\s+", " "), name);
                }
                checked.add(name);
            }
            assertTrue(checked.contains("vcpu-0"), "the vCPU thread is among them: " + checked);
            vm.send("g");
            assertEquals(241, vm.waitFor(), vm.output());
        }
    }

    /** stderr of {@code jkvm run --trace args} in a process of its own, which must end with {@code status}. */
    private static String traced(int status, String... args) throws Exception {
        List<String> command = new ArrayList<>(List.of("run", "--backend", "emulator", "--trace"));
        command.addAll(List.of(args));
        Process p = new ProcessBuilder(ChildJvm.jkvm(command.toArray(String[]::new)))
                .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")))
                .redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
        String err = new String(p.getErrorStream().readAllBytes());
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), err);
        assertEquals(status, p.exitValue(), err);
        return err;
    }

    @Test
    @Timeout(240)
    void autoConfinesARunUnlessItNeedsWhatTheSandboxRefusesAndTraceSaysWhich() throws Exception {
        String exit42 = TestGuests.path("exit42.elf").toString(), poweroff = TestGuests.path("multiboot_acpi.elf").toString();
        assertTrue(traced(85, "--image", exit42).contains("jkvm: sandbox: running as "), "auto: on");
        assertTrue(traced(0, "--mem", "16M", "--no-reboot", "--kernel", poweroff).contains("jkvm: sandbox: running as "),
                "a kernel that cannot reboot: on");
        assertTrue(traced(0, "--mem", "16M", "--kernel", poweroff).contains("jkvm: sandbox: off (auto): a reboot boots the kernel"
                + " again from its files"), "a kernel that may reboot: off");
        Path socket = dir.resolve("api.sock");
        assertTrue(traced(85, "--api-socket", socket.toString(), "--image", exit42).contains("jkvm: sandbox: off (auto): --api-socket"
                + " takes snapshots and migrations"), "a control socket: off");
        assertTrue(!traced(85, "--sandbox", "off", "--image", exit42).contains("jkvm: sandbox"), "off: nothing said");
    }

    @Test
    void sandboxOptionsThatCannotWorkAreOneLineErrors() {
        io.jkvm.testing.Cli.Result user = io.jkvm.testing.Cli.run("run", "--sandbox", "off", "--user", "nobody");
        assertEquals(2, user.status());
        assertEquals("jkvm: --user nobody is the user --sandbox becomes: drop --sandbox off", user.err().strip());
        io.jkvm.testing.Cli.Result value = io.jkvm.testing.Cli.run("run", "--sandbox", "maybe");
        assertEquals(2, value.status());
        assertTrue(value.err().strip().startsWith("jkvm: Invalid value for option '--sandbox': --sandbox maybe is not auto, on or off"),
                value.err());
    }

    @Test
    @Timeout(60)
    void aUserTheHostLacksEndsTheRunBeforeTheGuestStarts() throws Exception {
        Process p = new ProcessBuilder(ChildJvm.jkvm("run", "--backend", "emulator", "--sandbox", "on", "--user", "jkvm-no-such-user")).redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null"))).start();
        String out = new String(p.getInputStream().readAllBytes());
        String err = new String(p.getErrorStream().readAllBytes());
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), err);
        assertEquals(2, p.exitValue(), err);
        assertEquals(ROOT ? "jkvm: --user jkvm-no-such-user: this host has no such user: name one from /etc/passwd"
                        + " (useradd --system NAME makes one)"
                        : "jkvm: --user jkvm-no-such-user needs jkvm started as root (it runs as uid "
                        + new com.sun.security.auth.module.UnixSystem().getUid() + " and stays that user): drop --user, or start it as root",
                err.strip());
        assertTrue(!out.contains("jkvm demo guest"), "the guest never ran:\n" + out);
    }

    @Test
    @Timeout(120)
    @RequiresKvm
    void theControlSocketPausesAndResumesASandboxedRunAndRefusesSnapshotsAndMigrations() throws Exception {
        Path socket = dir.resolve("api.sock");
        Path snapshot = dir.resolve("snap");
        try (ControlSocketRunTest.Jkvm vm = new ControlSocketRunTest.Jkvm("run", "--cpu", "core", "--sandbox", "on",
                "--api-socket", socket.toString(), "--image", TestGuests.path("handoff_checksum.elf").toString())) {
            vm.awaitOutput("waiting for input");
            assertEquals(0, io.jkvm.testing.Cli.run("ctl", socket.toString(), "pause").status());
            io.jkvm.testing.Cli.Result info = io.jkvm.testing.Cli.run("ctl", socket.toString(), "info");
            assertTrue(info.out().contains("paused"), info.out());
            io.jkvm.testing.Cli.Result snap = io.jkvm.testing.Cli.run("ctl", socket.toString(), "snapshot", snapshot.toString());
            assertEquals(2, snap.status(), snap.out());
            assertEquals("jkvm: cannot snapshot to " + snapshot + ": this jkvm runs under --sandbox on, which forbids creating"
                    + " files; run the VM with --sandbox off to take snapshots", snap.err().strip());
            io.jkvm.testing.Cli.Result migrate = io.jkvm.testing.Cli.run("ctl", socket.toString(), "migrate", "tcp:127.0.0.1:9");
            assertEquals(2, migrate.status(), migrate.out());
            assertTrue(migrate.err().contains("this jkvm runs under --sandbox on, which forbids new sockets"), migrate.err());
            assertEquals(0, io.jkvm.testing.Cli.run("ctl", socket.toString(), "resume").status());
            assertTrue(!Files.exists(snapshot), "no snapshot file");
            vm.send("g");
            assertEquals(241, vm.waitFor(), vm.output());
            assertTrue(vm.output().contains("checksum "), vm.output());
        }
    }

    @Test
    @Timeout(120)
    @RequiresKvm
    void aSnapshotRestoresUnderTheSandboxAndEndsAsTheRunItCameFrom() throws Exception {
        Path socket = dir.resolve("api.sock");
        Path snapshot = dir.resolve("snap");
        String guest = TestGuests.path("handoff_checksum.elf").toString();
        Ended original;
        try (ControlSocketRunTest.Jkvm vm = new ControlSocketRunTest.Jkvm("run", "--cpu", "core", "--api-socket", socket.toString(),
                "--image", guest)) {
            vm.awaitOutput("waiting for input");
            io.jkvm.testing.Cli.Result snap = io.jkvm.testing.Cli.run("ctl", socket.toString(), "snapshot", snapshot.toString());
            assertEquals(0, snap.status(), snap.err());
            vm.send("g");
            original = new Ended(vm.waitFor(), vm.output());
        }
        try (ControlSocketRunTest.Jkvm vm = new ControlSocketRunTest.Jkvm("restore", snapshot.toString(), "--sandbox", "on")) {
            vm.send("g"); // the restored guest waits for its input as the original did when the snapshot was taken
            int status = vm.waitFor();
            assertEquals(original.status(), status, vm.output());
            String after = original.out().substring(original.out().indexOf("waiting for input"));
            assertTrue(vm.output().endsWith(after.substring(after.indexOf('\n') + 1)), "the restored run's output:\n" + vm.output()
                    + "\nthe original's, from its input on:\n" + after);
        }
    }

    private static String field(String status, String name) {
        for (String line : status.split("\n")) {
            if (line.startsWith(name + ":")) {
                return line.substring(name.length() + 1).strip();
            }
        }
        throw new AssertionError("no " + name + " in\n" + status);
    }

    @Test
    @Timeout(60)
    void whatTheSandboxForbidsFailsWithEpermAndThreadsStillStart() throws Exception {
        Path file = dir.resolve("readable");
        Files.writeString(file, "before the sandbox");
        file.toFile().setReadable(true, false);
        dir.toFile().setExecutable(true, false);
        Process p = new ProcessBuilder(ChildJvm.command("io.jkvm.sandbox.SandboxProbe", file.toString()))
                .redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), out);
        assertEquals(0, p.exitValue(), out);
        assertTrue(out.contains("entered: " + (ROOT ? "nobody 65534" : "")), out);
        assertTrue(out.matches("(?s).*open: \\S*readable: Operation not permitted\n.*"), out);
        assertTrue(out.matches("(?s).*exec: Cannot run program \"/bin/true\": [^\n]*Operation not permitted.*"), out);
        assertTrue(out.contains("socket: Operation not permitted"), out);
        assertTrue(out.contains("thread: allowed"), out);
    }
}

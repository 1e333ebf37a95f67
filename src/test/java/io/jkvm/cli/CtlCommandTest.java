package io.jkvm.cli;

import io.jkvm.api.ApiServer;
import io.jkvm.api.FakeControlTarget;
import io.jkvm.api.VmInfo;
import io.jkvm.testing.Cli;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.ServerSocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** `jkvm ctl`: what it prints and its exit status, against a server over a fake VM. */
class CtlCommandTest {
    @TempDir
    Path dir;
    Path socket;
    FakeControlTarget vm;
    ApiServer server;

    @BeforeEach
    void start() {
        socket = dir.resolve("vm.sock");
        vm = new FakeControlTarget();
        server = ApiServer.start(socket, vm);
    }

    @AfterEach
    void close() {
        server.close();
    }

    private Cli.Result ctl(String... args) {
        String[] all = new String[args.length + 2];
        all[0] = "ctl";
        all[1] = socket.toString();
        System.arraycopy(args, 0, all, 2, args.length);
        return Cli.run(all);
    }

    @Test
    void infoPrintsOneFieldALine() {
        Cli.Result r = ctl("info");
        assertEquals(0, r.status(), r.err());
        assertEquals("""
                state:       running
                backend:     emulator
                vcpus:       2
                memoryBytes: 67108864
                cpuModel:    host,+apx
                """, r.out());
        assertEquals("", r.err());
    }

    @Test
    void jsonPrintsTheResponseAsSent() {
        Cli.Result r = ctl("--json", "info");
        assertEquals(0, r.status(), r.err());
        assertEquals("{\"ok\":true,\"state\":\"running\",\"backend\":\"emulator\",\"vcpus\":2,\"memoryBytes\":67108864,"
                + "\"cpuModel\":\"host,+apx\"}\n", r.out());
    }

    @Test
    void pauseResumeAndStop() {
        assertEquals("state: paused\n", ctl("pause").out());
        assertEquals(VmInfo.State.PAUSED, vm.state());
        Cli.Result again = ctl("pause");
        assertEquals(2, again.status());
        assertEquals("jkvm: the VM is already paused", again.errorLine());
        assertEquals("", again.out());
        assertEquals("state: running\n", ctl("resume").out());
        Cli.Result stop = ctl("stop");
        assertEquals(0, stop.status(), stop.err());
        assertEquals("ok\n", stop.out());
        assertEquals(VmInfo.State.ENDED, vm.state());
    }

    @Test
    void snapshotTakesAFileRelativeToWhereCtlRuns() {
        Cli.Result r = ctl("snapshot", "vm.snap");
        assertEquals(0, r.status(), r.err());
        Path expected = Path.of("vm.snap").toAbsolutePath();
        assertEquals(List.of(expected), vm.snapshots());
        assertEquals("file:         " + expected + "\npausedMillis: 7\ntotalMillis:  9\n", r.out());
    }

    @Test
    void aFailedSnapshotIsOneLineAndStatus2() {
        vm.snapshotFailure = "cannot write /full/vm.snap: No space left on device";
        Cli.Result r = ctl("snapshot", "/full/vm.snap");
        assertEquals(2, r.status());
        assertEquals("jkvm: cannot write /full/vm.snap: No space left on device", r.errorLine());
    }

    @Test
    void errorResponsesWithJsonAreOnBothStreams() {
        vm.migrationFailure = "the migration to 10.0.0.2:4444 failed: the connection closed; the VM runs on here";
        Cli.Result r = ctl("--json", "migrate", "tcp:10.0.0.2:4444");
        assertEquals(2, r.status());
        assertTrue(r.out().startsWith("{\"ok\":false,\"error\":\"the migration to 10.0.0.2:4444 failed"), r.out());
        assertTrue(r.errorLine().startsWith("jkvm: the migration to 10.0.0.2:4444 failed: the connection closed"), r.err());
    }

    @Test
    void argumentsAreCheckedBeforeConnecting() {
        Cli.Result extra = ctl("pause", "now");
        assertEquals(2, extra.status());
        assertEquals("jkvm: pause takes no argument (see jkvm ctl --help)", extra.errorLine());
        Cli.Result noFile = ctl("snapshot");
        assertEquals(2, noFile.status());
        assertEquals("jkvm: snapshot needs the FILE to write (see jkvm ctl --help)", noFile.errorLine());
        Cli.Result unknown = ctl("reboot");
        assertEquals(2, unknown.status());
        assertEquals("jkvm: unknown command 'reboot': known commands are info, pause, resume, snapshot, stop, migrate, cancel, restore", unknown.errorLine());
        assertEquals(List.of(), vm.calls());
    }

    @Test
    void anUnreachableSocketNamesThePathAndTheFix() throws IOException {
        Path none = dir.resolve("none.sock");
        Cli.Result missing = Cli.run("ctl", none.toString(), "info");
        assertEquals(2, missing.status());
        assertEquals("jkvm: no API socket at " + none + ": is the VM running with jkvm run --api-socket " + none + "?", missing.errorLine());

        Path stale = dir.resolve("stale.sock");
        try (ServerSocketChannel dead = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
            dead.bind(UnixDomainSocketAddress.of(stale));
        }
        Cli.Result refused = Cli.run("ctl", stale.toString(), "info");
        assertEquals(2, refused.status());
        assertEquals("jkvm: nothing listens at " + stale + " (the VM has ended, or another program left it): "
                + "start the VM with jkvm run --api-socket " + stale, refused.errorLine());

        Path file = Files.writeString(dir.resolve("notes.txt"), "x");
        Cli.Result notSocket = Cli.run("ctl", file.toString(), "info");
        assertEquals(2, notSocket.status());
        assertEquals("jkvm: " + file + " is not a socket: give the path passed to jkvm run --api-socket", notSocket.errorLine());
    }

    @Test
    void ctlIsListedInTheHelp() {
        assertTrue(Cli.run("--help").out().contains("ctl"));
        Cli.Result help = Cli.run("ctl", "--help");
        assertEquals(0, help.status());
        assertTrue(help.out().contains("snapshot FILE"), help.out());
    }
}

package io.jkvm.cli;

import io.jkvm.cli.ControlSocketRunTest.Jkvm;
import io.jkvm.testing.Cli;
import io.jkvm.testing.HostCommand;
import io.jkvm.testing.HostKvm;
import io.jkvm.testing.TestGuests;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Live migration between two network namespaces the test makes (standing in for two hosts, joined by a veth pair on
 * 10.77.0.0/24): the source can reach the destination only over that link, and the guest goes on there exactly.
 */
class NamespaceMigrationTest {
    @TempDir
    Path dir;
    private final String source = "jkvm-src-" + ProcessHandle.current().pid(), destination = "jkvm-dst-" + ProcessHandle.current().pid();

    private static void ip(String... args) throws Exception {
        List<String> command = new ArrayList<>(List.of("ip"));
        command.addAll(List.of(args));
        HostCommand.run(command);
    }

    @BeforeEach
    void twoHosts() throws Exception {
        ip("netns", "add", source);
        ip("netns", "add", destination);
        ip("link", "add", "jkvm-a", "netns", source, "type", "veth", "peer", "name", "jkvm-b", "netns", destination);
        ip("-n", source, "addr", "add", "10.77.0.1/24", "dev", "jkvm-a");
        ip("-n", destination, "addr", "add", "10.77.0.2/24", "dev", "jkvm-b");
        for (String ns : List.of(source, destination)) {
            ip("-n", ns, "link", "set", "lo", "up");
        }
        ip("-n", source, "link", "set", "jkvm-a", "up");
        ip("-n", destination, "link", "set", "jkvm-b", "up");
    }

    @AfterEach
    void noMoreHosts() throws Exception {
        ip("netns", "del", source); // takes its end of the veth pair, and so the pair, with it
        ip("netns", "del", destination);
    }

    @Test
    @Timeout(240)
    void aGuestMovesBetweenTwoNamespacesOverTheirLink() throws Exception {
        String guest = TestGuests.path("handoff_checksum.elf").toString();
        Cli.Result baseline = Cli.runWithInput("g", "run", "--image", guest, "--backend", HostKvm.autoOrCoreOption());
        Path key = dir.resolve("key");
        Files.write(key, "a key both namespaces' jkvm hold, 32 bytes or more".getBytes());
        Files.setPosixFilePermissions(key, PosixFilePermissions.fromString("rw-------"));
        Path socket = dir.resolve("src.sock");
        try (Jkvm there = new Jkvm(List.of("ip", "netns", "exec", destination), "run", "--incoming", "tcp:10.77.0.2:4444",
                "--migration-key", key.toString(), "--backend", HostKvm.autoOrCoreOption());
             Jkvm here = new Jkvm(List.of("ip", "netns", "exec", source), "run", "--api-socket", socket.toString(),
                     "--migration-key", key.toString(), "--image", guest, "--backend", "emulator")) {
            here.awaitOutput("round 2: ");
            Cli.Result moved = LiveMigrationTest.migrateOnceListening(socket, "tcp:10.77.0.2:4444");
            assertEquals(0, moved.status(), moved.err());
            assertEquals(0, here.waitFor());
            there.send("g");
            assertEquals(baseline.status(), there.waitFor());
            assertEquals(baseline.out(), here.output() + there.output());
        }
    }
}

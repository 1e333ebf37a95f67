package io.jkvm.api;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.File;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.ServerSocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** The socket file: owner-only, a stale one replaced, anything else at the path refused with one line. */
class ApiSocketTest {
    @TempDir
    Path dir;

    @Test
    void theSocketIsOwnerOnlyAndLeavesNothingElseBehind() throws IOException {
        Path socket = dir.resolve("vm.sock");
        try (ApiServer server = ApiServer.start(socket, new FakeControlTarget())) {
            assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(socket, LinkOption.NOFOLLOW_LINKS)));
            assertEquals(socket, server.socket());
            try (Stream<Path> files = Files.list(dir)) {
                assertEquals(List.of(socket), files.toList(), "the private bind directory is gone");
            }
        }
        try (Stream<Path> files = Files.list(dir)) {
            assertEquals(List.of(), files.toList(), "close deletes the socket");
        }
    }

    @Test
    void aStaleSocketIsReplaced() throws IOException {
        Path socket = dir.resolve("vm.sock");
        try (ServerSocketChannel dead = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
            dead.bind(UnixDomainSocketAddress.of(socket)); // a VM that ended without deleting its socket
        }
        assertTrue(Files.exists(socket));
        try (ApiServer server = ApiServer.start(socket, new FakeControlTarget())) {
            assertTrue(SocketClient.exchange(server.socket(), "{\"command\": \"info\"}\n").get("ok").asBoolean());
        }
    }

    @Test
    void aSocketSomeoneListensOnIsRefused() {
        Path socket = dir.resolve("vm.sock");
        try (ApiServer first = ApiServer.start(socket, new FakeControlTarget())) {
            ApiException e = assertThrows(ApiException.class, () -> ApiServer.start(socket, new FakeControlTarget()));
            assertEquals(socket + " is in use: a running jkvm (or another program) listens there; stop it or choose another API socket path", e.getMessage());
            assertTrue(Files.exists(socket), "the refused start leaves the first server's socket alone");
        }
    }

    @Test
    void aFileThatIsNotASocketIsRefusedAndKept() throws IOException {
        Path file = Files.writeString(dir.resolve("notes.txt"), "keep me");
        ApiException e = assertThrows(ApiException.class, () -> ApiServer.start(file, new FakeControlTarget()));
        assertEquals(file + " exists and is not a socket: remove it or choose another API socket path", e.getMessage());
        assertEquals("keep me", Files.readString(file));

        Path link = Files.createSymbolicLink(dir.resolve("link.sock"), dir.resolve("elsewhere.sock"));
        e = assertThrows(ApiException.class, () -> ApiServer.start(link, new FakeControlTarget()));
        assertEquals(link + " exists and is not a socket: remove it or choose another API socket path", e.getMessage());
    }

    @Test
    void aMissingDirectoryOrATooLongPathIsOneLine() {
        Path missing = dir.resolve("no/such/dir/vm.sock");
        ApiException e = assertThrows(ApiException.class, () -> ApiServer.start(missing, new FakeControlTarget()));
        assertEquals("the directory " + missing.getParent() + " of the API socket does not exist: create it first", e.getMessage());

        Path deep = dir.resolve("d".repeat(100)).resolve("vm.sock");
        e = assertThrows(ApiException.class, () -> ApiServer.start(deep, new FakeControlTarget()));
        assertTrue(e.getMessage().startsWith("the API socket path " + deep + " is too long for a Unix socket (at most 107 bytes, and its directory at most 92): choose a shorter one"),
                e.getMessage());
    }

    @Test
    void anotherUserCannotConnect() throws Exception {
        assumeTrue("root".equals(System.getProperty("user.name")), "needs root to drop to 'nobody' (run the tests as root)");
        Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwxr-xr-x")); // nobody may reach the socket's directory
        List<String> ctlAsNobody = ctlAsNobody(dir.resolve("cp"));
        Path socket = dir.resolve("vm.sock");
        try (ApiServer server = ApiServer.start(socket, new FakeControlTarget())) {
            Result refused = run(ctlAsNobody, socket, "info");
            assertEquals(2, refused.status, refused.output);
            assertEquals("jkvm: no permission to connect to " + socket + ": the socket is its owner's only, "
                    + "run jkvm ctl as the user that runs the VM", refused.output.strip());

            // The same client gets in once the mode lets it: the refusal above was the socket's mode and nothing else
            Files.setPosixFilePermissions(socket, PosixFilePermissions.fromString("rw-rw-rw-"));
            Result allowed = run(ctlAsNobody, socket, "info");
            assertEquals(0, allowed.status, allowed.output);
            assertTrue(allowed.output.contains("state:"), allowed.output);
        }
    }

    private record Result(int status, String output) {
    }

    private static Result run(List<String> command, Path socket, String ctlCommand) throws Exception {
        List<String> all = new ArrayList<>(command);
        all.add(socket.toString());
        all.add(ctlCommand);
        Process p = new ProcessBuilder(all).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), "timed out: " + all);
        return new Result(p.exitValue(), out);
    }

    /** `jkvm ctl` as uid 65534. */
    private static List<String> ctlAsNobody(Path copies) throws IOException {
        List<String> command = new ArrayList<>(io.jkvm.testing.AsNobody.jkvm(copies));
        command.add("ctl");
        return command;
    }
}

package io.jkvm.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * A user without access to the KVM device gets the one-line advice. The CLI runs as 'nobody' (setpriv) against a
 * private 0600 node of the KVM device (mknod 10:232), so the result does not depend on /dev/kvm's own mode.
 */
class KvmPermissionTest {

    @Test
    void aUserWithoutAccessIsToldWhatToDoAndCanStillUseTheSoftwareCore(@TempDir Path dir) throws Exception {
        assumeTrue("root".equals(System.getProperty("user.name")), "needs root to drop to 'nobody' (run the tests as root)");
        Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwxr-xr-x"));
        Path node = dir.resolve("kvm");
        assertEquals(0, run(List.of("mknod", "-m", "600", node.toString(), "c", "10", "232")).status, "mknod");

        List<String> jkvm = io.jkvm.testing.AsNobody.jkvm(dir);
        Result r = run(concat(jkvm, "run", "--kvm", node.toString()));
        assertEquals(2, r.status, r.output);
        assertEquals("jkvm: no permission to open " + node + ": run as root, add the user to the kvm group, "
                + "or pass --device /dev/kvm to the container", r.output.strip());

        // The software core needs no KVM: the same user runs the bundled guest on it
        Result core = run(concat(jkvm, "run", "--backend", "emulator", "--kvm", node.toString()));
        assertEquals(1, core.status, core.output);
        assertTrue(core.output.contains("exiting through debug-exit (v=0)"), core.output);
    }

    private record Result(int status, String output) {
    }

    private static Result run(List<String> command) throws Exception {
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), "timed out: " + command);
        return new Result(p.exitValue(), out);
    }

    private static List<String> concat(List<String> command, String... args) {
        List<String> all = new ArrayList<>(command);
        all.addAll(List.of(args));
        return all;
    }
}

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

        // Copy the classpath where 'nobody' can read it (the Maven repository under /root is private).
        List<String> classpath = new ArrayList<>();
        int i = 0;
        for (String entry : System.getProperty("java.class.path").split(File.pathSeparator)) {
            Path source = Path.of(entry);
            if (!entry.contains("picocli") && !entry.contains("jackson") && !entry.endsWith("classes")) {
                continue;
            }
            Path target = dir.resolve("cp" + i++);
            copy(source, target);
            classpath.add(target.toString());
        }
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        Result r = run(List.of("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--",
                java, "--enable-native-access=ALL-UNNAMED", "-cp", String.join(File.pathSeparator, classpath),
                "io.jkvm.cli.Main", "run", "--kvm", node.toString()));
        assertEquals(2, r.status, r.output);
        assertEquals("jkvm: no permission to open " + node + ": run as root, add the user to the kvm group, "
                + "or pass --device /dev/kvm to the container", r.output.strip());

        // The software core needs no KVM: the same user runs the bundled guest on it
        Result core = run(List.of("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--",
                java, "--enable-native-access=ALL-UNNAMED", "-cp", String.join(File.pathSeparator, classpath),
                "io.jkvm.cli.Main", "run", "--backend", "emulator", "--kvm", node.toString()));
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

    private static void copy(Path source, Path target) throws Exception {
        if (Files.isDirectory(source)) {
            try (Stream<Path> files = Files.walk(source)) {
                for (Path f : files.toList()) {
                    Path t = target.resolve(source.relativize(f).toString());
                    if (Files.isDirectory(f)) {
                        Files.createDirectories(t);
                        Files.setPosixFilePermissions(t, PosixFilePermissions.fromString("rwxr-xr-x"));
                    } else {
                        Files.copy(f, t, StandardCopyOption.REPLACE_EXISTING);
                        Files.setPosixFilePermissions(t, PosixFilePermissions.fromString("rw-r--r--"));
                    }
                }
            }
        } else {
            Files.copy(source, target);
            Files.setPosixFilePermissions(target, PosixFilePermissions.fromString("rw-r--r--"));
        }
    }
}

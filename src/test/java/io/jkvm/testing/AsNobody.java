package io.jkvm.testing;

import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

/**
 * The jkvm CLI as user 'nobody' (uid 65534, through setpriv, so the tests run as root): from a copy of its classpath
 * under {@code copies} that nobody can read (the Maven repository under /root is private).
 */
public final class AsNobody {
    private AsNobody() {
    }

    /** The command line that runs {@code io.jkvm.cli.Main} as nobody; the jkvm arguments follow it. */
    public static List<String> jkvm(Path copies) throws IOException {
        Files.createDirectories(copies);
        Files.setPosixFilePermissions(copies, PosixFilePermissions.fromString("rwxr-xr-x"));
        for (Path up = copies.getParent(); up != null && up.startsWith(System.getProperty("java.io.tmpdir")) && !up.equals(Path.of(System.getProperty("java.io.tmpdir"))); up = up.getParent()) {
            Files.setPosixFilePermissions(up, PosixFilePermissions.fromString("rwxr-xr-x")); // nobody must reach it
        }
        List<String> classpath = new ArrayList<>();
        int i = 0;
        for (String entry : System.getProperty("java.class.path").split(File.pathSeparator)) {
            if (entry.endsWith("classes") && !entry.endsWith("test-classes") || entry.contains("picocli") || entry.contains("jackson")) {
                Path target = copies.resolve("cp" + i++);
                copyReadable(Path.of(entry), target);
                classpath.add(target.toString());
            }
        }
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        return List.of("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--",
                java, "--enable-native-access=ALL-UNNAMED", "-cp", String.join(File.pathSeparator, classpath), "io.jkvm.cli.Main");
    }

    private static void copyReadable(Path source, Path target) throws IOException {
        Files.createDirectories(target.getParent());
        try (Stream<Path> files = Files.walk(source)) {
            for (Path f : files.toList()) {
                Path t = Files.isDirectory(source) ? target.resolve(source.relativize(f).toString()) : target;
                if (Files.isDirectory(f)) {
                    Files.createDirectories(t);
                    Files.setPosixFilePermissions(t, PosixFilePermissions.fromString("rwxr-xr-x"));
                } else {
                    Files.copy(f, t, StandardCopyOption.REPLACE_EXISTING);
                    Files.setPosixFilePermissions(t, PosixFilePermissions.fromString("rw-r--r--"));
                }
            }
        }
    }
}

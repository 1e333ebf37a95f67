package io.jkvm.testing;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** The command line of a JVM like the tests' own (this JDK, this class path, native access), for a child process. */
public final class ChildJvm {
    private ChildJvm() {
    }

    /** {@code java ... mainClass args}. */
    public static List<String> command(String mainClass, String... args) {
        List<String> command = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--enable-native-access=ALL-UNNAMED", "-cp", System.getProperty("java.class.path"), mainClass));
        command.addAll(List.of(args));
        return command;
    }

    /** {@code jkvm args}: the CLI in a process of its own. */
    public static List<String> jkvm(String... args) {
        return command("io.jkvm.cli.Main", args);
    }
}

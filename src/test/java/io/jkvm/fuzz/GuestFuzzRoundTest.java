package io.jkvm.fuzz;

import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * The guest fuzzer's CI round (GuestFuzzer.CI_SEED, CI_RUNS, CI_TIME_LIMIT; `scripts/fuzz-guests --ci` runs the
 * same): random, mutated and hostile guests through the real CLI in processes of their own, on both backends and
 * some with --cpus 4, and not one violation of the contract. jkvm runs from target/classes here (the jar is made
 * after the tests), with the JVM options scripts/jkvm gives it.
 */
class GuestFuzzRoundTest {
    /**
     * Violations of the CI round that are open product bugs, by "case N rule" with the bug's name: they still fail
     * the round, named, until fixed on main (issue #11); none is skipped.
     */
    private static final Map<String, String> KNOWN_OPEN = Map.of();

    @Test
    void ciRoundEndsEveryGuestWithinTheContract() throws Exception {
        Path project = Path.of(System.getProperty("jkvm.project.dir"));
        List<String> launcher = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString()));
        launcher.addAll(GuestFuzzer.jkvmJavaOptions(project));
        launcher.addAll(List.of("--enable-native-access=ALL-UNNAMED", "-cp", System.getProperty("java.class.path"), "io.jkvm.cli.Main"));
        var options = new GuestFuzzer.Options(GuestFuzzer.CI_SEED, GuestFuzzer.CI_RUNS, -1, "", GuestFuzzer.CI_TIME_LIMIT,
                GuestFuzzer.RSS_LIMIT_MIB, project, project.resolve("target/fuzz-failures"), launcher, false);
        GuestFuzzer.Round round = GuestFuzzer.run(options, System.out);

        assertEquals(GuestFuzzer.CI_RUNS, round.runs(), "every case of the round ran");
        assertTrue(round.smp() > 0, "some cases ran with --cpus 4");
        Path kvm = Path.of("/dev/kvm");
        if (Files.isReadable(kvm) && Files.isWritable(kvm)) {
            assertTrue(round.onKvm() > 0 && round.onKvm() < round.runs(), "the round ran on both backends: " + round.summary());
        }
        if (!round.violations().isEmpty()) {
            fail(round.violations().size() + " violation(s) of the contract in the CI round (" + round.summary() + "):\n"
                    + round.violations().stream().map(f -> {
                        String open = KNOWN_OPEN.get("case " + f.index() + " " + f.rule());
                        return (open == null ? "new: " : "known-open " + open + ": ") + f.line();
                    }).collect(Collectors.joining("\n")));
        }
    }

    /** The fuzzer runs jkvm with what scripts/jkvm gives the JVM, scripts/jvm.options: if that changes, this says so. */
    @Test
    void jkvmJavaOptionsComeFromScriptsJkvm() throws Exception {
        Path project = Path.of(System.getProperty("jkvm.project.dir"));
        String script = Files.readString(project.resolve("scripts/jkvm"));
        assertTrue(script.contains("${JKVM_JAVA_OPTS:-\"@$jkvm_root/scripts/jvm.options\"}"),
                "scripts/jkvm no longer starts java with scripts/jvm.options by default: update GuestFuzzer.jkvmJavaOptions");
        assertTrue(Files.isRegularFile(project.resolve("scripts/jvm.options")), "scripts/jvm.options is missing");
        if (System.getenv("JKVM_JAVA_OPTS") == null) {
            assertEquals(List.of("@" + project.resolve("scripts/jvm.options")), GuestFuzzer.jkvmJavaOptions(project));
        }
    }
}

package io.jkvm.testing;

import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertTrue;

/** A host command a test sets the machine up with (ip, ...): it must end with status 0 within 30 s. */
public final class HostCommand {
    private HostCommand() {
    }

    /** Runs {@code command} and returns its output, stdout and stderr together. */
    public static String run(List<String> command) throws Exception {
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(30, TimeUnit.SECONDS) && p.exitValue() == 0, String.join(" ", command) + ": " + out);
        return out;
    }

    public static String run(String... command) throws Exception {
        return run(List.of(command));
    }
}

package io.jkvm.testing;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A shell command run in a real pseudo-terminal (util-linux's {@code script}), with what the terminal showed and
 * keys typed into it. {@link #shellCommand} quotes a command line for it.
 */
public final class Pty implements AutoCloseable {
    /**
     * A shell line that reports the terminal's state after whatever ran before it: whether it is canonical and echoes
     * again, one word per line ({@code icanon} or {@code -icanon}, {@code echo} or {@code -echo}).
     */
    public static final String TERMINAL_MODES = "stty -a | tr ' ;' '\\n\\n' | grep -x -- '-\\?icanon\\|-\\?echo'";

    private final Process script;
    private final OutputStream keys;
    private final ByteArrayOutputStream seen = new ByteArrayOutputStream();

    public Pty(String shellCommand) throws IOException {
        script = new ProcessBuilder("script", "-qfec", shellCommand, "/dev/null").redirectErrorStream(true).start();
        keys = script.getOutputStream();
        InputStream from = script.getInputStream();
        Thread.ofPlatform().daemon().start(() -> {
            byte[] b = new byte[4096];
            int n;
            try {
                while ((n = from.read(b)) > 0) {
                    synchronized (seen) {
                        seen.write(b, 0, n);
                    }
                }
            } catch (IOException e) {
                // the pty closed
            }
        });
    }

    /** {@code words} as one shell line, each single-quoted. */
    public static String shellCommand(List<String> words) {
        return words.stream().map(w -> "'" + w.replace("'", "'\\''") + "'").collect(Collectors.joining(" "));
    }

    /** Everything the terminal showed so far. */
    public String text() {
        synchronized (seen) {
            return seen.toString(StandardCharsets.UTF_8);
        }
    }

    /** Waits until the terminal has shown {@code what}. */
    public void await(String what, int seconds) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
        while (!text().contains(what)) {
            assertTrue(System.nanoTime() < deadline, () -> "the terminal never showed '" + what + "':\n" + text());
            Thread.sleep(50);
        }
    }

    /** Types {@code bytes}. */
    public void type(byte[] bytes) throws IOException {
        keys.write(bytes);
        keys.flush();
    }

    /** The processes the pty's shell started, {@code script}'s own shell's children and theirs. */
    public java.util.stream.Stream<ProcessHandle> descendants() {
        return script.descendants();
    }

    /** Waits for the pty's shell to end. */
    public boolean waitFor(int seconds) throws InterruptedException {
        return script.waitFor(seconds, TimeUnit.SECONDS);
    }

    /** Whether the terminal, after {@code marker} was shown, was reported canonical with echo by {@link #TERMINAL_MODES}. */
    public boolean restoredAfter(String marker) {
        String after = text().substring(text().indexOf(marker));
        return after.lines().anyMatch("icanon"::equals) && after.lines().anyMatch("echo"::equals);
    }

    @Override
    public void close() throws InterruptedException {
        try {
            keys.close();
        } catch (IOException e) {
            // the pty's shell is gone
        }
        script.destroyForcibly().waitFor();
    }
}

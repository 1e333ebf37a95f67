package io.jkvm.cli;

import io.jkvm.testing.LinuxGuest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * `jkvm run` on a real pseudo-terminal (util-linux's script), Debian's kernel booted through PVH (its vmlinux, the
 * fastest to boot on the core): the terminal goes into raw mode, a command typed into
 * the busybox shell of Debian's kernel (its 8250 driver on COM1's interrupts) is answered, Ctrl-A X quits with
 * status 0, and the shell that ran jkvm finds its terminal as it was (canonical mode and echo back on).
 */
class LinuxConsoleTest {
    @TempDir
    Path dir;

    /** Everything the pty showed so far. */
    private static final class Screen {
        private final ByteArrayOutputStream seen = new ByteArrayOutputStream();

        Screen(InputStream from) {
            Thread.ofPlatform().daemon().start(() -> {
                byte[] b = new byte[4096];
                int n;
                try {
                    while ((n = from.read(b)) > 0) {
                        synchronized (seen) {
                            seen.write(b, 0, n);
                        }
                    }
                } catch (java.io.IOException e) {
                    // the pty closed
                }
            });
        }

        String text() {
            synchronized (seen) {
                return seen.toString(StandardCharsets.UTF_8);
            }
        }

        void await(String what, int seconds) throws InterruptedException {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
            while (!text().contains(what)) {
                assertTrue(System.nanoTime() < deadline, () -> "the terminal never showed '" + what + "':\n" + text());
                Thread.sleep(50);
            }
        }
    }

    @Test
    @Timeout(600)
    void aCommandTypedIntoTheGuestShellIsAnsweredAndCtrlAXQuitsWithTheTerminalRestored() throws Exception {
        Path guest = LinuxGuest.guest();
        Path initrd = LinuxGuest.initrd(dir, """
                echo "jkvm: shell ready"
                exec sh
                """);
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        String jkvm = String.join(" ", java, "--enable-native-access=ALL-UNNAMED", "-cp", System.getProperty("java.class.path"),
                "io.jkvm.cli.Main", "run", "--backend", "emulator", "--mem", "256M", "--kernel", guest.resolve("vmlinux").toString(),
                "--initrd", initrd.toString(), "--append", "'console=ttyS0 panic=-1 quiet'");
        // The shell in the pty runs jkvm, then reports its status and whether the terminal is canonical again
        String inPty = jkvm + "; echo \"jkvm-status=$?\"; stty -a | tr ' ;' '\\n\\n' | grep -x -- '-\\?icanon\\|-\\?echo'";
        Process script = new ProcessBuilder("script", "-qfec", inPty, "/dev/null").redirectErrorStream(true).start();
        try (OutputStream keys = script.getOutputStream()) {
            Screen screen = new Screen(script.getInputStream());
            screen.await("jkvm: shell ready", 400);
            screen.await("# ", 60); // busybox sh's prompt
            keys.write("echo $((6 * 7))\r".getBytes(StandardCharsets.US_ASCII));
            keys.flush();
            screen.await("\n42", 60);
            keys.write(new byte[]{0x01, 'x'}); // Ctrl-A X
            keys.flush();
            screen.await("jkvm-status=0", 60);
            assertTrue(script.waitFor(30, TimeUnit.SECONDS), "the pty's shell ended");
            String after = screen.text().substring(screen.text().indexOf("jkvm-status=0"));
            assertTrue(after.lines().anyMatch("icanon"::equals) && after.lines().anyMatch("echo"::equals),
                    () -> "the terminal is back in canonical mode with echo:\n" + after);
        } finally {
            script.destroyForcibly().waitFor();
        }
    }
}

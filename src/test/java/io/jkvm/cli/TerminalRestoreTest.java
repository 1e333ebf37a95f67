package io.jkvm.cli;

import io.jkvm.testing.ChildJvm;
import io.jkvm.testing.Pty;
import io.jkvm.testing.TestGuests;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * `jkvm run` on a real pseudo-terminal puts the terminal in raw mode and back on every way out: the guest's own exit,
 * a guest jkvm ends with an error (status 2), and SIGTERM while the guest waits for a key (Ctrl-A X is
 * LinuxConsoleTest's). After each, the shell that ran jkvm finds its terminal canonical and echoing again.
 */
class TerminalRestoreTest {
    private static void assertRestoredAfter(String guest, int status) throws Exception {
        String jkvm = Pty.shellCommand(ChildJvm.jkvm("run", "--backend", "emulator", "--image", TestGuests.path(guest).toString()));
        try (Pty pty = new Pty("stty -a | grep -q -- ' icanon' && " + jkvm + "; echo \"jkvm-status=$?\"; " + Pty.TERMINAL_MODES)) {
            pty.await("jkvm-status=" + status, 60);
            assertTrue(pty.waitFor(30), "the pty's shell ended");
            assertTrue(pty.restoredAfter("jkvm-status="), () -> guest + ": the terminal is canonical with echo again:\n" + pty.text());
        }
    }

    @Test
    @Timeout(120)
    void theGuestsOwnExitRestoresTheTerminal() throws Exception {
        assertRestoredAfter("exit42.elf", (42 << 1) | 1);
    }

    @Test
    @Timeout(120)
    void aGuestEndedWithAnErrorRestoresTheTerminal() throws Exception {
        assertRestoredAfter("triple_fault.elf", 2);
    }

    @Test
    @Timeout(120)
    void sigtermWhileTheGuestWaitsForAKeyRestoresTheTerminal() throws Exception {
        String jkvm = Pty.shellCommand(ChildJvm.jkvm("run", "--backend", "emulator", "--image", TestGuests.path("echo.elf").toString()));
        try (Pty pty = new Pty(jkvm + "; echo \"jkvm-status=$?\"; " + Pty.TERMINAL_MODES)) {
            pty.await("echo> ", 60); // the guest has the console: the terminal is raw
            ProcessHandle java = pty.descendants().filter(p -> p.info().command().orElse("").endsWith("/java")).findFirst()
                    .orElseThrow(() -> new AssertionError("no jkvm process under the pty"));
            assertTrue(new ProcessBuilder("kill", "-TERM", Long.toString(java.pid())).start().waitFor() == 0);
            pty.await("jkvm-status=", 60);
            assertTrue(pty.waitFor(30), "the pty's shell ended");
            assertTrue(pty.restoredAfter("jkvm-status="), () -> "the terminal is canonical with echo again:\n" + pty.text());
        }
    }
}

package io.jkvm.linux;

import io.jkvm.testing.CHeaders;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The kernel's struct termios, TCGETS/TCSETS and the flags raw mode clears, as gcc sees them in asm/termbits.h; and the
 * terminal check made with TCGETS.
 */
class TerminalLayoutTest {
    @TempDir
    Path dir;

    @Test
    void termiosIsTheKernelHeadersOwn() throws Exception {
        Map<String, Long> ours = new LinkedHashMap<>();
        ours.put("sizeof(struct termios)", (long) Terminal.TERMIOS_SIZE);
        ours.put("offsetof(struct termios, c_iflag)", (long) Terminal.C_IFLAG);
        ours.put("offsetof(struct termios, c_oflag)", (long) Terminal.C_OFLAG);
        ours.put("offsetof(struct termios, c_cflag)", (long) Terminal.C_CFLAG);
        ours.put("offsetof(struct termios, c_lflag)", (long) Terminal.C_LFLAG);
        ours.put("offsetof(struct termios, c_cc)", (long) Terminal.C_CC);
        ours.put("VTIME", (long) Terminal.VTIME);
        ours.put("VMIN", (long) Terminal.VMIN);
        ours.put("TCGETS", Terminal.TCGETS);
        ours.put("TCSETS", Terminal.TCSETS);
        for (String flag : List.of("IGNBRK", "BRKINT", "PARMRK", "ISTRIP", "INLCR", "IGNCR", "ICRNL", "IXON", "ISIG", "ICANON",
                "ECHO", "ECHONL", "IEXTEN", "CSIZE", "PARENB", "CS8")) {
            ours.put(flag, (long) (int) constant(flag));
        }
        assertEquals(ours, CHeaders.evaluate(dir, List.of("asm/termbits.h", "asm/ioctls.h"), ours.keySet()));
    }

    /** isTerminal asks TCGETS: a pseudo-terminal's master side answers it, a regular file does not. */
    @Test
    void aPseudoTerminalIsATerminalAndAFileIsNot() throws Exception {
        Path regular = Files.writeString(dir.resolve("f"), "x");
        try (Fd ptmx = Fd.open("/dev/ptmx", 2); Fd file = Fd.open(regular.toString(), 0)) { // O_RDWR, O_RDONLY
            assertTrue(Terminal.isTerminal(ptmx.value()));
            assertFalse(Terminal.isTerminal(file.value()));
        }
        assertFalse(Terminal.isTerminal(-1), "a closed descriptor");
    }

    private static int constant(String name) throws ReflectiveOperationException {
        return Terminal.class.getDeclaredField(name).getInt(null);
    }
}

package io.jkvm.cli;

import io.jkvm.testing.Cli;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The command model Main builds for each command line: only the subcommand named first, or all of them (help, the
 * top-level options, anything else), with the same help and errors either way.
 */
class SubcommandsTest {
    @Test
    void topLevelHelpListsEveryVisibleCommandInOrder() {
        Cli.Result r = Cli.run("--help");
        assertEquals(0, r.status(), r.err());
        assertTrue(r.out().matches("(?s).*Commands:\\s+run .*\\n\\s+restore .*\\n\\s+snapshot .*\\n\\s+ctl .*\\n(.*\\n)?\\s+info .*\\n(.*\\n)?\\s+help .*"),
                r.out());
    }

    @Test
    void helpNamesAnotherCommand() {
        Cli.Result r = Cli.run("help", "snapshot");
        assertEquals(0, r.status(), r.err());
        assertTrue(r.out().startsWith("Usage: jkvm snapshot "), r.out());
    }

    @Test
    void aSubcommandAloneStillHasItsOwnSubcommands() {
        Cli.Result r = Cli.run("snapshot", "--help");
        assertEquals(0, r.status(), r.err());
        assertTrue(r.out().startsWith("Usage: jkvm snapshot ") && r.out().contains("Commands:"), r.out());
    }

    @Test
    void anUnknownCommandIsOneLineAndStatusTwo() {
        Cli.Result r = Cli.run("snapshots", "check");
        assertEquals(Main.ERROR, r.status());
        assertEquals("jkvm: Unmatched arguments from index 0: 'snapshots', 'check' (see jkvm --help)", r.err().strip());
    }
}

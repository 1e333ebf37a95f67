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

    /** A command's required positional parameters, missing, are one line each, as picocli words them. */
    @Test
    void missingParametersAreOneLineAndStatusTwo() {
        Cli.Result ctl = Cli.run("ctl");
        assertEquals(Main.ERROR, ctl.status());
        assertEquals("jkvm: Missing required parameters: 'PATH', 'COMMAND' (see jkvm ctl --help)", ctl.err().strip());
        Cli.Result command = Cli.run("ctl", "/run/vm.sock");
        assertEquals("jkvm: Missing required parameter: 'COMMAND' (see jkvm ctl --help)", command.err().strip());
        Cli.Result check = Cli.run("snapshot", "check");
        assertEquals(Main.ERROR, check.status());
        assertEquals("jkvm: Missing required parameter: 'FILE' (see jkvm snapshot check --help)", check.err().strip());
    }

    @Test
    void anUnknownCommandIsOneLineAndStatusTwo() {
        Cli.Result r = Cli.run("snapshots", "check");
        assertEquals(Main.ERROR, r.status());
        assertEquals("jkvm: Unmatched arguments from index 0: 'snapshots', 'check' (see jkvm --help)", r.err().strip());
    }
}

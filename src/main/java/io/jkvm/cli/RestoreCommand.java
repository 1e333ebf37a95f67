package io.jkvm.cli;

import io.jkvm.machine.Machine;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.nio.file.Path;
import java.util.concurrent.Callable;

/** `jkvm restore SNAPSHOT`: runs a machine from a snapshot, on whichever backend can run its CPU model here. */
@Command(name = "restore", mixinStandardHelpOptions = true, versionProvider = Main.Version.class,
        description = {"Restores a snapshot and runs the guest on from where it was taken.",
                "Guest RAM is mapped from the memory file beside the snapshot. Before anything runs, the snapshot's CPU",
                "model is checked against this host: with --backend auto it runs on KVM when KVM here offers its features",
                "and XSAVE layout, else on the software core (one line says why). Exit status as for jkvm run."})
final class RestoreCommand implements Callable<Integer> {
    @CommandLine.ParentCommand
    Main main;

    @CommandLine.Mixin
    MachineOptions options;

    @Parameters(index = "0", paramLabel = "SNAPSHOT", description = "the snapshot file (its memory file sits beside it)")
    Path snapshot;

    @Option(names = "--cpu", paramLabel = "MODEL",
            description = {"run it with this CPU model (as jkvm run --cpu) instead of the one it was saved with; refused in",
                    "one line where the guest would lose a feature, an XCR0 bit or an MXCSR bit it had, or its vendor"})
    String cpuModel;

    @Override
    public Integer call() {
        byte[] key = options.migrationKey();
        Machine machine = Machine.restore(snapshot, options.backend, cpuModel, options.kvmPath, options.trace,
                main.console());
        return options.end(options.serve(machine, key, main, () -> { }), main);
    }
}

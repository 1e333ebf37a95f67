package io.jkvm.cli;

import io.jkvm.api.ApiServer;
import io.jkvm.machine.Machine;
import io.jkvm.machine.Outcome;
import io.jkvm.machine.RestoreSlot;
import picocli.CommandLine;
import picocli.CommandLine.Model.CommandSpec;

import java.nio.file.Path;
import java.util.concurrent.Callable;

import static io.jkvm.cli.CommandModel.command;
import static io.jkvm.cli.CommandModel.flag;
import static io.jkvm.cli.CommandModel.given;
import static io.jkvm.cli.CommandModel.optional;
import static io.jkvm.cli.CommandModel.option;
import static io.jkvm.cli.CommandModel.parameter;
import static io.jkvm.cli.CommandModel.value;

/** `jkvm restore SNAPSHOT`: runs a machine from a snapshot, on whichever backend can run its CPU model here. */
final class RestoreCommand implements Callable<Integer> {
    private final Main main;
    /** This command's model, which holds the values the command line gave. */
    final CommandSpec spec;
    private final MachineOptions options;

    private Path snapshot;
    private String cpuModel;
    private boolean noMemoryCheck;

    RestoreCommand(Main main) {
        this.main = main;
        spec = command(this, "restore", "Restores a snapshot and runs the guest on from where it was taken.",
                "Guest RAM is mapped from the memory file beside the snapshot. Before anything runs, the snapshot's CPU",
                "model is checked against this host: with --backend auto it runs on KVM when KVM here offers its features",
                "and XSAVE layout, else on the software core (one line says why). Exit status as for jkvm run.",
                "With --api-socket PATH and no SNAPSHOT, it warms its restore path, opens the socket and waits for a",
                "restore command (jkvm ctl PATH restore FILE): a restore into a process that is already running.");
        options = new MachineOptions(spec);
        spec.addPositional(optional(0, "SNAPSHOT", Path.class,
                "the snapshot file (its memory file sits beside it); none with --api-socket: wait for a restore command"));
        spec.addOption(option("--cpu", "MODEL", String.class,
                "run it with this CPU model (as jkvm run --cpu) instead of the one it was saved with; refused in",
                "one line where the guest would lose a feature, an XCR0 bit or an MXCSR bit it had, or its vendor").build());
        spec.addOption(flag("--no-memory-check",
                "do not read the memory file for its checksum before the guest runs (the snapshot's own CRCs",
                "are still checked): a faster restore, for snapshots on storage you trust"));
    }

    @Override
    public Integer call() {
        options.read();
        snapshot = parameter(spec, 0);
        cpuModel = value(spec, "--cpu");
        noMemoryCheck = given(spec, "--no-memory-check");
        options.checkSandboxOptions();
        byte[] key = options.migrationKey();
        if (snapshot == null) {
            if (options.apiSocket == null) {
                throw new CommandLine.ParameterException(spec.commandLine(),
                        "restore needs a SNAPSHOT, or --api-socket PATH to wait for a restore command on it");
            }
            if (noMemoryCheck) {
                throw new CommandLine.ParameterException(spec.commandLine(),
                        "--no-memory-check goes with a SNAPSHOT; a restore command says it with \"checkMemory\": false");
            }
            return waitForRestore(key);
        }
        Machine machine = Machine.restore(snapshot, options.backend, cpuModel, options.kvmPath, options.trace,
                main.console(), !noMemoryCheck);
        return options.end(options.serve(machine, key, main, () -> { }), main);
    }

    /** Warms up, serves the socket empty until a restore command fills it, then runs that machine to its end. */
    private int waitForRestore(byte[] key) {
        RestoreSlot slot = new RestoreSlot(options.backend, cpuModel, options.kvmPath, options.trace, main.console());
        String warmUp = slot.warmUp();
        try (ApiServer api = ApiServer.start(options.apiSocket, options.sandboxed() ? new SandboxedControl(slot) : slot)) {
            main.err.println("jkvm: waiting for a restore command on " + api.socket() + " (" + warmUp.replaceAll("\\p{Cntrl}+", " ") + ")");
            main.err.flush();
            Machine machine = slot.awaitMachine();
            if (machine == null) {
                return options.end(new Outcome.Exited(0, "stopped through the control socket"), main);
            }
            return options.end(options.serve(machine, key, main, () -> { }, true), main);
        }
    }
}

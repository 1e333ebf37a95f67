package io.jkvm.cli;

import io.jkvm.api.ApiServer;
import io.jkvm.machine.Machine;
import io.jkvm.machine.Outcome;
import io.jkvm.machine.RestoreSlot;
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
                "and XSAVE layout, else on the software core (one line says why). Exit status as for jkvm run.",
                "With --api-socket PATH and no SNAPSHOT, it warms its restore path, opens the socket and waits for a",
                "restore command (jkvm ctl PATH restore FILE): a restore into a process that is already running."})
final class RestoreCommand implements Callable<Integer> {
    @CommandLine.ParentCommand
    Main main;

    @CommandLine.Mixin
    MachineOptions options;

    @Parameters(index = "0", arity = "0..1", paramLabel = "SNAPSHOT",
            description = "the snapshot file (its memory file sits beside it); none with --api-socket: wait for a restore command")
    Path snapshot;

    @Option(names = "--cpu", paramLabel = "MODEL",
            description = {"run it with this CPU model (as jkvm run --cpu) instead of the one it was saved with; refused in",
                    "one line where the guest would lose a feature, an XCR0 bit or an MXCSR bit it had, or its vendor"})
    String cpuModel;

    @Option(names = "--no-memory-check",
            description = {"do not read the memory file for its checksum before the guest runs (the snapshot's own CRCs",
                    "are still checked): a faster restore, for snapshots on storage you trust"})
    boolean noMemoryCheck;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() {
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
            return options.end(options.serve(machine, key, main, () -> { }, false), main);
        }
    }
}

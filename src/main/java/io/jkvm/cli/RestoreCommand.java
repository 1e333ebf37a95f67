package io.jkvm.cli;

import io.jkvm.api.ApiServer;
import io.jkvm.machine.Backend;
import io.jkvm.machine.Console;
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

    @Parameters(index = "0", paramLabel = "SNAPSHOT", description = "the snapshot file (its memory file sits beside it)")
    Path snapshot;

    @Option(names = "--backend", paramLabel = "auto|kvm|emulator", defaultValue = "auto",
            converter = RunCommand.BackendConverter.class,
            description = "vCPU backend: kvm, the software core (emulator), or auto (default: ${DEFAULT-VALUE})")
    Backend backend;

    @Option(names = "--api-socket", paramLabel = "PATH",
            description = "serve the control API on this Unix socket (owner-only): pause, resume, info, snapshot, stop; see jkvm ctl")
    Path apiSocket;

    @Option(names = "--exit-status-file", paramLabel = "FILE", description = "write the whole exit status there, as jkvm run does")
    Path exitStatusFile;

    @Option(names = "--trace", description = "report on stderr every instruction the software core does not implement (#UD)")
    boolean trace;

    @Option(names = "--kvm", paramLabel = "PATH", defaultValue = "/dev/kvm", hidden = true,
            description = "the KVM device (default: ${DEFAULT-VALUE})")
    String kvmPath;

    @Override
    public Integer call() {
        try (Machine machine = Machine.restore(snapshot, backend, kvmPath, trace, new Console(main.out, main.in, main.err));
             ApiServer api = apiSocket == null ? null : ApiServer.start(apiSocket, machine)) {
            return RunCommand.runToTheEnd(machine, main, exitStatusFile);
        }
    }
}

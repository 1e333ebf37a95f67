package io.jkvm.cli;

import io.jkvm.api.ApiServer;
import io.jkvm.emu.EmulatedVcpu;
import io.jkvm.machine.Backend;
import io.jkvm.machine.Machine;
import io.jkvm.machine.MachineException;
import io.jkvm.machine.Outcome;
import io.jkvm.migration.MigrationKey;
import io.jkvm.sandbox.Sandbox;
import io.jkvm.x86.VirtualCpu;
import picocli.CommandLine;
import picocli.CommandLine.Model.CommandSpec;

import java.nio.file.Path;
import java.util.Optional;

import static io.jkvm.cli.CommandModel.flag;
import static io.jkvm.cli.CommandModel.given;
import static io.jkvm.cli.CommandModel.kvmDevice;
import static io.jkvm.cli.CommandModel.option;
import static io.jkvm.cli.CommandModel.optionWithDefault;
import static io.jkvm.cli.CommandModel.value;

/** The options of every command that runs a machine (jkvm run, jkvm restore): where it runs and how it is reached. */
final class MachineOptions {
    private final CommandSpec spec;

    Backend backend;
    Path apiSocket;
    private Path migrationKeyFile;
    private Path exitStatusFile;
    boolean trace;
    private boolean coreStats;
    private Switch sandbox;
    private String user;
    String kvmPath;

    /** Adds these options to {@code spec}, the command's model. */
    MachineOptions(CommandSpec spec) {
        this.spec = spec;
        spec.addOption(optionWithDefault("--backend", "auto|kvm|emulator", Backend.class, "auto",
                "vCPU backend: kvm, the software core (emulator), or auto (default: ${DEFAULT-VALUE})")
                .converters(new RunCommand.BackendConverter()).build());
        spec.addOption(option("--api-socket", "PATH", Path.class,
                "serve the control API on this Unix socket (owner-only): pause, resume, info, snapshot, stop, migrate; see jkvm ctl")
                .build());
        spec.addOption(option("--migration-key", "FILE", Path.class,
                "the pre-shared key (32 bytes or more, mode 600) a migration's two ends authenticate and encrypt with").build());
        spec.addOption(option("--exit-status-file", "FILE", Path.class,
                "write the whole exit status there when the run ends (a debug-exit value of 0x80 or more does"
                        + " not fit the 8 bits an exit status keeps: (v << 1) | 1 in decimal, then a newline)").build());
        spec.addOption(flag("--trace",
                "report on stderr every instruction the software core does not implement (#UD), with its bytes"));
        spec.addOption(flag("--core-stats",
                "when the run ends, say on stderr per vCPU where the software core ran its instructions (compiled regions,"
                        + " decoded blocks, one at a time) and what its block caches did"));
        spec.addOption(option("--sandbox", "auto|on|off", Switch.class,
                "confine jkvm before the guest's first instruction (docs/security.md): no_new_privs, no capabilities,",
                "an unprivileged user when started as root, and a seccomp filter that allows only the system calls a running",
                "jkvm makes; auto (the default): on unless the run needs what the sandbox refuses (--api-socket's snapshots",
                "and migrations, a kernel's reboot without --no-reboot, --handoff-every), which --trace names")
                .defaultValue("auto").converters(new SandboxSwitch()).build());
        spec.addOption(option("--user", "NAME", String.class,
                "with --sandbox, started as root: the user jkvm becomes (default: " + Sandbox.DEFAULT_USER + ")").build());
        spec.addOption(kvmDevice());
    }

    /** Takes the values the command line gave these options (or their defaults): first thing when the command runs. */
    void read() {
        backend = value(spec, "--backend");
        apiSocket = value(spec, "--api-socket");
        migrationKeyFile = value(spec, "--migration-key");
        exitStatusFile = value(spec, "--exit-status-file");
        trace = given(spec, "--trace");
        coreStats = given(spec, "--core-stats");
        sandbox = value(spec, "--sandbox");
        user = value(spec, "--user");
        kvmPath = value(spec, "--kvm");
    }

    /** The --migration-key file's key, read before anything is built (a bad key file is one line); null without one. */
    byte[] migrationKey() {
        return migrationKeyFile == null ? null : MigrationKey.read(migrationKeyFile);
    }

    /**
     * Runs a built machine to its end with what these options give it: the control socket, the migration key, the
     * progress line on a terminal; {@code onceServing} runs first, with the socket up. Returns how it ended; the
     * machine is closed either way.
     */
    Outcome serve(Machine machine, byte[] key, Main main, Runnable onceServing) {
        return serve(machine, key, main, onceServing, false);
    }

    /**
     * As {@link #serve(Machine, byte[], Main, Runnable)}; {@code servedAlready}: a socket the command serves already
     * reaches the machine (a restore command's), and --api-socket is not opened again.
     */
    Outcome serve(Machine machine, byte[] key, Main main, Runnable onceServing, boolean servedAlready) {
        try (machine; ApiServer api = !servedAlready && apiSocket != null
                ? ApiServer.start(apiSocket, sandboxed() ? new SandboxedControl(machine) : machine) : null) {
            onceServing.run();
            machine.migrationKey(key);
            machine.showMigrationProgressOn(main.progressTerminal());
            if (sandboxed()) {
                enterSandbox(main, api != null || servedAlready);
            } else if (sandbox == Switch.AUTO && trace && Main.ownsProcess()) {
                main.err.println("jkvm: sandbox: off (auto): " + autoOff());
            }
            Outcome outcome = machine.run();
            if (coreStats) {
                reportCores(machine, main);
            }
            return outcome;
        }
    }

    /** --core-stats: a line for each vCPU, from its software core's counts (a vCPU on KVM has none). */
    private static void reportCores(Machine machine, Main main) {
        for (VirtualCpu vcpu : machine.vcpus()) {
            main.err.println("jkvm: vcpu " + vcpu.id() + (vcpu instanceof EmulatedVcpu core
                    ? " core: " + core.coreStats().summary() : " ran on KVM: the software core counted nothing"));
        }
        main.err.flush();
    }

    /**
     * Everything the run opens is open: what is left to open at the end is opened now, then the sandbox goes up.
     * {@code servesSocket}: a control socket reaches the machine.
     */
    private void enterSandbox(Main main, boolean servesSocket) {
        if (exitStatus() != null) {
            exitStatus().openBeforeSandbox();
        }
        StartAhead.await();
        Sandbox.Entered in = Sandbox.enter(Optional.ofNullable(user), servesSocket);
        if (trace) {
            main.err.printf("jkvm: sandbox: running as %s (uid %d), no_new_privs, no capabilities, seccomp filter of %d"
                    + " system calls (%d BPF instructions)%n", in.user(), in.uid(), in.allowedCalls(), in.filterInstructions());
        }
    }

    /** What of this run the sandbox would take away, as the command found it (null: nothing); see {@link #autoOff()}. */
    private String takenAway;

    /** For --sandbox auto: {@code why} is a part of this run the sandbox refuses, so auto leaves it off. */
    void sandboxWouldTakeAway(String why) {
        if (takenAway == null) {
            takenAway = why;
        }
    }

    /**
     * Whether the sandbox goes up before the guest's first instruction. Under auto only in a process of jkvm's own
     * (Main.main): a sandbox holds the whole process, and in-process callers (the tests) share theirs.
     */
    boolean sandboxed() {
        return switch (sandbox) {
            case ON -> true;
            case OFF -> false;
            case AUTO -> Main.ownsProcess() && autoOff() == null;
        };
    }

    /** Under --sandbox auto in a process of jkvm's own, why the sandbox stays off; null when it goes up. */
    private String autoOff() {
        if (apiSocket != null) {
            return "--api-socket takes snapshots and migrations, which the sandbox refuses (--sandbox on confines the run and refuses them)";
        }
        return takenAway;
    }

    /** --user with --sandbox off would switch nobody: it is refused before anything is built. */
    void checkSandboxOptions() {
        if (user != null && sandbox == Switch.OFF) {
            throw new MachineException("--user " + user + " is the user --sandbox becomes: drop --sandbox off");
        }
    }

    private ExitStatusFile exitStatus;

    /** --exit-status-file's writer (which the sandbox opens early); null without the option. */
    private ExitStatusFile exitStatus() {
        if (exitStatus == null && exitStatusFile != null) {
            exitStatus = new ExitStatusFile(exitStatusFile);
        }
        return exitStatus;
    }

    /** The run's end: its one line, and the exit status (the whole one in --exit-status-file). */
    int end(Outcome outcome, Main main) {
        return RunCommand.end(outcome, main, exitStatus());
    }

    /** --sandbox's value (picocli would take a boolean option as a flag without a value). */
    enum Switch {
        AUTO, ON, OFF
    }

    static final class SandboxSwitch implements CommandLine.ITypeConverter<Switch> {
        @Override
        public Switch convert(String value) {
            return switch (value) {
                case "auto" -> Switch.AUTO;
                case "on" -> Switch.ON;
                case "off" -> Switch.OFF;
                default -> throw new CommandLine.TypeConversionException("--sandbox " + value + " is not auto, on or off");
            };
        }
    }
}

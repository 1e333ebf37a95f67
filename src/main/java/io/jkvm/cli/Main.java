package io.jkvm.cli;

import picocli.CommandLine;

import java.io.InputStream;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.util.List;
import java.util.function.Function;

/** The jkvm command line: run, restore, snapshot, ctl, info. Errors are one line on stderr and exit status 2. */
public final class Main implements Runnable {
    /** A subcommand: its name, and what picocli adds for it (a model made in code, or picocli's annotated help). */
    private record Subcommand(String name, Function<Main, Object> command) {
    }

    /**
     * The subcommands, in the order help lists them. A command line naming one first builds only that one: picocli
     * makes each command's model at every start, which the others would cost for nothing. jkvm's commands are models
     * made in code ({@link CommandModel}), which a launch builds in a fifth of the time an annotated one takes; help
     * is picocli's own.
     */
    private static final List<Subcommand> SUBCOMMANDS = List.of(
            new Subcommand("run", m -> new RunCommand(m).spec),
            new Subcommand("restore", m -> new RestoreCommand(m).spec),
            new Subcommand("snapshot", m -> new SnapshotCommand(m).spec),
            new Subcommand("ctl", m -> new CtlCommand(m).spec),
            new Subcommand("info", m -> new InfoCommand(m).spec),
            new Subcommand("aot-training", m -> new AotTrainingCommand(m).spec),
            new Subcommand("help", m -> CommandLine.HelpCommand.class));

    /** Exit status for bad input and failed guests. */
    public static final int ERROR = 2;

    /** The top level's model: the command line with no subcommand prints its usage. */
    CommandLine.Model.CommandSpec spec;

    final PrintStream out;
    final PrintStream err;
    final InputStream in;

    /** Where a live migration's progress line is drawn: stderr when it is this process's own and a terminal. */
    PrintStream progressTerminal() {
        return err == System.err && io.jkvm.linux.Terminal.isTerminal(io.jkvm.linux.Terminal.STDERR) ? err : null;
    }

    /** The terminal's raw mode while a guest has the console; put back on every way out (see {@link #console()}). */
    private io.jkvm.linux.Terminal.RawMode rawMode;

    /**
     * The guest's serial console on this process's streams. When stdin is this process's own terminal, it goes into
     * raw mode (keys reach the guest as typed, Ctrl-C included; Ctrl-A X quits), restored when the command ends and,
     * on SIGTERM or SIGINT, at JVM shutdown.
     */
    synchronized io.jkvm.machine.Console console() {
        boolean terminal = in == System.in && io.jkvm.linux.Terminal.isTerminal(io.jkvm.linux.Terminal.STDIN);
        if (terminal && rawMode == null) {
            io.jkvm.linux.Terminal.RawMode raw = io.jkvm.linux.Terminal.raw(io.jkvm.linux.Terminal.STDIN);
            rawMode = raw;
            Runtime.getRuntime().addShutdownHook(new Thread(raw::close, "terminal-restore"));
        }
        return new io.jkvm.machine.Console(out, in, err, terminal);
    }

    /** Puts the terminal back as it was, if a console took it. */
    synchronized void restoreTerminal() {
        if (rawMode != null) {
            rawMode.close();
        }
    }

    Main(PrintStream out, PrintStream err, InputStream in) {
        this.out = out;
        this.err = err;
        this.in = in;
    }

    /** Whether this JVM was started as jkvm (main), not a program calling {@link #execute} in its own process. */
    private static volatile boolean processEntry;

    /** Whether jkvm owns this process: started through {@link #main}, so confining the process confines jkvm alone. */
    static boolean ownsProcess() {
        return processEntry;
    }

    public static void main(String[] args) {
        processEntry = true;
        StartAhead.begin(args);
        int status;
        try {
            status = execute(args, System.out, System.err, System.in);
        } catch (Throwable e) { // an Error picocli does not catch: still one line and status 2, never a stack trace
            System.out.flush();
            System.err.println("jkvm: " + oneLine(e));
            status = ERROR;
        }
        System.exit(status);
    }

    /** Runs the CLI with the given streams and returns the exit status, so tests can drive the real entry point. */
    public static int execute(String[] args, PrintStream out, PrintStream err, InputStream in) {
        Main main = new Main(out, err, in);
        try {
            return execute(main, args, out, err);
        } finally {
            main.restoreTerminal();
        }
    }

    private static int execute(Main main, String[] args, PrintStream out, PrintStream err) {
        main.spec = CommandModel.command(main, "jkvm", "A KVM virtual machine monitor in Java.");
        CommandLine cli = new CommandLine(main.spec);
        String first = args.length > 0 ? args[0] : "";
        // "help" names another command after it: it needs them all, as the top level's own options and errors do
        boolean named = !first.equals("help") && SUBCOMMANDS.stream().anyMatch(c -> c.name().equals(first));
        for (Subcommand c : SUBCOMMANDS) {
            if (!named || c.name().equals(first)) {
                cli.addSubcommand(c.name(), c.command().apply(main));
            }
        }
        cli.setOut(new PrintWriter(out, true));
        cli.setErr(new PrintWriter(err, true));
        cli.setParameterExceptionHandler((e, a) -> {
            String command = e.getCommandLine().getCommandSpec().qualifiedName(); // "jkvm snapshot check"
            err.println("jkvm: " + oneLine(e) + " (see " + command + " --help)");
            err.flush();
            return ERROR;
        });
        cli.setExecutionExceptionHandler((e, c, p) -> {
            err.println("jkvm: " + oneLine(e));
            err.flush();
            return ERROR;
        });
        try {
            return cli.execute(args);
        } catch (Error e) { // what picocli lets through (it handles Exceptions): one line, status 2
            err.println("jkvm: " + oneLine(e));
            err.flush();
            return ERROR;
        }
    }

    /** The message of an error, on one line; a bug without a message still names its type. */
    static String oneLine(Throwable e) {
        if (e instanceof OutOfMemoryError) {
            return "jkvm ran out of Java heap (" + e.getMessage() + "): give the JVM more with JAVA_TOOL_OPTIONS=-Xmx...";
        }
        String m = e.getMessage();
        if (m == null || m.isBlank()) {
            m = e.getClass().getSimpleName() + " (a jkvm bug: please report it)";
        }
        return m.replaceAll("\\p{Cntrl}+", " ").strip(); // a path or value with CR or LF in it stays on one line
    }

    @Override
    public void run() {
        spec.commandLine().usage(out);
    }

    /** Version from the jar manifest, or "development" when run from classes. */
    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            String v = Main.class.getPackage().getImplementationVersion();
            return new String[]{"jkvm " + (v == null ? "development build" : v)
                    + " (Java " + Runtime.version() + ", " + System.getProperty("os.arch") + ")"};
        }
    }
}

package io.jkvm.cli;

import io.jkvm.boot.Initramfs;
import io.jkvm.emu.Execution;
import io.jkvm.machine.GuestImage;
import io.jkvm.machine.MachineConfig;
import io.jkvm.machine.MachineException;
import io.jkvm.machine.RestoreSlot;
import io.jkvm.sandbox.Sandbox;
import picocli.CommandLine.Model.CommandSpec;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.function.Function;

/**
 * The training run behind the JDK's ahead-of-time cache (JEP 483/514), which scripts/jkvm makes once per build with
 * {@code -XX:AOTCacheOutput}: the commands a user starts most, in one JVM, so their classes come loaded and linked in
 * every later start (without this run's method profiles: scripts/lib.sh says why). It also runs the core's block
 * compiler, a training guest through the instruction groups the demo leaves out, the threads a machine's launch starts
 * ahead ({@link StartAhead}: their lambdas then come linked from the cache, not spun at each launch) and every step of
 * going into the sandbox short of confining this process, which must still write the cache when it exits. With
 * {@code --run-only} it runs only a guest's launch, for the cache a {@code run} starts from: a JVM loads and links every
 * class of its cache as it starts, and the snapshot and info commands bring Jackson's 634, some 20 ms of each launch.
 * With {@code --linux KERNEL} it boots that kernel on the core instead of the bundled and training guests, into the user
 * space of jkvm's training /init, for the cache a Linux guest's run starts from, made with the JIT's profiles (JEP 515):
 * the JIT compiles the core's methods a boot runs sooner and from a boot's profiles (a boot some 10% shorter; the same
 * cache without the profiles is level with the run cache), and those of user space spare the JIT recompiles when a
 * guest's programs run (a boot's deoptimizations a third fewer, docs/benchmarks.md); the bundled guest's profiles
 * would steer C2 badly on the regions of other guests.
 * Hidden: it is the launcher's.
 */
final class AotTrainingCommand implements Callable<Integer> {
    private final Main main;
    /** This command's model: hidden from help. */
    final CommandSpec spec;

    AotTrainingCommand(Main main) {
        this.main = main;
        spec = CommandSpec.wrapWithoutInspection(this).name("aot-training");
        spec.usageMessage().hidden(true).description("Runs jkvm's common start paths once (for the JDK's AOT cache); prints what it ran.");
        spec.addOption(CommandModel.flag("--run-only", "only a guest's launch (run), not snapshot, restore or info"));
        spec.addOption(CommandModel.option("--linux", "KERNEL", Path.class,
                "only a boot of this Linux kernel on the core into jkvm's training user space, and KVM's launch").build());
    }

    @Override
    public Integer call() throws IOException {
        Path linux = CommandModel.value(spec, "--linux");
        if (linux != null && !Files.isRegularFile(linux)) {
            throw new MachineException("--linux " + linux + ": no such file (or not a regular file): give the Linux kernel to train on");
        }
        List<String> ran = new ArrayList<>();
        boolean runOnly = linux != null || CommandModel.given(spec, "--run-only");
        // only the snapshot's steps need a directory: a temporary one's name is the JDK's SecureRandom, whose
        // providers a guest's launch would otherwise load with its start-up cache
        Path dir = runOnly ? null : Files.createTempDirectory("jkvm-aot-training");
        try {
            // --sandbox off: this JVM must still start the JDK's cache assembler (a child process) when it exits
            if (linux == null) {
                ran.add(step("run", "--backend", "emulator", "--sandbox", "off"));
                ran.add(everyBlockCompiled(() -> step("run", "--backend", "emulator", "--sandbox", "off")));
                ran.add(trainingGuest());
            } else {
                ran.add(linuxBoot(linux));
            }
            ran.add(step("run", "--backend", "auto", "--sandbox", "off")); // KVM where it can run the guest; else the core's line
            if (!runOnly) {
                Path snapshot = dir.resolve("bundled.snap");
                RestoreSlot.writeBundledSnapshot(snapshot, MachineConfig.defaults().kvmPath());
                ran.add(step("snapshot", "check", snapshot.toString()));
                ran.add(step("restore", snapshot.toString(), "--backend", "emulator", "--trace", "--sandbox", "off"));
                ran.add(step("info"));
                ran.add(step("info", "--json"));
            }
            io.jkvm.linux.Terminal.isTerminal(io.jkvm.linux.Terminal.STDIN); // as a run's console asks of its own stdin
            StartAhead.begin(new String[] {"run", "--backend", "emulator"}); // its threads' lambdas, linked in the cache
            StartAhead.await();
            ran.add("started ahead");
            Sandbox.rehearse(!runOnly); // a run serving a socket (--api-socket, --incoming) loads NIO's from the jar
            ran.add("sandbox rehearsed");
        } finally {
            if (dir != null) {
                try (var files = Files.list(dir)) {
                    for (Path p : files.toList()) {
                        Files.deleteIfExists(p);
                    }
                }
                Files.deleteIfExists(dir);
            }
        }
        main.out.println("aot-training: " + String.join("; ", ran));
        return 0;
    }

    /**
     * A step run with the core compiling each block before its first run, so the block compiler's classes and the
     * JDK's class-file API are in the cache too: a long run's first compile comes a fraction of a second into it.
     */
    private static String everyBlockCompiled(java.util.function.Supplier<String> step) {
        String before = System.getProperty(Execution.PROPERTY);
        System.setProperty(Execution.PROPERTY, "compiled");
        try {
            return step.get() + " (every block compiled)";
        } finally {
            if (before == null) {
                System.clearProperty(Execution.PROPERTY);
            } else {
                System.setProperty(Execution.PROPERTY, before);
            }
        }
    }

    /**
     * The training guest (src/main/guests/training.S) on the core: the locked, SSE, wide multiply and string paths, and
     * regions compiled on the compiler thread, which the demo does not reach. From a file beside the JDK's temporary
     * files named by this process's id (a temporary file's random name is SecureRandom's, whose providers would then
     * come with every launch), removed after the run.
     */
    private static String trainingGuest() throws IOException {
        // with a --cpu edit, as a user's +feature makes one: the lambdas that look up and check a feature by name
        return withFile("training.elf", GuestImage.bundledBytes("training.elf", "the training guest"), image ->
                step("run", "--backend", "emulator", "--sandbox", "off", "--cpu", "host,+ssse3", "--image", image));
    }

    /**
     * A boot of {@code kernel} with two vCPUs, as a Linux guest's SMP paths run, into the user space of an initramfs
     * whose /init is jkvm's training program (src/main/guests/linux_init.S), which powers the machine off.
     */
    private static String linuxBoot(Path kernel) throws IOException {
        byte[] initramfs = Initramfs.withInit(GuestImage.bundledBytes("linux_init.elf", "the Linux training's /init"));
        return withFile("training-init.cpio", initramfs, initrd -> step("run", "--backend", "emulator", "--sandbox",
                "off", "--cpus", "2", "--mem", "256M", "--kernel", kernel.toString(), "--initrd", initrd, "--append",
                "console=ttyS0 panic=-1"));
    }

    /**
     * The step {@code run} makes of {@code bytes} in a file of their own in java.io.tmpdir (made new: no write through
     * a link planted there), named {@code name} in what it returns; the file is gone after.
     */
    private static String withFile(String name, byte[] bytes, Function<String, String> run) throws IOException {
        Path file = Path.of(System.getProperty("java.io.tmpdir"), "jkvm-aot-training-" + ProcessHandle.current().pid()
                + "-" + name);
        Files.write(file, bytes, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE);
        try {
            return run.apply(file.toString()).replace(file.toString(), name);
        } finally {
            Files.deleteIfExists(file);
        }
    }

    /** One command through the real entry point, its output discarded; the line says how it ended. */
    private static String step(String... args) {
        int status = Main.execute(args, silent(), silent(), new ByteArrayInputStream(new byte[0]));
        return String.join(" ", args) + " -> " + status;
    }

    private static PrintStream silent() {
        return new PrintStream(OutputStream.nullOutputStream());
    }
}

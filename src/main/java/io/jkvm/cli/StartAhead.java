package io.jkvm.cli;

import io.jkvm.linux.Downcalls;
import io.jkvm.machine.Threads;
import io.jkvm.sandbox.Sandbox;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Set;

/**
 * What a command that starts a machine will need, made on a thread of its own while the main thread has picocli build
 * its command model: the libc downcalls every machine makes before its guest starts, the JVM's lazily opened parts the
 * sandbox opens before it goes up and its seccomp filter, and, when the run may be on KVM, KVM's downcalls. Only in a process of jkvm's own
 * ({@link Main#main}); the main thread waits for it to end before the sandbox goes up, so no thread of its is still
 * starting or ending then.
 */
final class StartAhead {
    private StartAhead() {
    }

    /** The commands that start a machine: the first word of their command lines. */
    private static final Set<String> MACHINE_COMMANDS = Set.of("run", "restore");

    private static volatile Thread ahead;

    /** Begins the work when {@code args} names a command that starts a machine. */
    static void begin(String[] args) {
        if (args.length > 0 && MACHINE_COMMANDS.contains(args[0])) {
            boolean kvm = mayUseKvm(args, Path.of("/dev/kvm"));
            ahead = Thread.ofPlatform().daemon().name("jkvm-start-ahead").start(() -> work(kvm));
        }
    }

    private static void work(boolean kvm) {
        try {
            Downcalls.linkForMachine();
            Sandbox.openJvmParts();
            Sandbox.compileFilter();
            if (kvm) {
                Downcalls.linkForKvm();
            }
        } catch (Throwable e) {
            // the main thread meets the same failure where it needs the part, and reports it there in one line
        }
    }

    /**
     * Whether the run may be on KVM, so that KVM's downcalls are worth linking ahead: a guess from the words of the
     * command line (a wrong one costs time, not a result) and the device's presence.
     */
    static boolean mayUseKvm(String[] args, Path device) {
        return Arrays.stream(args).noneMatch(a -> a.equals("emulator") || a.equals("--backend=emulator"))
                && Files.exists(device);
    }

    /** Waits for the work begun, if any, to end (through interrupts: the sandbox must not go up beside it). */
    static void await() {
        Thread t = ahead;
        if (t != null) {
            Threads.joinUninterruptibly(t);
            ahead = null;
        }
    }
}

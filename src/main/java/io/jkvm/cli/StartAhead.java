package io.jkvm.cli;

import io.jkvm.linux.Downcalls;
import io.jkvm.machine.Threads;
import io.jkvm.sandbox.Sandbox;

import java.util.Set;

/**
 * What a command that starts a machine will need, made on a thread of its own while the main thread has picocli build
 * its command model: the libc downcalls (a quarter of a second in a cold JVM) and the JVM's lazily opened parts the
 * sandbox opens before it goes up. Only in a process of jkvm's own ({@link Main#main}); the main thread waits for it
 * to end before the sandbox goes up, so no thread of its is still starting or ending then.
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
            ahead = Thread.ofPlatform().daemon().name("jkvm-start-ahead").start(StartAhead::work);
        }
    }

    private static void work() {
        try {
            Downcalls.link();
            Sandbox.openJvmParts();
        } catch (Throwable e) {
            // the main thread meets the same failure where it needs the part, and reports it there in one line
        }
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

package io.jkvm.cli;

import io.jkvm.kvm.Kvm;
import io.jkvm.linux.Downcalls;
import io.jkvm.machine.Threads;
import io.jkvm.sandbox.Sandbox;

import java.io.File;
import java.util.List;
import java.util.Set;

/**
 * What a command that starts a machine will need, made on a thread of its own while the main thread has picocli build
 * its command model: the libc downcalls a machine makes before its guest starts (its system calls and the host CPU's
 * stubs, one shape; KVM's quick ioctls take it too in such a process), the JVM's lazily opened parts the sandbox opens
 * before it goes up and its seccomp filter, the CPUID tables' bindings when there is a KVM device, and, when the run may be on
 * KVM, what KVM's vCPUs call. Only in a process of jkvm's own ({@link Main#main}); the main thread waits for it to end
 * before the sandbox goes up, so no thread of its is still starting or ending then.
 */
final class StartAhead {
    private StartAhead() {
    }

    /** The commands that start a machine: the first word of their command lines. */
    private static final Set<String> MACHINE_COMMANDS = Set.of("run", "restore");

    private static volatile List<Thread> ahead = List.of();

    /**
     * Begins the work when {@code args} names a command that starts a machine: the links on one thread, the sandbox's
     * parts on another (plain Java and the JDK's own native code), which would otherwise wait for the links.
     */
    static void begin(String[] args) {
        if (args.length > 0 && MACHINE_COMMANDS.contains(args[0])) {
            Downcalls.quickIoctlsAsSystemCalls();
            boolean kvm = new File(Kvm.DEFAULT_PATH).exists(); // unless the hidden --kvm names another
            ahead = List.of(Thread.ofPlatform().daemon().name("jkvm-start-ahead").start(StartAhead::links),
                    Thread.ofPlatform().daemon().name("jkvm-start-ahead-sandbox").start(() -> sandboxParts(args, kvm)));
        }
    }

    private static void links() {
        try {
            // in the order the main thread needs them: as it makes the machine, then as the sandbox goes up
            Downcalls.linkForMachine();
            Downcalls.linkForSandbox();
            // what System.exit asks as the launch ends (whether Runtime.exit is logged): the first System.Logger of
            // a process looks for a logging backend on the class path, opening the jar, some 10 ms; after the links,
            // which the main thread waits for
            System.getLogger("java.lang.Runtime").isLoggable(System.Logger.Level.DEBUG);
        } catch (Throwable e) {
            // the main thread meets the same failure where it needs the part, and reports it there in one line
        }
    }

    private static void sandboxParts(String[] args, boolean kvm) {
        try {
            if (kvm && !namesTheEmulator(args)) {
                Kvm.prepareVcpuBindings(); // first: the machine makes its vCPUs before the sandbox goes up
            }
            Sandbox.openJvmParts(namesASocket(args));
            Sandbox.prepareClasses();
            Sandbox.compileFilter();
        } catch (Throwable e) {
            // as above: the sandbox meets it again as it goes up
        }
    }

    /**
     * Whether the command line names the software core as the backend, so that KVM's vCPUs will not run: a guess
     * from its words (a wrong one costs time, not a result).
     */
    static boolean namesTheEmulator(String[] args) {
        for (String a : args) {
            if (a.equals("emulator") || a.equals("--backend=emulator")) {
                return true;
            }
        }
        return false;
    }

    /**
     * Whether the command line names a socket the run will serve (--api-socket, --incoming): a guess from its words,
     * as above (the sandbox opens what it needs as it goes up).
     */
    static boolean namesASocket(String[] args) {
        for (String a : args) {
            if (a.startsWith("--api-socket") || a.startsWith("--incoming")) {
                return true;
            }
        }
        return false;
    }

    /** The threads of the work begun and not yet waited for (for the tests). */
    static List<Thread> threads() {
        return ahead;
    }

    /** Waits for the work begun, if any, to end (through interrupts: the sandbox must not go up beside it). */
    static void await() {
        for (Thread t : ahead) {
            Threads.joinUninterruptibly(t);
        }
        ahead = List.of();
    }
}

package io.jkvm.sandbox;

import io.jkvm.kvm.Kvm;
import io.jkvm.linux.Credentials;
import io.jkvm.linux.Downcalls;
import io.jkvm.linux.Ioctl;
import io.jkvm.linux.LinuxException;
import io.jkvm.linux.Seccomp;
import io.jkvm.linux.Tap;
import io.jkvm.linux.Terminal;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.stream.Stream;

/**
 * Confines the running process before the guest's first instruction, as Firecracker's jailer and seccomp filters do:
 * started as root, it becomes an unprivileged user (which clears every capability); it refuses to go on holding
 * capabilities it cannot drop from every thread; it sets no_new_privs; and it installs the seccomp filter compiled from
 * {@link SyscallAllowlist} on every thread. From then on jkvm can use what it holds (its fds, its memory, its threads)
 * and nothing new: opening a file, execve, ptrace, mount, a new socket fail with EPERM. Irreversible.
 */
public final class Sandbox {
    private Sandbox() {
    }

    /** The user a sandbox started as root becomes when none is named. */
    public static final String DEFAULT_USER = "nobody";

    /** What entering did: the user it runs as now and the size of the filter. */
    public record Entered(String user, int uid, int allowedCalls, int filterInstructions) {
    }

    /**
     * Enters the sandbox: {@code user} (default {@link #DEFAULT_USER}) is who a process started as root becomes; a
     * process started as another user stays itself, and naming a user then is an error. {@code sockets}: the run
     * serves a socket (the control socket), whose connections NIO's socket code then handles.
     */
    public static Entered enter(Optional<String> user, boolean sockets) {
        List<SyscallAllowlist.Entry> table = Filter.TABLE;
        List<Seccomp.Instruction> program = Filter.PROGRAM;
        prepareJvm(sockets);
        Credentials.User who = becomeUnprivileged(user);
        requireNoCapabilities(who);
        try {
            Seccomp.setNoNewPrivileges();
            Seccomp.installOnAllThreads(program);
        } catch (LinuxException e) {
            throw new SandboxException("--sandbox: " + e.getMessage()
                    + ": this kernel does not let jkvm filter its system calls (seccomp); run with --sandbox off");
        }
        return new Entered(who.name(), who.uid(), table.size(), program.size());
    }

    /**
     * Opens now what the JVM would open on first use ({@link #openJvmParts}); run from a directory of classes (not the
     * jar, whose fd stays open), loads every jkvm class. And removes the JVM's hsperfdata file, which it could not
     * unlink at exit any more (jps and jcmd no longer list a sandboxed jkvm).
     */
    private static void prepareJvm(boolean sockets) {
        openJvmParts(sockets);
        prepareClasses();
        try {
            Files.deleteIfExists(Path.of(System.getProperty("java.io.tmpdir"), "hsperfdata_" + System.getProperty("user.name"),
                    Long.toString(ProcessHandle.current().pid())));
        } catch (IOException e) {
            // not ours to remove (another user's directory): the JVM leaves it as it would have
        }
    }

    /**
     * Opens the parts of the JVM that open files or load native code on first use: NIO's socket code, when
     * {@code sockets} (a run serving no socket never uses it; the host's entropy is read with getrandom(2), which
     * opens nothing). Any thread may do it ahead of {@link #enter}, which does it again: then only a socket opened and
     * closed.
     */
    public static void openJvmParts(boolean sockets) {
        if (!sockets) {
            return;
        }
        try { // NIO's socket classes load their native code on first use: a socket refused later then fails with EPERM
            java.nio.channels.SocketChannel.open().close();
        } catch (IOException e) {
            // a host without IP sockets: refused later all the same
        }
    }

    /** Whether {@link #prepareClasses} ran to its end once: a start may run it ahead. */
    private static volatile boolean classesReady;

    /**
     * Run from a directory of classes (not the jar), loads every jkvm class now, on the calling thread, so entering the
     * sandbox later finds them loaded; from the jar, finds so (its code source's look-up is some 5 ms of cold code).
     */
    public static void prepareClasses() {
        if (classesReady) {
            return;
        }
        Path root;
        try {
            root = Path.of(Sandbox.class.getProtectionDomain().getCodeSource().getLocation().toURI());
        } catch (java.net.URISyntaxException | RuntimeException e) {
            return; // no code source to read (a custom image): nothing loads lazily from files
        }
        if (!Files.isDirectory(root)) {
            classesReady = true;
            return;
        }
        ClassLoader loader = Sandbox.class.getClassLoader();
        try (Stream<Path> files = Files.walk(root)) {
            for (Path f : files.filter(p -> p.toString().endsWith(".class")).toList()) {
                String name = root.relativize(f).toString().replace('/', '.');
                Class.forName(name.substring(0, name.length() - ".class".length()), false, loader);
            }
        } catch (IOException | ClassNotFoundException | LinkageError e) {
            throw new SandboxException("--sandbox could not load jkvm's classes from " + root + " (" + e.getMessage()
                    + "): run it from its jar, or with --sandbox off");
        }
        classesReady = true;
    }

    /** The seccomp program {@link #enter} installs (for tests and docs). */
    public static List<Seccomp.Instruction> program() {
        return Filter.PROGRAM;
    }

    /** The allowlist and its seccomp program, made on first use: a start may make them ahead ({@link #compileFilter}). */
    private static final class Filter {
        static final List<SyscallAllowlist.Entry> TABLE = List.copyOf(SyscallAllowlist.entries(ioctls()));
        static final List<Seccomp.Instruction> PROGRAM = List.copyOf(FilterProgram.compile(TABLE));
    }

    /** Compiles the filter {@link #enter} installs now, on the calling thread, so entering later only installs it. */
    public static void compileFilter() {
        program();
    }

    /** Every ioctl request a running jkvm issues: KVM's, then the console's and the TAP's. */
    static List<Ioctl> ioctls() {
        List<Ioctl> all = new ArrayList<>(Kvm.ioctlsIssued());
        all.addAll(Terminal.ioctls());
        all.addAll(Tap.ioctlsOnceAttached());
        return all;
    }

    private static Credentials.User becomeUnprivileged(Optional<String> user) {
        int uid = Credentials.effectiveUid();
        if (uid != 0) {
            if (user.isPresent()) {
                throw new SandboxException("--user " + user.get() + " needs jkvm started as root (it runs as uid " + uid
                        + " and stays that user): drop --user, or start it as root");
            }
            return new Credentials.User(System.getProperty("user.name"), uid, -1); // itself: its gid stays, unread
        }
        String name = user.orElse(DEFAULT_USER);
        Optional<Credentials.User> found = Credentials.lookup(name); // no lambda: its class would be spun at each launch
        if (found.isEmpty()) {
            throw new SandboxException("--user " + name
                    + ": this host has no such user: name one from /etc/passwd (useradd --system NAME makes one)");
        }
        Credentials.User to = found.get();
        if (to.uid() == 0) {
            throw new SandboxException("--user " + name + " is uid 0, which is not unprivileged: name another user");
        }
        try {
            Credentials.switchTo(to);
        } catch (LinuxException e) {
            throw new SandboxException("--sandbox could not become user " + name + ": " + e.getMessage());
        }
        return to;
    }

    /** Capabilities are per thread and only leaving uid 0 clears them from all: a non-root holder cannot go on. */
    private static void requireNoCapabilities(Credentials.User who) {
        long caps = heldCapabilities();
        if (caps != 0) {
            throw new SandboxException("--sandbox: jkvm holds capabilities (CapEff " + Long.toHexString(caps)
                    + ") as " + who.name() + ", which it cannot drop from every thread: start it without them"
                    + " (setpriv --inh-caps=-all --ambient-caps=-all), or as root, which becomes --user");
        }
    }

    /** The effective capabilities of the process's threads, together (0: none holds any). */
    private static long heldCapabilities() {
        long held = 0;
        try (Stream<Path> tasks = Files.list(Path.of("/proc/self/task"))) {
            for (Path task : tasks.toList()) {
                held |= effectiveCapabilities(task.resolve("status"));
            }
        } catch (IOException e) {
            throw new SandboxException("--sandbox could not read /proc/self/task (" + e.getMessage()
                    + "): mount /proc, or run with --sandbox off");
        }
        return held;
    }

    /**
     * Every step of {@link #enter} that leaves the process as it was: the JVM's lazily opened parts ({@code sockets}:
     * NIO's socket code too, which only a run serving a socket opens), the filter
     * compiled and encoded, the user looked up, the threads' capabilities read, the downcalls linked; no user switch,
     * no no_new_privs, no filter. The start-up cache's training run (which must write the cache when it exits) does
     * this, so a sandboxed start finds these classes loaded and linked.
     */
    public static void rehearse(boolean sockets) {
        Downcalls.linkForSandbox();
        openJvmParts(sockets);
        prepareClasses();
        ProcessHandle.current().pid(); // as prepareJvm names the JVM's hsperfdata file
        Credentials.effectiveUid();
        Credentials.lookup(DEFAULT_USER);
        heldCapabilities();
        Seccomp.rehearseInstall(program());
        try { // what enter answers: its class then comes from the start-up cache, not read from the jar at each launch
            java.lang.invoke.MethodHandles.lookup().ensureInitialized(Entered.class);
        } catch (IllegalAccessException e) {
            throw new AssertionError(e); // a class of this one's own
        }
    }

    /**
     * CapEff of a /proc status file; 0 when the thread has ended since it was listed. Its bytes searched as Latin-1, not
     * decoded into lines: a launch reads a score of these files on the main thread, in cold code.
     */
    static long effectiveCapabilities(Path status) throws IOException {
        String text;
        try {
            text = new String(Files.readAllBytes(status), java.nio.charset.StandardCharsets.ISO_8859_1);
        } catch (java.nio.file.NoSuchFileException e) {
            return 0;
        }
        int line = text.indexOf(CAP_EFF); // a line's start: the status file's first line is Name:
        if (line < 0) {
            return 0;
        }
        int end = text.indexOf('\n', line + 1);
        return Long.parseUnsignedLong(text.substring(line + CAP_EFF.length(), end < 0 ? text.length() : end).strip(), 16);
    }

    private static final String CAP_EFF = "\nCapEff:";
}

package io.jkvm.machine;

import io.jkvm.api.ControlTarget;
import io.jkvm.api.VmInfo;
import io.jkvm.snapshot.SnapshotFile;

import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;

/**
 * The control target of a jkvm started to wait for a snapshot ({@code jkvm restore --api-socket PATH}, no SNAPSHOT),
 * as Firecracker's snapshot load into a fresh process: empty until a restore command fills it with a machine, which
 * then answers every command. The process warms its restore path first, so the restore itself runs as compiled code.
 */
public final class RestoreSlot implements ControlTarget {
    /** Restores of a small snapshot done before the socket opens: enough for the JIT to compile the restore path. */
    static final int WARM_UP_RESTORES = 12;
    /** Bytes of data in the warm-up snapshot's RAM, so the memory check's loop is compiled too. */
    private static final int WARM_UP_DATA = 8 << 20;

    private final Backend backend;
    private final String cpu;
    private final String kvmPath;
    private final boolean trace;
    private final Console console;
    /** The restored machine; completed with null when a stop came first. */
    private final CompletableFuture<Machine> filled = new CompletableFuture<>();
    private volatile Machine machine;

    /** A slot whose restore uses {@code backend}, {@code cpu} (null: the snapshot's own model) and the KVM device at {@code kvmPath}. */
    public RestoreSlot(Backend backend, String cpu, String kvmPath, boolean trace, Console console) {
        this.backend = backend;
        this.cpu = cpu;
        this.kvmPath = kvmPath;
        this.trace = trace;
        this.console = console;
    }

    /**
     * Runs the restore path on a throwaway snapshot of the bundled guest (in a temporary directory, removed after),
     * restoring it as this slot's restore will; returns what it did, in words for the waiting line. It only makes the
     * restore faster: one that fails (a --backend this host cannot give the bundled guest) says why and changes nothing.
     */
    public String warmUp() {
        long start = System.nanoTime();
        Path dir = null;
        try {
            dir = Files.createTempDirectory("jkvm-warm-up");
            Path snapshot = dir.resolve("warm-up.snap");
            writeBundledSnapshot(snapshot, kvmPath);
            for (int i = 0; i < WARM_UP_RESTORES; i++) {
                Machine.restore(snapshot, backend, null, kvmPath, false, silentConsole()).close();
            }
            return "restore path warmed up by " + WARM_UP_RESTORES + " restores in " + (System.nanoTime() - start) / 1_000_000 + " ms";
        } catch (IOException | RuntimeException e) {
            return "restore path not warmed up: " + (e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage());
        } finally {
            if (dir != null) {
                deleteAll(dir);
            }
        }
    }

    /**
     * Writes a snapshot of the bundled guest, made on the software core, to {@code file}, the top of its RAM filled
     * with data so that restoring it runs the memory check's loop too: what a warm-up or a training run restores.
     */
    public static void writeBundledSnapshot(Path file, String kvmPath) {
        MachineConfig d = MachineConfig.defaults();
        try (Machine m = Machine.create(new MachineConfig(Optional.empty(), d.memorySize(), 1, d.cpuModel(), Backend.EMULATOR,
                d.loadAddress(), kvmPath, false), silentConsole())) {
            byte[] data = new byte[WARM_UP_DATA];
            for (int i = 0; i < data.length; i++) {
                data[i] = (byte) (i * 31 + (i >>> 12));
            }
            m.memory().write(m.memory().size() - data.length, data, 0, data.length); // above the bundled guest, below nothing it uses
            SnapshotFile.write(file, m.capture(), m.memory());
        }
    }

    /** A console that shows nothing and gives no input: the warm-up's guests are not the user's. */
    private static Console silentConsole() {
        return new Console(OutputStream.nullOutputStream(), null, new PrintStream(OutputStream.nullOutputStream()));
    }

    private static void deleteAll(Path dir) {
        try (var files = Files.list(dir)) {
            for (Path p : files.toList()) {
                Files.deleteIfExists(p);
            }
            Files.deleteIfExists(dir);
        } catch (IOException e) {
            // a temporary directory left behind is harmless; the warm-up's outcome stands
        }
    }

    /** Waits for the restore command; returns its machine, or null when a stop came first. */
    public Machine awaitMachine() {
        return filled.join();
    }

    @Override
    public RestoreResult restore(Path file, boolean checkMemory) {
        synchronized (this) {
            if (filled.isDone()) {
                throw new MachineException("this jkvm has restored a VM already");
            }
            long start = System.nanoTime();
            Machine m = Machine.restore(file, backend, cpu, kvmPath, trace, console, checkMemory);
            long millis = (System.nanoTime() - start) / 1_000_000;
            machine = m;
            filled.complete(m);
            return new RestoreResult(file, m.info().backend(), millis);
        }
    }

    @Override
    public VmInfo info() {
        Machine m = machine;
        return m == null ? VmInfo.empty() : m.info();
    }

    @Override
    public boolean pause() {
        return filledMachine().pause();
    }

    @Override
    public void resume() {
        filledMachine().resume();
    }

    @Override
    public SnapshotResult snapshot(Path file) {
        return filledMachine().snapshot(file);
    }

    @Override
    public void stop() {
        synchronized (this) {
            if (machine == null) {
                filled.complete(null);
                return;
            }
        }
        machine.stop();
    }

    @Override
    public MigrationResult migrate(String target, long maxDowntimeMillis) {
        return filledMachine().migrate(target, maxDowntimeMillis);
    }

    @Override
    public boolean cancelMigration() {
        Machine m = machine;
        return m != null && m.cancelMigration();
    }

    private Machine filledMachine() {
        Machine m = machine;
        if (m == null) {
            throw new MachineException("no VM here yet: this jkvm waits for a restore command");
        }
        return m;
    }
}

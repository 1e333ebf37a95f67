package io.jkvm.api;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;

/** A VM for the control socket's tests: it keeps a state, records what it was asked, and fails on demand. */
public final class FakeControlTarget implements ControlTarget {
    private VmInfo.State state = VmInfo.State.RUNNING;
    private final List<String> calls = new ArrayList<>();
    private final List<Path> snapshots = new ArrayList<>();
    /** Set to make snapshot() fail with this one-line message. */
    public volatile String snapshotFailure;
    /** Set to make the guest end while pause() waits for the vCPUs, as a guest that exits at that moment does. */
    public volatile boolean guestEndsDuringPause;
    /** Set to make info() throw this (a bug in the machine). */
    public volatile RuntimeException infoFailure;
    /** Runs inside stop(), e.g. to close the server as the end of the run does. */
    public volatile Consumer<FakeControlTarget> onStop = t -> { };
    /** Set to make migrate() fail with this one-line message. */
    public volatile String migrationFailure;

    @Override
    public synchronized boolean pause() {
        calls.add("pause");
        if (guestEndsDuringPause) {
            state = VmInfo.State.ENDED;
            return false;
        }
        state = VmInfo.State.PAUSED;
        return true;
    }

    @Override
    public synchronized void resume() {
        calls.add("resume");
        state = VmInfo.State.RUNNING;
    }

    /** Starts empty, as a jkvm that waits for a restore command; restore() then fills it. */
    public synchronized FakeControlTarget empty() {
        state = VmInfo.State.EMPTY;
        return this;
    }

    /** Set to make restore() fail with this one-line message (the target stays empty). */
    public volatile String restoreFailure;

    @Override
    public synchronized RestoreResult restore(Path file, boolean checkMemory) {
        calls.add("restore " + file + (checkMemory ? "" : " unchecked"));
        if (restoreFailure != null) {
            throw new IllegalStateException(restoreFailure);
        }
        state = VmInfo.State.RUNNING;
        return new RestoreResult(file, "emulator", 4);
    }

    @Override
    public synchronized VmInfo info() {
        if (infoFailure != null) {
            throw infoFailure;
        }
        if (state == VmInfo.State.EMPTY) {
            return VmInfo.empty();
        }
        return new VmInfo(state, "emulator", 2, 64L << 20, "host,+apx", null);
    }

    @Override
    public synchronized SnapshotResult snapshot(Path file) {
        calls.add("snapshot");
        if (snapshotFailure != null) {
            throw new IllegalStateException(snapshotFailure);
        }
        snapshots.add(file);
        return new SnapshotResult(file, 7, 9);
    }

    @Override
    public MigrationResult migrate(String target, long maxDowntimeMillis) {
        lastMaxDowntimeMillis = maxDowntimeMillis;
        try {
            migrationGate.await(); // a test holds a migration open here
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        if (migrationCancelled) {
            throw new IllegalStateException("the migration to " + target + " was cancelled; the VM runs on here");
        }
        return finishMigration(target);
    }

    @Override
    public boolean cancelMigration() {
        boolean running = migrationGate.getCount() > 0;
        calls.add("cancel");
        migrationCancelled = running;
        migrationGate.countDown();
        return running;
    }

    public volatile boolean migrationCancelled;

    /** The downtime the last migrate() was asked for. */
    public volatile long lastMaxDowntimeMillis;

    /** Counted down by default: set a fresh latch to hold migrate() until the test counts it down. */
    public volatile java.util.concurrent.CountDownLatch migrationGate = new java.util.concurrent.CountDownLatch(0);

    private synchronized MigrationResult finishMigration(String target) {
        calls.add("migrate " + target);
        if (migrationFailure != null) {
            throw new IllegalStateException(migrationFailure);
        }
        state = VmInfo.State.ENDED;
        return new MigrationResult(target, 3, 1000, 1000 * 4104L, 12, 340);
    }

    @Override
    public void stop() {
        synchronized (this) {
            calls.add("stop");
            state = VmInfo.State.ENDED;
        }
        onStop.accept(this);
    }

    public synchronized void end() {
        state = VmInfo.State.ENDED;
    }

    public synchronized VmInfo.State state() {
        return state;
    }

    /** The calls that changed or wrote something, in order (info is not recorded). */
    public synchronized List<String> calls() {
        return List.copyOf(calls);
    }

    public synchronized List<Path> snapshots() {
        return List.copyOf(snapshots);
    }
}

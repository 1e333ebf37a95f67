package io.jkvm.api;

import java.nio.file.Path;

/**
 * What the control socket can do to a VM; the machine implements it. {@link ApiServer} calls one method at a time
 * (commands are serialized), from one of its own threads, never from a vCPU thread. It checks the state from
 * {@link #info()} first, so {@link #pause()} is only called on a running VM and {@link #resume()} on a paused one.
 * A failure is a RuntimeException whose message is one line: the client sees that message as the error.
 */
public interface ControlTarget {

    /** Stops every vCPU at an instruction boundary until {@link #resume()}; false when the guest ended first. */
    boolean pause();

    /** Lets the paused vCPUs run on. */
    void resume();

    /** The VM as it is now. */
    VmInfo info();

    /**
     * Writes a snapshot of the whole VM to {@code file} (an absolute path). A running VM is paused for it and runs on
     * afterwards; a paused one stays paused. Returns how long it took.
     */
    SnapshotResult snapshot(Path file);

    /**
     * Ends the VM, paused or running: its run then returns and {@code jkvm run} exits. It must not wait for the
     * {@link ApiServer} to close (the server lets this command answer first).
     */
    void stop();

    /**
     * Live-migrates the VM to the destination {@code target} ({@code tcp:HOST:PORT}, a {@code jkvm run --incoming} there
     * holding the same key), stopping the vCPUs once what is left takes no longer than {@code maxDowntimeMillis} to
     * send: returns once the guest runs there (this VM then ends); on failure the VM runs on here and the exception's
     * message says what happened.
     */
    MigrationResult migrate(String target, long maxDowntimeMillis);

    /**
     * Asks the migration under way to stop: it gives up at its next batch of pages (or before the vCPUs stop for the
     * last ones), the guest runs on here, and the migrate command answers that it was cancelled. False when none runs.
     */
    boolean cancelMigration();

    /**
     * Restores the snapshot {@code file} (an absolute path) into a jkvm that holds no VM yet ({@link VmInfo.State#EMPTY})
     * and lets the guest run; returns how long the restore took. {@link ControlCommands} only calls it on an empty
     * target, so a target that always holds a VM need not implement it. {@code checkMemory} false skips the memory
     * file's checksum (the state's CRCs are still checked).
     */
    default RestoreResult restore(Path file, boolean checkMemory) {
        throw new UnsupportedOperationException("this jkvm runs a VM already");
    }

    /** How a restore went: the guest was ready to run {@code restoreMillis} after the request, on {@code backend}. */
    record RestoreResult(Path file, String backend, long restoreMillis) {
    }

    /** The downtime a migration aims at when the request names none. */
    long DEFAULT_MAX_DOWNTIME_MS = 300;

    /**
     * How a snapshot went: {@code totalMillis} from the request to the file in place, of which the guest stood still
     * {@code pausedMillis} (the whole of it when it ran, since the state and RAM are written while it is paused; 0 when
     * it was paused before).
     */
    record SnapshotResult(Path file, long pausedMillis, long totalMillis) {
    }

    /** How a live migration went. */
    record MigrationResult(String destination, int rounds, long pagesSent, long bytesSent, long downtimeMillis, long totalMillis) {
    }
}

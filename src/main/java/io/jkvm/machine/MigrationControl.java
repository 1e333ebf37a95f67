package io.jkvm.machine;

import io.jkvm.api.ControlTarget;

import java.io.PrintStream;

/**
 * A machine's side of live migration between the control socket and the stream: its key, the one migration under
 * way, that migration's progress line (for info, the trace and a terminal) and the user's cancel.
 */
final class MigrationControl {
    private final PrintStream trace;
    /** Guarded by this: a live migration is under way, and no handoff swaps the vCPUs (and their dirty tracking). */
    private boolean underWay;
    private volatile byte[] key;
    /** How far the migration under way is; null when none runs. */
    private volatile String progress;
    private volatile PrintStream terminal;
    private volatile boolean cancelled;

    /** {@code trace}: where each progress line is printed on its own (--trace); null for none. */
    MigrationControl(PrintStream trace) {
        this.trace = trace;
    }

    void key(byte[] bytes) {
        key = bytes == null ? null : bytes.clone();
    }

    void showProgressOn(PrintStream t) {
        terminal = t;
    }

    synchronized boolean underWay() {
        return underWay;
    }

    String progress() {
        return progress;
    }

    boolean cancelled() {
        return cancelled;
    }

    /** Asks the migration under way to stop before its stop-and-copy; false when none runs. */
    synchronized boolean cancel() {
        if (!underWay) {
            return false;
        }
        cancelled = true;
        return true;
    }

    /** Runs one migration through {@code adapter}, refusing a second while one is under way. */
    ControlTarget.MigrationResult migrate(String target, long maxDowntimeMillis, MigrationAdapter adapter) {
        synchronized (this) {
            if (underWay) {
                throw new MachineException("a migration of this VM is already under way");
            }
            underWay = true;
            cancelled = false;
            progress = "connecting to " + target;
        }
        PrintStream drawOn = trace != null ? null : terminal;
        boolean[] drawn = {false};
        try {
            return adapter.migrate(target, key, maxDowntimeMillis, line -> {
                progress = line;
                if (trace != null) {
                    trace.println("jkvm: migration " + line);
                } else if (drawOn != null) {
                    drawOn.print("\r\033[Kjkvm: migration " + line); // one line, redrawn in place
                    drawOn.flush();
                    drawn[0] = true;
                }
            });
        } finally {
            if (drawn[0]) {
                drawOn.println();
            }
            synchronized (this) {
                underWay = false;
                progress = null;
            }
        }
    }
}

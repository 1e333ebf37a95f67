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
    /** Guarded by this: the guest has ended (or the machine closes), so no migration starts and one under way ends. */
    private boolean closing;
    /** Guarded by this: the migration under way's connection, closed to end it when the guest ends. */
    private java.io.Closeable connection;

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

    /** The migration under way is connected through {@code c}: closed at once if the machine is already closing. */
    void connected(java.io.Closeable c) {
        boolean closeNow;
        synchronized (this) {
            connection = c;
            closeNow = closing;
        }
        if (closeNow) {
            closeQuietly(c);
        }
    }

    private static void closeQuietly(java.io.Closeable c) {
        try {
            c.close();
        } catch (java.io.IOException ignored) {
            // closed is all that matters
        }
    }

    /** Why the migration under way stops early: the machine is closing (its guest ended), or the user's cancel; else null. */
    String stopReason() {
        if (!cancelled) {
            return null;
        }
        synchronized (this) {
            return closing ? io.jkvm.migration.MigrationSource.GUEST_ENDED : "it was cancelled";
        }
    }

    /**
     * Ends the migration under way at once, as its guest has ended: its connection is closed (a send blocked on a
     * destination that reads no more returns), and no migration starts after this.
     */
    void end() {
        java.io.Closeable c;
        synchronized (this) {
            closing = true;
            cancelled = true;
            c = connection;
        }
        if (c != null) {
            closeQuietly(c);
        }
    }

    /** {@link #end()}, then waits until the migration has returned, so the machine may free the guest RAM it reads. */
    void endAndAwait() {
        end();
        boolean interrupted = false;
        synchronized (this) {
            while (underWay) {
                try {
                    wait();
                } catch (InterruptedException e) {
                    interrupted = true; // freeing RAM the migration still reads would end the JVM: wait on
                }
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
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
            if (closing) {
                throw new MachineException("the VM has ended: there is nothing to migrate");
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
                connection = null;
                notifyAll();
            }
        }
    }
}

package io.jkvm.machine;

import io.jkvm.snapshot.SnapshotException;
import io.jkvm.snapshot.SnapshotFile;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;

/** A restore's check of its memory file's checksum, read on a thread of its own while the vCPUs and devices are built. */
final class MemoryCheck {
    private final CompletableFuture<Void> done;

    private MemoryCheck(CompletableFuture<Void> done) {
        this.done = done;
    }

    /** Starts checking {@code s}'s memory file; with {@code check} false, a check that has already passed. */
    static MemoryCheck start(SnapshotFile.Snapshot s, boolean check) {
        return new MemoryCheck(check
                ? CompletableFuture.runAsync(() -> GuestMemory.checkSnapshot(s),
                        task -> Thread.ofPlatform().daemon().name("jkvm-memory-check").start(task))
                : CompletableFuture.completedFuture(null));
    }

    /**
     * Builds the machine while the check runs, and returns it once both are done. A corrupt memory file is the error
     * reported, whatever else failed; a machine built over one is closed (it never ran: nothing of it was applied).
     */
    Machine alongside(java.util.function.Supplier<Machine> build) {
        Machine m;
        try {
            m = build.get();
        } catch (RuntimeException | Error e) {
            await();
            throw e;
        }
        try {
            await();
        } catch (RuntimeException | Error e) {
            m.close();
            throw e;
        }
        return m;
    }

    /** Waits for the check; a corrupt or unreadable memory file is one line. */
    private void await() {
        try {
            done.join();
        } catch (CompletionException e) {
            if (e.getCause() instanceof SnapshotException bad) {
                throw new MachineException(bad.getMessage(), bad);
            }
            throw e.getCause() instanceof RuntimeException r ? r : e;
        }
    }
}

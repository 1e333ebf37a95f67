package io.jkvm.emu;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.lang.ref.WeakReference;
import java.util.Iterator;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.locks.ReentrantLock;

/**
 * What makes every locked instruction atomic against every other across vCPUs (docs/limits.md, LOCK). One that is one
 * compare-and-swap on an aligned word of RAM marks its vCPU's {@link Mark} busy from its read to its store; one that
 * is not (split across words or pages, CMPXCHG16B) runs exclusive: it waits for every busy mark to clear, and no mark
 * is set while it runs. A mark costs one volatile store and one volatile load (each side stores its flag, then reads
 * the other's, as in Dekker's algorithm) and a release store, on a line of the vCPU's own, where a read-write lock's
 * read side costs two host atomics on one line every vCPU shares.
 */
final class SplitLock {
    private SplitLock() {
    }

    /** One exclusive instruction at a time in the process. */
    private static final ReentrantLock EXCLUSIVE = new ReentrantLock();
    /** An exclusive instruction runs, or waits for the busy marks to clear. */
    private static volatile boolean exclusive;
    /** Every vCPU's mark, for the exclusive side to wait on; a core that is gone leaves a cleared reference. */
    private static final ConcurrentLinkedQueue<WeakReference<Mark>> MARKS = new ConcurrentLinkedQueue<>();
    /** Spins before a waiting side yields its core: the other side may not be running (two host cores here). */
    private static final int SPINS = 256;

    /** A vCPU's mark: busy while its one-word locked instruction is between its read and its store. */
    @SuppressWarnings("unused") // the padding keeps busy on a cache line no other vCPU's mark shares
    static final class Mark {
        private long p0, p1, p2, p3, p4, p5, p6;
        private volatile int busy;
        private long q0, q1, q2, q3, q4, q5, q6;

        Mark() {
            MARKS.add(new WeakReference<>(this));
        }
    }

    private static final VarHandle BUSY;

    static {
        try {
            BUSY = MethodHandles.lookup().findVarHandle(Mark.class, "busy", int.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    /** Marks {@code m} busy, once no exclusive instruction runs (waiting for it to end if one does). */
    static void enterShared(Mark m) {
        while (true) {
            m.busy = 1;
            if (!exclusive) {
                return;
            }
            BUSY.setRelease(m, 0);
            for (int spins = 0; exclusive; spins++) {
                pause(spins);
            }
        }
    }

    /** Clears {@code m}: the locked instruction's store is done (or it is to run again). */
    static void exitShared(Mark m) {
        BUSY.setRelease(m, 0);
    }

    /** Runs the caller exclusive: after every busy mark has cleared, with none set until {@link #exitExclusive}. */
    static void enterExclusive() {
        EXCLUSIVE.lock();
        exclusive = true;
        for (Iterator<WeakReference<Mark>> it = MARKS.iterator(); it.hasNext(); ) {
            Mark m = it.next().get();
            if (m == null) {
                it.remove();
                continue;
            }
            for (int spins = 0; m.busy != 0; spins++) {
                pause(spins);
            }
        }
    }

    static void exitExclusive() {
        exclusive = false;
        EXCLUSIVE.unlock();
    }

    private static void pause(int spins) {
        if (spins < SPINS) {
            Thread.onSpinWait();
        } else {
            Thread.yield();
        }
    }
}

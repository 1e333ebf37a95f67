package io.jkvm.emu;

import io.jkvm.linux.Mapping;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.lang.ref.WeakReference;
import java.util.Iterator;
import java.util.Map;
import java.util.WeakHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.locks.ReentrantLock;

/**
 * What makes every locked instruction atomic against every other across the vCPUs of one guest RAM (docs/limits.md,
 * LOCK). One that is one compare-and-swap on an aligned word of RAM runs while its vCPU's {@link Mark} is busy; one
 * that is not (split across words or pages, CMPXCHG16B) runs exclusive: it waits for every busy mark to clear, and no
 * mark is set while it runs. A vCPU's mark is busy the whole time it runs guest code ({@link #enterRunning}, its run
 * loop), not per instruction: setting it costs a volatile store and load (each side stores its flag, then reads the
 * other's, as in Dekker's algorithm), a host fence that per locked instruction was a fifth of core_atomics' time; the
 * run loop lets a waiting exclusive instruction in between its chains of blocks ({@link #letExclusiveIn}), as QEMU's
 * exclusive sections wait for each vCPU to leave its translated code. Outside a run loop (a test stepping a core) a
 * locked instruction marks itself ({@link #enterOne}).
 *
 * <p>While one core alone runs over a RAM, nothing can come between its read and its store, and its one-word locked
 * instructions are a plain load and store ({@link Mark#solo}), as QEMU's TCG makes them with one vCPU; a second
 * core's mark turns that off for both, exclusive, before the second core runs.
 */
final class SplitLock {
    /** One per guest RAM, found by the mapping itself (identity). */
    private static final Map<Mapping, SplitLock> BY_RAM = new WeakHashMap<>();
    /** Spins before a waiting side yields its core: the other side may not be running (two host cores here). */
    private static final int SPINS = 256;

    /** One exclusive instruction at a time over this RAM. */
    private final ReentrantLock exclusiveLock = new ReentrantLock();
    /** An exclusive instruction runs, or waits for the busy marks to clear. */
    private volatile boolean exclusive;
    /** Every core's mark, for the exclusive side to wait on; a core that is gone leaves a cleared reference. */
    private final ConcurrentLinkedQueue<WeakReference<Mark>> marks = new ConcurrentLinkedQueue<>();

    private SplitLock() {
    }

    /** A new mark for a core over {@code ram}: solo if no other core over it is alive, else shared, as the others. */
    static Mark markFor(Mapping ram) {
        SplitLock lock;
        synchronized (BY_RAM) {
            lock = BY_RAM.computeIfAbsent(ram, r -> new SplitLock());
        }
        return lock.register();
    }

    private synchronized Mark register() {
        Mark mark = new Mark(this);
        boolean alone = true;
        for (Iterator<WeakReference<Mark>> it = marks.iterator(); it.hasNext(); ) {
            Mark m = it.next().get();
            if (m == null) {
                it.remove();
            } else {
                alone = false;
            }
        }
        marks.add(new WeakReference<>(mark));
        if (alone) {
            mark.solo = true;
            return mark;
        }
        // The others may be running: with each between two chains of blocks (its mark clear), none is half-way through
        // a plain read-modify-write, and each reads solo again after exclusive ends (a volatile write it reads).
        enterExclusive(mark);
        try {
            for (WeakReference<Mark> ref : marks) {
                Mark m = ref.get();
                if (m != null) {
                    m.solo = false;
                }
            }
        } finally {
            exitExclusive(mark);
        }
        return mark;
    }

    /** A core's mark: busy while it runs guest code, or while one locked instruction does outside a run loop. */
    @SuppressWarnings("unused") // the padding keeps busy on a cache line no other vCPU's mark shares
    static final class Mark {
        private long p0, p1, p2, p3, p4, p5, p6;
        private volatile int busy;
        /** Its run loop holds it busy (only its own thread reads and writes these two). */
        private boolean running;
        /** An exclusive instruction took it from the run loop, which gets it back after. */
        private boolean resume;
        /** The only core over its RAM: its one-word locked instructions need no host atomic. */
        private boolean solo;
        private long q0, q1, q2, q3, q4, q5, q6;
        private final SplitLock lock;

        private Mark(SplitLock lock) {
            this.lock = lock;
        }

        /** Whether this core is the only one over its RAM (read between its read and store: they may be plain). */
        boolean solo() {
            return solo;
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
        SplitLock lock = m.lock;
        while (true) {
            m.busy = 1;
            if (!lock.exclusive) {
                return;
            }
            BUSY.setRelease(m, 0);
            for (int spins = 0; lock.exclusive; spins++) {
                pause(spins);
            }
        }
    }

    /** Clears {@code m}: the locked instruction's store is done (or it is to run again). */
    static void exitShared(Mark m) {
        BUSY.setRelease(m, 0);
    }

    /** A vCPU's run loop is about to run guest code: {@code m} busy until {@link #exitRunning}. */
    static void enterRunning(Mark m) {
        enterShared(m);
        m.running = true;
    }

    /** The run loop stops running guest code (an exit, HLT, a fault it returns): {@code m} clear. */
    static void exitRunning(Mark m) {
        m.running = false;
        exitShared(m);
    }

    /** Between two chains of blocks: a waiting exclusive instruction runs now, the loop waiting for it to end. */
    static void letExclusiveIn(Mark m) {
        if (m.lock.exclusive && m.running) {
            exitShared(m);
            enterShared(m);
        }
    }

    /**
     * Marks {@code m} busy for one locked instruction unless its run loop holds it already: true when it did, and the
     * caller clears it ({@link #exitShared}) after the store.
     */
    static boolean enterOne(Mark m) {
        if (m.running) {
            return false;
        }
        enterShared(m);
        return true;
    }

    /**
     * Runs the caller, whose mark is {@code own}, exclusive: after every busy mark has cleared, with none set until
     * {@link #exitExclusive}. Its own mark clears first, or two vCPUs that both want to run exclusive would wait for
     * each other.
     */
    static void enterExclusive(Mark own) {
        own.resume = own.running;
        if (own.running) {
            own.running = false;
            exitShared(own);
        }
        SplitLock lock = own.lock;
        lock.exclusiveLock.lock();
        lock.exclusive = true;
        for (Iterator<WeakReference<Mark>> it = lock.marks.iterator(); it.hasNext(); ) {
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

    static void exitExclusive(Mark own) {
        SplitLock lock = own.lock;
        lock.exclusive = false;
        lock.exclusiveLock.unlock();
        if (own.resume) {
            own.resume = false;
            enterRunning(own);
        }
    }

    private static void pause(int spins) {
        if (spins < SPINS) {
            Thread.onSpinWait();
        } else {
            Thread.yield();
        }
    }
}

package io.jkvm.devices;

import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;

/**
 * The expiries on the timers' thread that bring a local APIC's TSC deadline to fire. An expiry scheduled from the
 * vCPU's thread wakes the timers' thread: a futex wake, some 20-40 us on a nested host, 1% of a busy vCPU at a tick's
 * 250 arms a second (docs/benchmarks.md). So an arm reuses the expiry already on its way when that comes no later than
 * the new deadline (or a few microseconds after it), the expiry then waiting on for the rest from the timers' thread
 * itself; and a deadline one period after the one before (a tick's) leaves, as it fires, an expiry at the next period's
 * deadline, which the tick's next arm finds. Every method runs under the APIC's lock, which the expiries take too.
 */
final class DeadlineExpiries {
    /**
     * How late an expiry on its way may fire a deadline an arm finds it near: the host times of a tick's deadline and
     * of the expiry its last fire left differ by a few nanoseconds of rounding.
     */
    private static final long LATE_NANOS = 10_000;
    /** Periods that fire with no expiry left ahead: shorter ones, or longer (an idle vCPU's deadlines). */
    private static final long PERIOD_MIN_NANOS = 100_000, PERIOD_MAX_NANOS = 100_000_000;

    private final ScheduledExecutorService timers;
    private final Object lock;
    private final BooleanSupplier fire;
    private ScheduledFuture<?> expiry;
    /** Whether a deadline is armed: an expiry goes on to it, or fires it. */
    private boolean armed;
    /** When the expiry on its way runs, and when the armed deadline is due ({@link System#nanoTime}). */
    private long expiryAt, dueAt;
    /** The time from the deadline armed before to this one's, and the same when it matched the gap before (0: not). */
    private long lastGap, period;
    /** The number of the expiry last scheduled or cancelled: one cancelled as it began to run finds itself superseded. */
    private long seq;
    /** How many expiries were scheduled (for the tests). */
    private long scheduled;

    /**
     * Expiries on {@code timers} that, at the deadline, call {@code fire} under {@code lock}: it fires the deadline,
     * or returns false when none is armed any more.
     */
    DeadlineExpiries(ScheduledExecutorService timers, Object lock, BooleanSupplier fire) {
        this.timers = timers;
        this.lock = lock;
        this.fire = fire;
    }

    /** A deadline due at host time {@code due} ({@link System#nanoTime}), armed at {@code now}. */
    void arm(long due, long now) {
        long gap = due - dueAt; // two gaps alike within a fiftieth: a period (a tick's)
        period = Math.abs(gap - lastGap) <= lastGap / 50 ? gap : 0;
        lastGap = gap;
        dueAt = due;
        armed = true;
        if (expiry != null && expiryAt - due <= LATE_NANOS) {
            return; // the expiry on its way comes first (or as good as at it) and waits on for the rest
        }
        cancel();
        schedule(due, now);
    }

    /** No deadline is armed: an expiry on its way runs to nothing (and an arm may reuse it). */
    void disarm() {
        armed = false;
    }

    /** No expiry is on its way. */
    void cancel() {
        if (expiry != null) {
            expiry.cancel(false);
            expiry = null;
        }
        seq++;
    }

    /** Whether an expiry is on its way. */
    boolean pending() {
        return expiry != null;
    }

    /** The nanoseconds from {@code now} to the armed deadline, at least 0. */
    long left(long now) {
        return Math.max(dueAt - now, 0);
    }

    long scheduled() {
        return scheduled;
    }

    private void schedule(long at, long now) {
        scheduled++;
        long number = ++seq;
        expiryAt = at;
        expiry = timers.schedule(() -> expire(number), Math.max(at - now, 1), TimeUnit.NANOSECONDS);
    }

    /** The deadline fires when it is due, else (armed later since) the expiry goes on to it. */
    private void expire(long number) {
        synchronized (lock) {
            if (number != seq) {
                return; // superseded
            }
            expiry = null;
            long now = System.nanoTime();
            if (!armed) {
                return;
            }
            if (dueAt - now > 0) {
                schedule(dueAt, now);
                return;
            }
            armed = false;
            if (fire.getAsBoolean() && period >= PERIOD_MIN_NANOS && period <= PERIOD_MAX_NANOS
                    && dueAt + period - now > 0) {
                schedule(dueAt + period + LATE_NANOS / 2, now); // where the next period's deadline is due
            }
        }
    }
}

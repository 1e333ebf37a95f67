package io.jkvm.machine;

/** Waiting and ending things without losing an interrupt or the first error. */
public final class Threads {
    private Threads() {
    }

    /** Waits for {@code t} to end, going on through interrupts and setting this thread's interrupt status after. */
    public static void joinUninterruptibly(Thread t) {
        boolean interrupted = false;
        while (true) {
            try {
                t.join();
                break;
            } catch (InterruptedException e) {
                interrupted = true;
            }
        }
        reassertInterrupt(interrupted);
    }

    /**
     * Holding {@code monitor}: waits for its next notification, at most {@code millis} (0: no limit); true when
     * interrupted, which the caller sets again when it is done waiting ({@link #reassertInterrupt}).
     */
    static boolean awaitNotification(Object monitor, long millis) {
        try {
            monitor.wait(millis);
            return false;
        } catch (InterruptedException e) {
            return true;
        }
    }

    /** Sets this thread's interrupt status again when a wait was {@code interrupted}. */
    static void reassertInterrupt(boolean interrupted) {
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }

    static void closeQuietly(AutoCloseable... resources) {
        for (AutoCloseable r : resources) {
            if (r != null) {
                try {
                    r.close();
                } catch (Exception ignored) {
                    // already failing: the first error is the one reported
                }
            }
        }
    }
}

package io.jkvm.linux;

import java.lang.invoke.MethodHandles;

/** The libc downcalls as a whole: linking them is the slow part of a cold start, so a caller may do it early. */
public final class Downcalls {
    private Downcalls() {
    }

    /**
     * Links every downcall jkvm makes now (each costs about ten milliseconds in a cold JVM), on the calling thread; a
     * thread using one meanwhile waits for the link to finish, as for any class being initialized.
     */
    public static void link() {
        try {
            MethodHandles.lookup().ensureInitialized(Libc.class);
        } catch (IllegalAccessException e) {
            throw new AssertionError("Libc is in this package", e);
        }
    }
}

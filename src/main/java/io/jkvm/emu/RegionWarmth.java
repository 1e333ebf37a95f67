package io.jkvm.emu;

/**
 * A region's new class, called with no core a thousand times as soon as it is made (its method returns at once), so
 * that the JVM's invocation count asks the JIT for the method then. Otherwise the JVM interprets the new method, some
 * seven times slower than the decoded block it replaces, until real entries count as many, and a loop entered there
 * stays interpreted until the back edges ask for an on-stack replacement.
 */
final class RegionWarmth {
    /**
     * Calls past the JVM's first compile threshold: 200 invocations at jkvm's scaling (scripts/jvm.options), which the
     * JIT raises with the length of its queue (1.6 times at a launch's start).
     */
    static final int PROBES = 1000;

    private RegionWarmth() {
    }

    /** Asks the JIT for {@code code}'s method. */
    static void probe(CompiledBlock code) {
        for (int i = 0; i < PROBES; i++) {
            code.run(null);
        }
    }
}

package io.jkvm.emu;

/**
 * How the core runs guest code: through decoded blocks, each compiled to bytecode once it has run
 * {@link #DEFAULT_COMPILE_THRESHOLD} times (the default); every block compiled before it first runs; or every
 * instruction through the interpreter. All must give the same results; the oracle tests run in each
 * ({@code -Djkvm.core.execution=compiled} or {@code interpreter}).
 */
public enum Execution {
    BLOCKS, COMPILED, INTERPRETER;

    /** The property that picks it: {@code blocks} (default), {@code compiled} or {@code interpreter}. */
    public static final String PROPERTY = "jkvm.core.execution";
    /**
     * How often a decoded block runs before {@link #BLOCKS} compiles it, unless {@link #THRESHOLD_PROPERTY} says (-1:
     * never). A new hidden class runs in the JVM's own interpreter until the JIT compiles it, slower than the decoded
     * block it replaces, and the JIT's own compiles of it take a core of their own, so only blocks that run on for long
     * repay it: a Linux boot took 2.6 times as long at 200 as at 20000, and at 50000 its JIT time fell by a fifth with
     * the boot no slower (docs/benchmarks.md); the hot loops of scripts/bench-core are the same at each.
     */
    static final int DEFAULT_COMPILE_THRESHOLD = 50_000;
    public static final String THRESHOLD_PROPERTY = "jkvm.core.compileThreshold";

    /** Runs of a block before it is compiled: 0 for {@link #COMPILED}, never (-1) for the interpreter. */
    int compileThreshold() {
        return switch (this) {
            case BLOCKS -> Integer.getInteger(THRESHOLD_PROPERTY, DEFAULT_COMPILE_THRESHOLD);
            case COMPILED -> 0;
            case INTERPRETER -> -1;
        };
    }

    /** What {@link #PROPERTY} asks for; an unknown value is refused in one line. */
    public static Execution fromProperty() {
        String v = System.getProperty(PROPERTY, "blocks");
        return switch (v) {
            case "blocks" -> BLOCKS;
            case "compiled" -> COMPILED;
            case "interpreter" -> INTERPRETER;
            default -> throw new IllegalArgumentException("-D" + PROPERTY + "=" + v + " is not blocks, compiled or interpreter");
        };
    }
}

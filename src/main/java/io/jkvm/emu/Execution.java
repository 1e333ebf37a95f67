package io.jkvm.emu;

/**
 * How the core runs guest code: through decoded blocks (the default), or every instruction through the interpreter.
 * Both must give the same results; the oracle tests run in both ({@code -Djkvm.core.execution=interpreter}).
 */
public enum Execution {
    BLOCKS, INTERPRETER;

    /** The property that picks it: {@code blocks} (default) or {@code interpreter}. */
    public static final String PROPERTY = "jkvm.core.execution";

    /** What {@link #PROPERTY} asks for; an unknown value is refused in one line. */
    public static Execution fromProperty() {
        String v = System.getProperty(PROPERTY, "blocks");
        return switch (v) {
            case "blocks" -> BLOCKS;
            case "interpreter" -> INTERPRETER;
            default -> throw new IllegalArgumentException("-D" + PROPERTY + "=" + v + " is not blocks or interpreter");
        };
    }
}

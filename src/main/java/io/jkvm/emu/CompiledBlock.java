package io.jkvm.emu;

/**
 * A decoded block compiled to JVM bytecode ({@link BlockCompiler}): runs the block's instructions on {@code core} as
 * {@code BlockExecution.runDecoded} does, with the same result (how many ran, negative when the caller must see the
 * boundary), leaving the instruction it is at in {@code core.blockProgress} for a fault to find. A class, not an
 * interface: every block's call goes through the vtable, a shorter stub than an interface's (perf put a seventh of
 * core_calls' time in the interface's).
 */
abstract class CompiledBlock {
    /**
     * The block of its region the method starts at for this instance: 0, the block it was compiled for, or another
     * of the region's blocks, which then runs the same compiled code when runBlock comes to it (one JIT compile).
     */
    final int entry;
    /**
     * Whether the region has SSE ops, and SSSE3's PSHUFB among them, which it runs without the interpreter's checks:
     * runDecoded calls it only while {@link SseLanes#ready} holds for them, else runs the block's decoded forms, which
     * fault where the interpreter does.
     */
    final boolean sse, ssse3;

    CompiledBlock(int entry, boolean sse, boolean ssse3) {
        this.entry = entry;
        this.sse = sse;
        this.ssse3 = ssse3;
    }

    abstract int run(Core core);

    /** The same code, entered at block {@code k} of its region. */
    abstract CompiledBlock at(int k);
}

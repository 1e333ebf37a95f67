package io.jkvm.emu;

/**
 * A decoded block compiled to JVM bytecode ({@link BlockCompiler}): runs the block's instructions on {@code core} as
 * {@code BlockExecution.runDecoded} does, with the same result (how many ran, negative when the caller must see the
 * boundary), leaving the instruction it is at in {@code core.blockProgress} for a fault to find.
 */
interface CompiledBlock {
    int run(Core core);
}

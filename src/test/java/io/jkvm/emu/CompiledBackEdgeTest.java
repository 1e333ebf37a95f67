package io.jkvm.emu;

import org.junit.jupiter.api.Test;

import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A compiled loop's back edge reads nothing another thread writes (no volatile field, no {@code mayChain}): the JIT may
 * then keep the core's fields in registers across rounds. The loop leaves its method after
 * {@link BlockExecution#CHAIN_LIMIT} instructions, and runBlock takes what is due there; ExternalInterruptTest holds
 * the loops to taking a raised interrupt.
 */
class CompiledBackEdgeTest {
    /** Whether the core's field {@code name} (declared by Core or a superclass) is volatile. */
    private static boolean isVolatile(String name) {
        for (Class<?> c = Core.class; c != null; c = c.getSuperclass()) {
            for (Field f : c.getDeclaredFields()) {
                if (f.getName().equals(name)) {
                    return Modifier.isVolatile(f.getModifiers());
                }
            }
        }
        throw new AssertionError("the core has no field " + name);
    }

    /** Asserts that the loop's method reads no volatile field and never asks mayChain. */
    private static void readsNothingAnotherThreadWrites(BlockOp[] loop) {
        List<String> reads = CompiledGuests.readsAndCalls(loop);
        assertTrue(reads.stream().filter(n -> !n.endsWith("()")).noneMatch(CompiledBackEdgeTest::isVolatile),
                "a volatile field read: " + reads);
        assertFalse(reads.stream().anyMatch(n -> n.endsWith(".mayChain()")), "mayChain asked: " + reads);
    }

    @Test
    void theInterruptLinesAreVolatileSoTheCheckAboveCanFail() {
        assertTrue(isVolatile("interruptLine") && isVolatile("nmiPending"));
    }

    @Test
    void aLoopOfCompiledFormsReadsNothingAnotherThreadWrites() {
        BlockOp[] loop = CompiledGuests.decode("48ffc3" + "ebfb"); // 1: inc rbx; jmp 1b
        assertTrue(Arrays.stream(loop).allMatch(BlockCompiler::compiled));
        readsNothingAnotherThreadWrites(loop);
    }

    @Test
    void aLoopWithAFormTheExecutorRunsReadsNothingAnotherThreadWritesEither() {
        BlockOp[] loop = CompiledGuests.decode("48ffc3" + "480fa3c3" + "ebf7"); // 1: inc rbx; bt rbx, rax; jmp 1b
        assertTrue(Arrays.stream(loop).anyMatch(d -> !BlockCompiler.compiled(d)),
                "BT by a register runs through its decoded form");
        readsNothingAnotherThreadWrites(loop);
    }
}

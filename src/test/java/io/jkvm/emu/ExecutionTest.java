package io.jkvm.emu;

import io.jkvm.testing.EmuVm;
import io.jkvm.testing.TestGuests;
import io.jkvm.x86.Registers;
import io.jkvm.x86.VcpuExit;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.util.function.Supplier;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * -Djkvm.core.execution picks how the core runs: decoded blocks, or the interpreter alone (which the oracle tests'
 * second Surefire run uses to hold the two paths to the same results).
 */
class ExecutionTest {
    /** {@code body}'s result with -Djkvm.core.execution set to {@code value} meanwhile (for the vCPUs it makes). */
    static <T> T with(String value, Supplier<T> body) {
        return withProperty(Execution.PROPERTY, value, body);
    }

    /** {@code body}'s result run in decoded blocks with the compile threshold {@code threshold} meanwhile. */
    static <T> T withThreshold(int threshold, Supplier<T> body) {
        return withProperty(Execution.THRESHOLD_PROPERTY, Integer.toString(threshold), () -> with("blocks", body));
    }

    private static <T> T withProperty(String property, String value, Supplier<T> body) {
        String before = System.getProperty(property);
        System.setProperty(property, value);
        try {
            return body.get();
        } finally {
            if (before == null) {
                System.clearProperty(property);
            } else {
                System.setProperty(property, before);
            }
        }
    }

    /** R8-R11 after the self-modifying guest, and how many pages of decoded blocks the core made. */
    private static long[] runSelfModifying() throws Exception {
        try (EmuVm vm = new EmuVm(Files.readAllBytes(TestGuests.path("self_modifying.bin")))) {
            vm.nextOut(0x80);
            vm.nextOut(0x81);
            assertInstanceOf(VcpuExit.Hlt.class, vm.vcpu.run());
            Registers r = vm.vcpu.registers();
            return new long[]{r.gpr(8), r.gpr(9), r.gpr(10), r.gpr(11), vm.vcpu.decodedPages(), vm.vcpu.instructions(),
                    vm.vcpu.compiledBlocks()};
        }
    }

    @Test
    void theInterpreterAloneDecodesNoBlocksAndGetsTheSameResults() {
        long[] blocks = with("blocks", () -> call(ExecutionTest::runSelfModifying));
        long[] interpreter = with("interpreter", () -> call(ExecutionTest::runSelfModifying));
        assertTrue(blocks[4] > 0, "the default decodes blocks");
        assertEquals(0, interpreter[4], "the interpreter alone decodes none");
        assertEquals(java.util.List.of(33L, 7L, 0x506L, 42L), java.util.List.of(interpreter[0], interpreter[1], interpreter[2], interpreter[3]));
        assertEquals(blocks[5], interpreter[5], "both retire the same instructions");
        assertEquals(0, interpreter[6], "the interpreter compiles nothing");
    }

    /** Every block compiled before its first run: the self-modifying guest recompiles what it rewrites, and ends alike. */
    @Test
    void compiledBlocksGetTheInterpretersResults() {
        long[] compiled = with("compiled", () -> call(ExecutionTest::runSelfModifying));
        long[] interpreter = with("interpreter", () -> call(ExecutionTest::runSelfModifying));
        assertTrue(compiled[6] > 0, "blocks were compiled: " + compiled[6]);
        assertEquals(java.util.List.of(interpreter[0], interpreter[1], interpreter[2], interpreter[3], interpreter[5]),
                java.util.List.of(compiled[0], compiled[1], compiled[2], compiled[3], compiled[5]));
    }

    @Test
    void anUnknownSettingIsRefusedByName() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> with("jit", Execution::fromProperty));
        assertEquals("-Djkvm.core.execution=jit is not blocks, compiled or interpreter", e.getMessage());
    }

    private interface Body<T> {
        T run() throws Exception;
    }

    private static <T> T call(Body<T> body) {
        try {
            return body.run();
        } catch (Exception e) {
            throw new AssertionError(e);
        }
    }
}

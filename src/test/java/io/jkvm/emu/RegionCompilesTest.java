package io.jkvm.emu;

import io.jkvm.testing.EmuVm;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.HexFormat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A region whose entry block reaches the compile threshold while a longer block of the loop retires most of the
 * instructions is compiled on the block compiler's thread and runs once made, with the interpreter's results; a block
 * that retires most of them itself, and every block when all are compiled before they run, are compiled on the vCPU's
 * own thread.
 */
class RegionCompilesTest {
    private static final int ROUNDS = 3 * Execution.DEFAULT_COMPILE_THRESHOLD;
    /** The long block's ADD RDX, 1s: it runs on odd counts, and retires most of the loop's instructions. */
    private static final int ADDS = 27;
    /**
     * xor eax, eax; xor edx, edx; mov ecx, ROUNDS; 1: add rax, 1; test cl, 1; jz 2f; jmp 3f; 3: ADDS times add rdx, 1;
     * jmp 2f; 2: dec ecx; jnz 1b; out 0x80, al; hlt. A Jcc does not end a decoded block, a JMP does: the loop's entry
     * block is its first four instructions.
     */
    private static final String LOOP = "31c0" + "31d2" + "b9" + HexFormat.of().toHexDigits(Integer.reverseBytes(ROUNDS))
            + "4883c001" + "f6c101" + "74" + HexFormat.of().toHexDigits((byte) (2 + 4 * ADDS + 2)) + "eb00"
            + "4883c201".repeat(ADDS) + "eb00"
            + "ffc9" + "75" + HexFormat.of().toHexDigits((byte) -(11 + 4 * ADDS + 2 + 4)) + "e680" + "f4";

    @ParameterizedTest
    @ValueSource(strings = {"interpreter", "blocks", "compiled"})
    void aRegionMadeOnTheCompilerThreadRunsWithTheInterpretersResults(String execution) {
        ExecutionTest.with(execution, () -> {
            try (EmuVm vm = new EmuVm(HexFormat.of().parseHex(LOOP))) {
                vm.nextOut(0x80);
                assertEquals(ROUNDS, vm.vcpu.registers().rax(), "one per round");
                assertEquals((long) ADDS * (ROUNDS / 2), vm.vcpu.registers().rdx(), "the long block on odd counts");
                switch (execution) {
                    case "interpreter" -> assertEquals(0, vm.vcpu.compiledBlocks(), "the interpreter compiles nothing");
                    case "compiled" -> {
                        assertTrue(vm.vcpu.compiledRegions() > 0, "the loop ran in one compiled method");
                        assertEquals(0, vm.vcpu.regionsSent(), "compiling everything before it runs uses no other thread");
                    }
                    default -> {
                        assertTrue(vm.vcpu.regionsSent() > 0, "the loop's entry, a fifth of its instructions, went to the thread");
                        assertTrue(vm.vcpu.compiledRegions() > 0, "the region made on the compiler thread ran");
                    }
                }
            }
            return null;
        });
    }
}

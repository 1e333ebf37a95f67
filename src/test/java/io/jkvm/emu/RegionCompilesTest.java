package io.jkvm.emu;

import io.jkvm.testing.EmuVm;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.HexFormat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A region of blocks that each retire a fifth of a loop's instructions is compiled on the block compiler's thread when
 * its entry reaches the compile threshold, and runs once made, with the interpreter's results; a block that retires
 * most of them itself is compiled on the vCPU's own thread, at 1024 runs, with the blocks around it; and every
 * block when all are compiled before they run.
 */
class RegionCompilesTest {
    private static final int ROUNDS = 3 * Execution.DEFAULT_COMPILE_THRESHOLD;
    /**
     * xor eax, eax; xor edx, edx; mov ecx, ROUNDS; 1: add rax, 1; jmp 2f; 2: add rdx, 1; jmp 3f; 3: add rdx, 1; jmp 4f;
     * 4: add rdx, 1; jmp 5f; 5: dec ecx; jnz 1b; out 0x80, al; hlt. A Jcc does not end a decoded block, a JMP does:
     * five blocks of two instructions a round.
     */
    private static final String LOOP = "31c0" + "31d2" + "b9" + HexFormat.of().toHexDigits(Integer.reverseBytes(ROUNDS))
            + "4883c001" + "eb00" + "4883c201eb00".repeat(3) + "ffc9" + "75e4" + "e680" + "f4";

    /**
     * xor eax, eax; mov ecx, 1000; 1: mov edx, 16; 2: add rax, rdx; dec edx; jnz 2b; add rax, 1; dec ecx; jnz 1b;
     * out 0x80, al; hlt. The block at 2 (the inner loop and the outer one's end) runs 15 times a round, 15000 in all,
     * under the compile threshold, and retires nearly all the instructions; the block at 1 runs once a round.
     */
    private static final String NESTED = "31c0" + "b9e8030000" + "ba10000000" + "4801d0" + "ffca" + "75f9" + "4883c001"
            + "ffc9" + "75ec" + "e680" + "f4";

    @ParameterizedTest
    @ValueSource(strings = {"interpreter", "blocks", "compiled"})
    void aLoopThatRetiresMostInstructionsCompilesBeforeTheThresholdWithTheBlocksAroundIt(String execution) {
        ExecutionTest.with(execution, () -> {
            try (EmuVm vm = new EmuVm(HexFormat.of().parseHex(NESTED))) {
                vm.nextOut(0x80);
                assertEquals(1000 * (136 + 1), vm.vcpu.registers().rax(), "16 + 15 + ... + 1, and one, a round");
                if (execution.equals("interpreter")) {
                    assertEquals(0, vm.vcpu.compiledBlocks(), "the interpreter compiles nothing");
                } else {
                    // at a tenth of the threshold the outer block has run a fifteenth as often: still in the region
                    assertTrue(vm.vcpu.compiledRegions() > 0, "the inner loop and the outer block ran in one method");
                    assertEquals(0, vm.vcpu.regionsSent(), "compiled on the vCPU's own thread");
                }
            }
            return null;
        });
    }

    /**
     * xor eax, eax; mov ecx, 3000; 1: add rax, 3; dec ecx; jnz 1b; out 0x80, al; hlt. The loop's block runs 3000 times,
     * a seventeenth of the compile threshold, and retires nearly every instruction.
     */
    private static final String SHORT_LOOP = "31c0" + "b9b80b0000" + "4883c003" + "ffc9" + "75f8" + "e680" + "f4";

    @ParameterizedTest
    @ValueSource(strings = {"interpreter", "blocks", "compiled"})
    void aLoopThatRetiresMostInstructionsCompilesAtItsFirstLookAfter1024Runs(String execution) {
        ExecutionTest.with(execution, () -> {
            try (EmuVm vm = new EmuVm(HexFormat.of().parseHex(SHORT_LOOP))) {
                vm.nextOut(0x80);
                assertEquals(3 * 3000, vm.vcpu.registers().rax(), "three a round");
                if (execution.equals("interpreter")) {
                    assertEquals(0, vm.vcpu.compiledBlocks(), "the interpreter compiles nothing");
                } else {
                    assertTrue(vm.vcpu.compiledBlocks() > 0, "the loop ran compiled before its 3000 runs ended");
                    assertEquals(0, vm.vcpu.regionsSent(), "compiled on the vCPU's own thread");
                }
            }
            return null;
        });
    }

    @ParameterizedTest
    @ValueSource(strings = {"interpreter", "blocks", "compiled"})
    void aRegionMadeOnTheCompilerThreadRunsWithTheInterpretersResults(String execution) {
        ExecutionTest.with(execution, () -> {
            try (EmuVm vm = new EmuVm(HexFormat.of().parseHex(LOOP))) {
                vm.nextOut(0x80);
                assertEquals(ROUNDS, vm.vcpu.registers().rax(), "one per round");
                assertEquals(3L * ROUNDS, vm.vcpu.registers().rdx(), "three per round");
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

package io.jkvm.emu;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.HexFormat;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A region's other blocks run its method entered at their own start: a loop nest whose method leaves after
 * {@link BlockExecution#CHAIN_LIMIT} instructions, mostly at its inner loop's block, comes back there through that
 * block's entry into the same method (RIP, registers and the instruction count as the interpreter has them), and no
 * region of the inner block's own is compiled.
 */
class RegionEntriesTest {
    /**
     * xor eax, eax; xor edx, edx; mov ecx, 30000; jmp 1f; 1: mov esi, 10; 2: add rax, rsi; dec esi; jnz 2b;
     * add rdx, 1; dec ecx; jnz 1b; hlt. All compiled at once, the first block runs first and has the blocks at 1 and
     * 2 in its region; at the compile threshold, the block at 2 gets there first, and the one at 1 has run often
     * enough by then to be in its region.
     */
    private static final String NEST = "31c0 31d2 b930750000 eb00 be0a000000 4801f0 ffce 75f9 4883c201 ffc9 75ec f4";

    @ParameterizedTest
    @ValueSource(strings = {"interpreter", "blocks", "compiled"})
    void aMemberEnteredAtItsStartRunsWithTheInterpretersResults(String execution) {
        byte[] code = HexFormat.of().parseHex(NEST.replace(" ", ""));
        long[] counts = new long[2];
        List<Long> seen = CompiledGuests.runToHlt(execution, code, vm -> {
            counts[0] = vm.vcpu.regionEntries();
            counts[1] = vm.vcpu.compiledBlocks();
            return List.of();
        });
        assertEquals(30000L * 55, seen.get(0), "RAX: 30000 rounds of 10 + 9 + ... + 1");
        assertEquals(30000L, seen.get(2), "RDX: one per outer round");
        assertEquals(4 + 30000L * (1 + 10 * 3 + 3), seen.get(seen.size() - 1), "instructions retired, HLT not yet");
        assertEquals(CompiledGuests.runToHlt("interpreter", code, vm -> List.of()), seen);
        switch (execution) {
            case "interpreter" -> assertEquals(0, counts[0]);
            case "compiled" -> {
                // the first block's region is the path into the nest and the nest itself: the loops' blocks run in it
                assertEquals(2, counts[0], "the outer and the inner loop's blocks entered the first block's region");
                assertEquals(1, counts[1], "the first block's region alone; none for the loops' blocks");
            }
            default -> assertTrue(counts[0] > 0, "one of the loop's blocks entered the other's region");
        }
    }
}

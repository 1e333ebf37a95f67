package io.jkvm.emu;

import io.jkvm.testing.EmuVm;
import io.jkvm.x86.Registers;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.HexFormat;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A loop whose back edge goes into the middle of its head block's straight run, as XZ's range decoder does: the block
 * at the head runs on through the code the other block starts at, so the two decoded blocks overlap. A region holds
 * that code once (the head's block cut before the other's start, falling through to it), with the interpreter's
 * results; a method of a cut block alone leaves where the cut is as a branch there would.
 */
class OverlappingBlocksTest {
    private static final int ROUNDS = 2 * Execution.DEFAULT_COMPILE_THRESHOLD;
    private static final String ROUNDS_IMM = HexFormat.of().toHexDigits(Integer.reverseBytes(ROUNDS));
    /**
     * xor eax, eax; xor edx, edx; mov ecx, ROUNDS; then head: add rax, rcx; test cl, 1; jnz mid; add rdx, 5; mid: add
     * rdx, rax; dec ecx; jz done; test cl, 2; jz head; jmp mid; done: out 0x80, al; mov ecx, ROUNDS; jmp head.
     */
    private static final String LOOP = "31c0" + "31d2" + "b9" + ROUNDS_IMM + "4801c8" + "f6c101" + "7504" + "4883c205"
            + "4801c2" + "ffc9" + "7407" + "f6c102" + "74e8" + "ebf2" + "e680" + "b9" + ROUNDS_IMM + "ebdd";
    private static final int HEAD = 9, MID = 0x15;

    @Test
    void aBlockIsCutBeforeTheStartOfAnotherAndFallsThroughToIt() {
        byte[] code = HexFormat.of().parseHex(LOOP);
        BlockOp[] head = CompiledGuests.blockAt(code, HEAD), mid = CompiledGuests.blockAt(code, MID);
        assertEquals(10, head.length, "the head's block runs on through mid to the JMP");
        assertEquals(6, mid.length);
        BlockRegion region = BlockRegion.ofOverlapping(new BlockOp[][]{head, mid}, new long[]{0, MID - HEAD});
        assertEquals(4, region.blocks()[0].length, "ADD, TEST, JNZ and ADD: up to mid's start");
        assertArrayEquals(mid, region.blocks()[1], "mid's own block overlaps no other start");
        assertTrue(region.entryCut());
        assertArrayEquals(new long[]{MID - HEAD}, java.util.Arrays.stream(BlockRegion.successors(region.blocks()[0], 0))
                .distinct().toArray(), "the cut block goes on only to mid: its JNZ there and its fall-through");
        BlockRegion apart = BlockRegion.ofOverlapping(new BlockOp[][]{mid, head}, new long[]{0, HEAD - MID});
        assertArrayEquals(mid, apart.blocks()[0], "mid's block does not run into the head's start");
        assertEquals(4, apart.blocks()[1].length, "a member is cut as the entry is");
        assertFalse(apart.entryCut());
    }

    @Test
    void aCutBlockAloneLeavesAsABranchWould() {
        BlockOp[] straight = CompiledGuests.decode("4801c8" + "4883c205" + "4801c2"); // add rax, rcx; add rdx, 5; add rdx, rax
        assertFalse(setsBranched(BlockCompiler.fittingClass(straight, false)),
                "a whole block's end is its decoded block's: the runner may run the instruction it ends before");
        assertTrue(setsBranched(BlockCompiler.fittingClass(straight, true)),
                "a cut one's is not: the runner must look the next block up");
    }

    @ParameterizedTest
    @ValueSource(strings = {"blocks", "compiled"})
    void theLoopGivesTheInterpretersResults(String execution) {
        Registers expected = CompiledGuests.loopToOut("interpreter", LOOP);
        Registers seen = CompiledGuests.loopToOut(execution, LOOP);
        assertEquals(expected.rax(), seen.rax(), "RAX: the sum of the counts the head saw");
        assertEquals(expected.rdx(), seen.rdx(), "RDX: what mid and the head's ADD added");
        assertEquals(expected.rip(), seen.rip());
    }

    @Test
    void theCompiledLoopRunsInItsRegion() {
        ExecutionTest.with("compiled", () -> {
            try (EmuVm vm = new EmuVm(HexFormat.of().parseHex(LOOP))) {
                vm.nextOut(0x80);
                CoreStats before = vm.vcpu.coreStats();
                vm.nextOut(0x80);
                CoreStats round = vm.vcpu.coreStats();
                long instructions = round.instructions() - before.instructions();
                long calls = round.regionCalls() - before.regionCalls();
                assertTrue(round.inCompiledRegions() - before.inCompiledRegions() > instructions * 99 / 100,
                        "the second round ran compiled");
                assertTrue(calls * 1000 < instructions, calls + " region calls for " + instructions + " instructions");
            }
            return null;
        });
    }

    /** Whether a run method of {@code bytes} sets the core's branched field. */
    private static boolean setsBranched(byte[] bytes) {
        return java.lang.classfile.ClassFile.of().parse(bytes).methods().stream()
                .filter(m -> m.methodName().equalsString("run")).findFirst().orElseThrow().code().orElseThrow()
                .elementStream().anyMatch(e -> e instanceof java.lang.classfile.instruction.FieldInstruction f
                        && f.opcode() == java.lang.classfile.Opcode.PUTFIELD && f.name().equalsString("branched"));
    }
}

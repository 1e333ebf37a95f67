package io.jkvm.emu;

import io.jkvm.testing.EmuVm;
import io.jkvm.x86.VcpuExit;
import org.junit.jupiter.api.Test;

import java.util.HexFormat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Where a vCPU's instructions ran, as {@link EmulatedVcpu#coreStats} counts them, in each of the core's settings. */
class CoreStatsTest {
    private static final int ROUNDS = 20_000;

    /**
     * mov ecx, ROUNDS; 1: add rax, rcx; dec ecx; jnz 1b; hlt: a block of four instructions that runs once, then the
     * loop's block of three, ROUNDS - 1 times, and the HLT.
     */
    private static final byte[] LOOP = HexFormat.of().parseHex("b9204e0000" + "4801c8" + "ffc9" + "75f9" + "f4");
    private static final long INSTRUCTIONS = 3L * ROUNDS + 2;

    private static CoreStats loop() {
        try (EmuVm vm = new EmuVm(LOOP)) {
            assertInstanceOf(VcpuExit.Hlt.class, vm.vcpu.run());
            assertEquals((long) ROUNDS * (ROUNDS + 1) / 2, vm.vcpu.registers().gpr(0));
            CoreStats s = vm.vcpu.coreStats();
            assertEquals(vm.vcpu.instructions(), s.instructions());
            assertEquals(INSTRUCTIONS - 1, s.instructions(), s.summary()); // the HLT is not retired: RIP stays on it
            return s;
        }
    }

    @Test
    void theInterpreterRunsEveryInstructionOneAtATime() {
        CoreStats s = ExecutionTest.with("interpreter", CoreStatsTest::loop);
        assertEquals(s.instructions(), s.oneAtATime(), s.summary());
        assertEquals(0, s.inCompiledRegions() + s.inDecodedBlocks() + s.regionCalls() + s.decodedBlockRuns() + s.regionsMade(),
                s.summary());
        assertTrue(s.summary().contains("100.0% one at a time"), s.summary());
    }

    @Test
    void everyBlockCompiledRunsEveryInstructionInARegion() {
        CoreStats s = ExecutionTest.with("compiled", CoreStatsTest::loop);
        assertEquals(s.instructions(), s.inCompiledRegions(), s.summary());
        assertEquals(0, s.inDecodedBlocks(), s.summary());
        // the first block's region holds the loop; it leaves at the loop's end, where the HLT's block (no decoded
        // form) is looked up once before the interpreter runs the HLT
        assertTrue(s.decodedBlockRuns() <= 1, s.summary());
        assertTrue(s.regionsMade() >= 1 && s.regionCalls() >= 1, s.summary());
        assertEquals(7, s.instructionsDecoded(), s.summary()); // the two blocks, decoded once each
    }

    @Test
    void aHotLoopRunsDecodedUntilItsBlockIsCompiledThenInItsRegion() {
        CoreStats s = ExecutionTest.withThreshold(3000, CoreStatsTest::loop);
        // the loop's block is compiled as a hot loop at its 1024th run: the first block once, the loop's 1023 times
        assertEquals(1024, s.decodedBlockRuns(), s.summary());
        assertEquals(4 + 3 * 1023, s.inDecodedBlocks(), s.summary());
        assertEquals(s.instructions() - s.inDecodedBlocks(), s.inCompiledRegions(), s.summary());
        assertEquals(1, s.regionsMade(), s.summary());
        assertEquals(0, s.cacheFlushes(), s.summary());
    }
}

package io.jkvm.emu;

import io.jkvm.machine.LongModeBoot;
import io.jkvm.testing.EmuVm;
import io.jkvm.x86.Registers;
import io.jkvm.x86.VcpuExit;
import org.junit.jupiter.api.Test;

import java.util.HexFormat;
import java.util.function.Supplier;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The vCPUs over one guest RAM share their compiled regions: a second vCPU running a loop the first compiled takes
 * the first's class at a sixteenth of the compile threshold (long before it would compile the loop itself), and gets
 * the interpreter's results; a vCPU over another RAM does not see it.
 */
class SharedRegionsTest {
    /** The threshold of these vCPUs: a loop block looks for a shared class at its 500th run, is hot at its 1024th. */
    private static final int THRESHOLD = 8000;
    /** Rounds the second vCPU runs: past the look-up at 500 runs, short of the hot-loop compile at 1024. */
    private static final int SHORT = 600;

    // xor eax, eax; mov ebx, 3; mov esi, 0x300000
    // 1: add rax, rbx; mov r8, [rsi]; add r8, rax; dec rcx; jnz 1b; hlt (RCX: the rounds)
    private static final byte[] LOOP = HexFormat.of().parseHex("31c0bb03000000be00003000" + "4801d84c8b064901c048ffc975f2" + "f4");

    private static <T> T withThreshold(Supplier<T> body) {
        return ExecutionTest.withThreshold(THRESHOLD, body);
    }

    /** Runs {@code v} from the loop's start with RCX = {@code rounds} to HLT; RAX and R8 after it. */
    private static long[] runLoop(EmulatedVcpu v, EmuVm vm, int rounds, long stack) {
        v.setRegisters(LongModeBoot.registers(EmuVm.CODE, stack).withGpr(1, rounds));
        assertInstanceOf(VcpuExit.Hlt.class, v.run());
        Registers r = v.registers();
        return new long[]{r.gpr(0), r.gpr(8)};
    }

    private record Seen(long shared, long compiled, long[] results) {
    }

    @Test
    void aSecondVcpuRunsTheClassTheFirstMadeForItsLoop() {
        Seen[] both = withThreshold(() -> {
            try (EmuVm vm = new EmuVm(LOOP)) {
                long[] first = runLoop(vm.vcpu, vm, 5 * THRESHOLD, vm.memory.size());
                assertEquals(3L * 5 * THRESHOLD, first[0], "the first vCPU's loop ran");
                EmulatedVcpu second = new EmulatedVcpu(1, vm.memory.mapping(), vm.model);
                second.setSpecialRegisters(vm.vcpu.specialRegisters());
                long[] results = runLoop(second, vm, SHORT, vm.memory.size() - 0x10000);
                return new Seen[]{new Seen(vm.vcpu.regionsShared(), vm.vcpu.compiledBlocks(), first),
                        new Seen(second.regionsShared(), second.compiledBlocks(), results)};
            }
        });
        assertEquals(0, both[0].shared(), "the first vCPU found no class made before");
        assertTrue(both[0].compiled() >= 1, "the first vCPU compiled its loop");
        assertEquals(1, both[1].shared(), "the second vCPU took the first's class for its loop");
        assertEquals(1, both[1].compiled(), "and compiled nothing of its own");
        long[] interpreter = ExecutionTest.with("interpreter", () -> {
            try (EmuVm vm = new EmuVm(LOOP)) {
                return runLoop(vm.vcpu, vm, SHORT, vm.memory.size());
            }
        });
        assertEquals(3L * SHORT, interpreter[0]);
        assertEquals(interpreter[0], both[1].results()[0], "RAX as the interpreter leaves it");
        assertEquals(interpreter[1], both[1].results()[1], "R8 as the interpreter leaves it");
    }

    @Test
    void aVcpuOverAnotherRamDoesNotSeeIt() {
        long[] counts = withThreshold(() -> {
            try (EmuVm one = new EmuVm(LOOP); EmuVm other = new EmuVm(LOOP)) {
                runLoop(one.vcpu, one, 5 * THRESHOLD, one.memory.size());
                runLoop(other.vcpu, other, SHORT, other.memory.size());
                return new long[]{one.vcpu.compiledBlocks(), other.vcpu.regionsShared(), other.vcpu.compiledBlocks()};
            }
        });
        assertNotEquals(0, counts[0], "the first machine's vCPU compiled the loop");
        assertEquals(0, counts[1], "the other machine's vCPU took no class");
        assertEquals(0, counts[2], "and ran its short loop decoded");
    }

    @Test
    void regionsAreTheSameByTheirInstructionsAndOffsets() {
        BlockOp[] loop = CompiledGuests.blockAt(LOOP, 12);
        BlockOp[] again = CompiledGuests.blockAt(LOOP, 12);
        SharedRegions.Key key = new SharedRegions.Key(new BlockRegion(new BlockOp[][]{loop, again}, new long[]{0, 64}));
        assertEquals(key, new SharedRegions.Key(new BlockRegion(new BlockOp[][]{again, loop}, new long[]{0, 64})),
                "decoded twice, the same instructions");
        assertNotEquals(key, new SharedRegions.Key(new BlockRegion(new BlockOp[][]{loop, again}, new long[]{0, 128})),
                "the second block at another offset");
        assertNotEquals(key, new SharedRegions.Key(new BlockRegion(new BlockOp[][]{loop, CompiledGuests.blockAt(LOOP, 15)},
                new long[]{0, 64})), "the second block from another instruction on");
    }
}

package io.jkvm.emu;

import io.jkvm.testing.Asm;
import io.jkvm.testing.EmuVm;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.HexFormat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Blocks of one page that branch to each other run in one compiled method (a region), with the interpreter's results:
 * a loop of three blocks, a fault in a block the region reached by a branch, and code of such a block that the host
 * rewrites between two runs.
 */
class CompiledRegionTest {
    /** The loop's rounds: the default setting compiles its blocks only past {@link Execution#DEFAULT_COMPILE_THRESHOLD} runs. */
    private static final int ROUNDS = 2 * Execution.DEFAULT_COMPILE_THRESHOLD;
    /** MOV ECX, {@link #ROUNDS}. */
    private static final String MOV_ECX_ROUNDS = "b9" + HexFormat.of().toHexDigits(Integer.reverseBytes(ROUNDS));
    /**
     * xor eax, eax; xor edx, edx; mov ecx, ROUNDS; then 1: add rax, rcx; test cl, 1; jz 2f; add rdx, 3; jmp 3f;
     * 2: sub rdx, 1; 3: dec ecx; jnz 1b; out 0x80, al; mov ecx, ROUNDS; jmp 1b.
     */
    private static final String THREE_BLOCKS = "31c0" + "31d2" + MOV_ECX_ROUNDS + "4801c8" + "f6c101" + "7406" + "4883c203"
            + "eb04" + "4883ea01" + "ffc9" + "75ea" + "e680" + MOV_ECX_ROUNDS + "ebe1";
    /** Where SUB RDX, 1's immediate is in {@link #THREE_BLOCKS}. */
    private static final int SUB_IMMEDIATE = 0x1A;

    @ParameterizedTest
    @ValueSource(strings = {"interpreter", "blocks", "compiled"})
    void aLoopOfThreeBlocksRunsInOneMethodWithTheInterpretersResults(String execution) {
        ExecutionTest.with(execution, () -> {
            try (EmuVm vm = new EmuVm(HexFormat.of().parseHex(THREE_BLOCKS))) {
                vm.nextOut(0x80);
                assertEquals((long) ROUNDS * (ROUNDS + 1) / 2, vm.vcpu.registers().rax(), "the sum of 1 to ROUNDS");
                assertEquals(ROUNDS / 2 * 3 - ROUNDS / 2, vm.vcpu.registers().rdx(), "+3 on odd counts, -1 on even ones");
                if (execution.equals("interpreter")) {
                    assertEquals(0, vm.vcpu.compiledRegions(), "the interpreter compiles nothing");
                } else {
                    assertTrue(vm.vcpu.compiledRegions() > 0, "no compiled method ran more than one block");
                    long regions = vm.vcpu.compiledRegions();
                    vm.nextOut(0x80);
                    assertEquals(regions, vm.vcpu.compiledRegions(), "a second round, its code unchanged, compiles nothing again");
                }
            }
            return null;
        });
    }

    @ParameterizedTest
    @ValueSource(strings = {"interpreter", "blocks", "compiled"})
    void codeOfABranchTargetTheHostRewritesRunsAsRewritten(String execution) {
        ExecutionTest.with(execution, () -> {
            try (EmuVm vm = new EmuVm(HexFormat.of().parseHex(THREE_BLOCKS))) {
                vm.nextOut(0x80);
                vm.memory.write(EmuVm.CODE + SUB_IMMEDIATE, new byte[] {2}, 0, 1); // now SUB RDX, 2
                vm.nextOut(0x80);
                assertEquals(ROUNDS + ROUNDS / 2 * 3 - ROUNDS / 2 * 2, vm.vcpu.registers().rdx(), "the second round subtracts 2");
            }
            return null;
        });
    }

    /**
     * mov rbx, data; xor eax, eax; mov ecx, ROUNDS; jmp 1f; then 1: inc rax; cmp ecx, 1; jne 2f; mov rbx, 1 << 63;
     * jmp 2f; 2: add rax, [rbx]; dec ecx; jnz 1b: the last round's ADD faults (#GP, a non-canonical address). Block 1
     * is entered first each round, so it is the region's entry and the ADD's block a member.
     */
    @ParameterizedTest
    @ValueSource(strings = {"interpreter", "blocks", "compiled"})
    void aFaultInABlockReachedByABranchIsPrecise(String execution) {
        long data = 0x150000;
        Asm setup = new Asm().movImm64(3, data);
        byte[] loop = HexFormat.of().parseHex("31c0" + MOV_ECX_ROUNDS + "eb00" + "48ffc0" + "83f901" + "750c"
                + "48bb0000000000000080" + "eb00" + "480303" + "ffc9" + "75e5" + "e680");
        byte[] code = new byte[setup.bytes().length + loop.length];
        System.arraycopy(setup.bytes(), 0, code, 0, setup.bytes().length);
        System.arraycopy(loop, 0, code, setup.bytes().length, loop.length);
        long add = EmuVm.CODE + setup.bytes().length + 0x1D;
        ExecutionTest.with(execution, () -> {
            try (EmuVm vm = new EmuVm(code)) {
                ExceptionsTest.installIdt(vm);
                vm.memory.writeLong(data, 1);
                assertEquals(13, vm.nextOut(0x90), "#GP");
                assertEquals(add, vm.vcpu.registers().rdx(), "the saved RIP: the ADD");
                assertEquals((2L * ROUNDS - 1) >>> 8, vm.vcpu.registers().rax() >>> 8, "ROUNDS - 1 rounds of 2 and the last INC");
                assertEquals(0, vm.vcpu.registers().rbx(), "the error code");
            }
            return null;
        });
    }
}

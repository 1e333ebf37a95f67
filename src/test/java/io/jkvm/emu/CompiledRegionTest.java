package io.jkvm.emu;

import io.jkvm.testing.Asm;
import io.jkvm.testing.EmuVm;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.HexFormat;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Blocks of one page that branch to each other run in one compiled method (a region), with the interpreter's results:
 * a loop of three blocks, a fault in a block the region reached by a branch, code of such a block that the host
 * rewrites between two runs, recursive calls and their returns, a return to an address no CALL pushed, and a CALL out
 * of the region, which pushes as one in it does.
 */
class CompiledRegionTest {
    /**
     * add rax, rbx; call +0x100 (out of the region): the push goes through the region's own store, as a PUSH's and a
     * CALL's within the region do, not through NearBranches.call (the register file's RSP, the core's generic write).
     */
    @Test
    void aCallOutOfItsRegionPushesThroughTheRegionsOwnStore() {
        List<String> calls = CompiledGuests.readsAndCalls(CompiledGuests.decode("4801d8" + "e800010000"));
        assertTrue(calls.contains("io/jkvm/emu/Core.write64()"), calls.toString());
        assertTrue(calls.contains("io/jkvm/emu/Core.canonicalTarget()"), "a non-canonical target's #GP first: " + calls);
        assertFalse(calls.contains("io/jkvm/emu/NearBranches.call()"), calls.toString());
    }

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

    /**
     * mov edi, 12; call fib; out 0x80, al; hlt; then fib (RAX = fib(RDI), recursive): cmp rdi, 2; jae 1f; mov rax, rdi;
     * ret; 1: push rdi; dec rdi; call fib; pop rdi; push rax; push rdi; sub rdi, 2; call fib; pop rdi; pop rdx;
     * add rax, rdx; ret.
     */
    private static final String FIB = "bf0c000000e803000000e680f44883ff0273044889f8c35748ffcfe8edffffff5f50574883ef02"
            + "e8e1ffffff5f5a4801d0c3";

    @ParameterizedTest
    @ValueSource(strings = {"interpreter", "blocks", "compiled"})
    void recursiveCallsAndTheirReturnsRunInOneMethodWithTheInterpretersResults(String execution) {
        long[] interpreter = ExecutionTest.with("interpreter", () -> fib());
        long[] run = ExecutionTest.with(execution, () -> fib());
        assertEquals(144, run[0], "fib(12)");
        assertEquals(interpreter[1], run[1], "the same instructions retired");
        assertEquals(interpreter[2], run[2], "RSP back where it started");
        if (execution.equals("compiled")) {
            assertTrue(run[3] > 0, "fib's calls and returns run in a region");
        }
    }

    /** RAX, the instructions retired and RSP after the FIB guest, and how many regions it compiled. */
    private static long[] fib() {
        try (EmuVm vm = new EmuVm(HexFormat.of().parseHex(FIB))) {
            long rsp = vm.vcpu.registers().gpr(4);
            vm.nextOut(0x80);
            return new long[]{vm.vcpu.registers().rax(), vm.vcpu.instructions(), vm.vcpu.registers().gpr(4) - rsp,
                    vm.vcpu.compiledRegions()};
        }
    }

    /**
     * mov ecx, 100; 1: cmp ecx, -1; je 3f; call f; jmp 4f; 3: dec ecx; jnz 1b; out 0x80, al; hlt; 4: out 0x81, al; hlt;
     * f: add qword ptr [rsp], 2; ret. The callee returns past the JMP after its CALL, to 3: (a block of the region
     * through the JE that is never taken), not to the return site the CALL pushed.
     */
    private static final String SKIPPING_RETURN = "b96400000083f9ff7407e80c000000eb07ffc975f0e680f4e681f44883042402c3";

    @ParameterizedTest
    @ValueSource(strings = {"interpreter", "blocks", "compiled"})
    void aReturnToAnAddressNoCallPushedGoesThere(String execution) {
        long interpreter = ExecutionTest.with("interpreter", CompiledRegionTest::skippingReturn);
        assertEquals(interpreter, ExecutionTest.with(execution, CompiledRegionTest::skippingReturn), "instructions retired");
    }

    /** Runs SKIPPING_RETURN to its OUT to 0x80; the instructions retired. */
    private static long skippingReturn() {
        try (EmuVm vm = new EmuVm(HexFormat.of().parseHex(SKIPPING_RETURN))) {
            vm.nextOut(0x80); // 0x81 had the RET gone to the JMP after its CALL
            assertEquals(0, vm.vcpu.registers().rcx(), "100 rounds");
            return vm.vcpu.instructions();
        }
    }
}

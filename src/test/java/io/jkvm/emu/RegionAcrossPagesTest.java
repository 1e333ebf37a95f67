package io.jkvm.emu;

import io.jkvm.testing.Asm;
import io.jkvm.testing.EmuVm;
import io.jkvm.x86.VcpuExit;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.HexFormat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A loop at the end of one page that calls a function at the start of the next runs in one compiled method, the
 * function's block in it, with the interpreter's results; a store over the function's code, or the function's page
 * mapped to another frame, is seen by the loop's next round without an exit between, and so is a store over the
 * function's page after its blocks went with another page's.
 */
class RegionAcrossPagesTest {
    private static final int ROUNDS = 2 * Execution.DEFAULT_COMPILE_THRESHOLD;
    /** Where the loop's code starts in its page: it ends well before the page's end. */
    private static final int LOOP = 0xFB0;
    /** mix: imul rdx, rdi, 31; xor rdx, rcx; shr rdi, 3; add rdx, rdi; ret. Its multiplier is byte 3. */
    private static final String MIX = "486bd71f" + "4831ca" + "48c1ef03" + "4801fa" + "c3";

    /**
     * From LOOP: again: mov ecx, ROUNDS; loop: mov rdi, rsi; call mix (the next page's start); add rax, rdx;
     * dec ecx; jnz loop; then {@code between}; dec r8d; jnz again; out 0x80, al; hlt.
     */
    private static byte[] loop(String between) {
        Asm a = new Asm().raw("b9").immediate(ROUNDS, 4);
        int call = a.bytes().length + 3; // after mov rdi, rsi
        a.raw("4889f7").raw("e8").immediate(0x1000 - (LOOP + call + 5), 4).raw("4801d0" + "ffc9");
        int jnz = a.bytes().length;
        a.raw("75").immediate((5 - (jnz + 2)) & 0xFF, 1).raw(between);
        int dec = a.bytes().length;
        a.raw("41ffc8" + "0f85").immediate(-(dec + 3 + 6), 4).raw("e680").hlt();
        return a.bytes();
    }

    /** xor eax, eax; mov rsi, 0x12345; mov r8d, 2; mov r9, {@code at}; then {@code setup}; jmp r9. */
    private static byte[] start(long at, String setup) {
        return new Asm().raw("31c0").movImm64(6, 0x12345).raw("41b802000000").movImm64(9, at).raw(setup)
                .raw("41ffe1").bytes();
    }

    /** RAX after the guest, and the vCPU's count of regions across pages and of entries that found a page moved. */
    private record Run(long rax, long acrossPages, long pagesMoved) {
    }

    @ParameterizedTest
    @ValueSource(strings = {"interpreter", "blocks", "compiled"})
    void aLoopCallingIntoTheNextPageRunsInOneMethodWithTheInterpretersResults(String execution) {
        Run interpreter = ExecutionTest.with("interpreter", () -> identityMapped("", MIX));
        Run run = ExecutionTest.with(execution, () -> identityMapped("", MIX));
        assertEquals(interpreter.rax(), run.rax(), "RAX");
        if (!execution.equals("interpreter")) {
            assertTrue(run.acrossPages() > 0, "the loop, the function and the return site in one method");
        }
    }

    /** Between the two passes the loop stores 7 over mix's multiplier (mov byte [rip + mix + 3], 7): no exit between. */
    @ParameterizedTest
    @ValueSource(strings = {"interpreter", "blocks", "compiled"})
    void aStoreOverTheFunctionInTheNextPageIsSeenByTheLoopsRegion(String execution) {
        String store = "c605" + "%08x" + "07"; // the displacement, from the end of this 7-byte instruction
        int storeAt = LOOP + loop("").length - 12; // where loop() puts `between`: before dec r8d, jnz, out, hlt
        int displacement = 0x1000 + 3 - (storeAt + 7);
        String between = String.format(store, Integer.reverseBytes(displacement));
        Run unchanged = ExecutionTest.with("interpreter", () -> identityMapped("", MIX));
        Run interpreter = ExecutionTest.with("interpreter", () -> identityMapped(between, MIX));
        Run run = ExecutionTest.with(execution, () -> identityMapped(between, MIX));
        assertNotEquals(unchanged.rax(), interpreter.rax(), "the second pass multiplies by 7");
        assertEquals(interpreter.rax(), run.rax(), "RAX");
    }

    /**
     * The loop in page 0 of the linear pages, mix in page 1: each pass after the first maps page 1 to another frame.
     * The loop's block leaves its region when it finds the page moved, and is compiled again with the page as it is.
     */
    @ParameterizedTest
    @ValueSource(strings = {"interpreter", "blocks", "compiled"})
    void theFunctionsPageMappedToAnotherFrameIsSeenByTheLoopsRegion(String execution) {
        Run interpreter = ExecutionTest.with("interpreter", RegionAcrossPagesTest::remapped);
        Run run = ExecutionTest.with(execution, RegionAcrossPagesTest::remapped);
        assertEquals(interpreter.rax(), run.rax(), "RAX");
        if (!execution.equals("interpreter")) {
            assertTrue(run.pagesMoved() > 0, "the region's entry found the function's page moved");
            assertTrue(run.pagesMoved() < 100, "not one look at each of the second pass's rounds: " + run.pagesMoved());
            assertTrue(run.acrossPages() >= 2, "a region with each frame: " + run.acrossPages());
        }
    }

    /**
     * Two loops call mix, one from the page before its page (P) and one from the page after (R), each in a region
     * with it. A store over loop P's code drops the blocks of mix's page too; mix's page keeps its code lines, so the
     * store over mix's multiplier that comes next, with no exit and no run of mix between, still drops loop R's
     * region, which runs mix's code as it was: loop R's next pass multiplies by 7.
     */
    @ParameterizedTest
    @ValueSource(strings = {"interpreter", "blocks", "compiled"})
    void aStoreOverAPageWhoseBlocksWentWithAnotherPageStillDropsTheRegionsRunningIt(String execution) {
        Run unchanged = ExecutionTest.with("interpreter", () -> twoLoops(false));
        Run interpreter = ExecutionTest.with("interpreter", () -> twoLoops(true));
        Run run = ExecutionTest.with(execution, () -> twoLoops(true));
        assertNotEquals(unchanged.rax(), interpreter.rax(), "loop R's second pass multiplies by 7");
        assertEquals(interpreter.rax(), run.rax(), "RAX");
        if (!execution.equals("interpreter")) {
            assertTrue(run.acrossPages() >= 2, "each loop in a region with mix: " + run.acrossPages());
        }
    }

    /** mov ecx, ROUNDS; 1: mov rdi, rsi; call mix; add rax, rdx; dec ecx; jnz 1b; ret: at {@code at}. */
    private static byte[] callingLoop(long at, long mix) {
        Asm a = new Asm().raw("b9").immediate(ROUNDS, 4).raw("4889f7").raw("e8");
        a.immediate(mix - (at + a.bytes().length + 4), 4).raw("4801d0" + "ffc9");
        int jnz = a.bytes().length;
        return a.raw("75").immediate((5 - (jnz + 2)) & 0xFF, 1).raw("c3").bytes();
    }

    /**
     * Loop R, loop P, a store of loop P's own first byte over it, then (with {@code storeMix}) 7 over mix's
     * multiplier, and loop R again; out 0x80, al; hlt.
     */
    private static Run twoLoops(boolean storeMix) {
        long loopP = EmuVm.CODE + 0x1000 + LOOP, mix = EmuVm.CODE + 0x2000, loopR = EmuVm.CODE + 0x3010;
        Asm main = new Asm().raw("31c0").movImm64(6, 0x12345)
                .movImm64(9, loopR).raw("41ffd1").movImm64(9, loopP).raw("41ffd1") // call r9
                .movImm64(10, loopP).raw("41c602b9"); // mov byte [r10], 0xb9: MOV ECX's opcode, as it was
        if (storeMix) {
            main.movImm64(10, mix + 3).raw("41c60207"); // mov byte [r10], 7
        }
        main.movImm64(9, loopR).raw("41ffd1").raw("e680").hlt();
        try (EmuVm vm = new EmuVm(main.bytes())) {
            for (long at : new long[]{loopP, loopR}) {
                byte[] loop = callingLoop(at, mix);
                vm.memory.write(at, loop, 0, loop.length);
            }
            byte[] function = HexFormat.of().parseHex(MIX);
            vm.memory.write(mix, function, 0, function.length);
            return finish(vm);
        }
    }

    /** The guest with the loop at CODE + LOOP and mix at the next page, identity-mapped. */
    private static Run identityMapped(String between, String mix) {
        byte[] loop = loop(between);
        try (EmuVm vm = new EmuVm(start(EmuVm.CODE + LOOP, ""))) {
            vm.memory.write(EmuVm.CODE + LOOP, loop, 0, loop.length);
            byte[] function = HexFormat.of().parseHex(mix);
            vm.memory.write(EmuVm.CODE + 0x1000, function, 0, function.length);
            return finish(vm);
        }
    }

    /**
     * The loop in the frame of linear page 0 (from {@link FourKilobytePages#VIRT}), mix in page 1's frame A, and mix
     * with 7 for its multiplier in frame B; between passes: xor qword [r10], A ^ B (page 1's PTE); invlpg [r11].
     */
    private static Run remapped() {
        long code = 0x300000, frameA = 0x301000, frameB = 0x302000;
        String between = "498132" + String.format("%08x", Integer.reverseBytes((int) (frameA ^ frameB))) + "410f013b";
        byte[] loop = loop(between);
        String setup = HexFormat.of().formatHex(new Asm().movImm64(10, FourKilobytePages.pte(1))
                .movImm64(11, FourKilobytePages.VIRT + 0x1000).bytes());
        try (EmuVm vm = new EmuVm(start(FourKilobytePages.VIRT + LOOP, setup))) {
            FourKilobytePages.map(vm, code, frameA);
            vm.memory.write(code + LOOP, loop, 0, loop.length);
            byte[] a = HexFormat.of().parseHex(MIX), b = HexFormat.of().parseHex(MIX);
            b[3] = 7;
            vm.memory.write(frameA, a, 0, a.length);
            vm.memory.write(frameB, b, 0, b.length);
            return finish(vm);
        }
    }

    private static Run finish(EmuVm vm) {
        vm.nextOut(0x80);
        assertInstanceOf(VcpuExit.Hlt.class, vm.vcpu.run());
        return new Run(vm.vcpu.registers().rax(), vm.vcpu.regionsAcrossPages(), vm.vcpu.regionPagesMoved());
    }
}

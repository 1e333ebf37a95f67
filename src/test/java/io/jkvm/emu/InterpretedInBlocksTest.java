package io.jkvm.emu;

import io.jkvm.testing.Asm;
import io.jkvm.testing.EmuVm;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.HexFormat;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The atomic read-modify-writes run inside decoded blocks, not at a block's end: LOCK CMPXCHG, LOCK XADD and LOCK INC
 * of 4 and 8 bytes, and CMPXCHG and XADD without LOCK, as one compare-and-swap on guest RAM, XCHG with memory through
 * the interpreter's own semantics. The same registers, flags, memory and instruction count in every execution setting, and a fault at one
 * as precise as the interpreter's.
 */
class InterpretedInBlocksTest {
    private static final long DATA = 0x150000;
    /**
     * rbx = DATA; ecx = 1000; r8 = 0; 1: mov eax, [rbx]; lea edx, [rax + 3]; lock cmpxchg [rbx], edx; mov eax, 2;
     * lock xadd [rbx + 8], eax; add r8, rax; lock inc qword [rbx + 16]; mov rdx, rcx; xchg [rbx + 24], rdx;
     * add r8, rdx; mov esi, 1; xadd [rbx + 32], esi; add r8, rsi; dec ecx; jnz 1b; hlt (assembled with llvm-mc).
     */
    private static final String LOOP = "b9e8030000" + "4531c0" + "8b03" + "8d5003" + "f00fb113" + "b802000000"
            + "f00fc14308" + "4901c0" + "f048ff4310" + "4889ca" + "48875318" + "4901d0" + "be01000000" + "0fc17320"
            + "4901f0" + "ffc9" + "75cb" + "f4";

    /** rbx = DATA, then {@code loop} (hex). */
    private static byte[] withData(String loop) {
        return new Asm().movImm64(3, DATA).raw(loop).bytes();
    }

    private static byte[] guest() {
        return withData(LOOP);
    }

    private static List<Long> memory(EmuVm vm) {
        return List.of(vm.memory.readLong(DATA), vm.memory.readLong(DATA + 8), vm.memory.readLong(DATA + 16),
                vm.memory.readLong(DATA + 24), vm.memory.readLong(DATA + 32));
    }

    @Test
    void theLoopGetsTheInterpretersResultsWithItsAtomicsInsideBlocks() {
        List<Long> interpreter = CompiledGuests.runToHltInEachSetting(guest(), InterpretedInBlocksTest::memory);
        assertEquals(List.of(3000L, 2000L, 1000L, 1L, 1000L), interpreter.subList(0, 5),
                "CMPXCHG's adds, XADD's, INC's, XCHG's last store (ECX = 1), XADD's");
    }

    @ParameterizedTest
    @ValueSource(strings = {"blocks", "compiled"})
    void theAtomicsNoLongerEndTheirBlocks(String execution) {
        BlockOp[] loop = CompiledGuests.blockAt(HexFormat.of().parseHex(LOOP), 8);
        assertEquals(15, loop.length, "the whole loop body, its five atomics among it, in one block");
        assertEquals(List.of(BlockOp.LOCKED, BlockOp.LOCKED, BlockOp.LOCKED, BlockOp.LOCKED, BlockOp.INTERPRETED),
                List.of((int) loop[2].op(), (int) loop[4].op(), (int) loop[6].op(), (int) loop[11].op(), (int) loop[8].op()),
                "lock cmpxchg, lock xadd, lock inc, xadd without LOCK (a per-CPU operation's); xchg");
        ExecutionTest.with(execution, () -> {
            try (EmuVm vm = new EmuVm(guest())) {
                vm.vcpu.run();
                // the first round's go through the interpreter, which makes their page direct for the rest
                assertTrue(vm.vcpu.lockedInPlace() >= 3990, "compare-and-swaps in blocks: " + vm.vcpu.lockedInPlace());
                assertTrue(vm.vcpu.interpretedInBlocks() >= 1000, "interpreted in blocks: " + vm.vcpu.interpretedInBlocks());
            }
            return null;
        });
    }

    /**
     * GS base = 0x100 (WRMSR); ecx = 1000; r8 = 0; 1: mov eax, ecx; and eax, 1; lea edx, [rcx + 7];
     * cmpxchg gs:[rbx + 40], edx; setz r9b; add r8, r9; add r8, rax; mov rax, rcx; cmpxchg [rbx + 48], rdx; adc r8, 0;
     * dec ecx; jnz 1b; hlt: CMPXCHG without LOCK, as Linux's per-CPU operations run it, succeeding and failing.
     */
    private static final String UNLOCKED_CMPXCHG = "b9010100c0b80001000031d20f30b9e80300004531c0"
            + "89c883e0018d5107650fb15328410f94c14d01c84901c04889c8480fb153304983d000ffc975d9f4";

    @Test
    void cmpxchgWithoutLockIsOneOfTheLockedOpsAndGetsTheInterpretersResults() {
        byte[] guest = withData(UNLOCKED_CMPXCHG);
        BlockOp[] loop = CompiledGuests.blockAt(guest, 10 + 0x16);
        assertEquals(List.of(BlockOp.LOCKED, BlockOp.LOCKED), List.of((int) loop[3].op(), (int) loop[8].op()),
                "cmpxchg gs:[rbx + 40], cmpxchg [rbx + 48]");
        List<Long> interpreter = CompiledGuests.runToHltInEachSetting(guest,
                vm -> List.of(vm.memory.readLong(DATA + 0x100 + 40), vm.memory.readLong(DATA + 48), vm.memory.readLong(DATA + 40)));
        assertEquals(0L, interpreter.get(2), "nothing at [rbx + 40] itself: GS's base moved the first");
        assertEquals(1000L + 7, interpreter.get(0), "the first round's compare succeeded (EAX 0), the others failed");
    }

    /** LOCK XADD on a non-canonical address inside a block: #GP with RIP at it and every register as before it. */
    @ParameterizedTest
    @ValueSource(strings = {"interpreter", "blocks", "compiled"})
    void aFaultAtAnAtomicInABlockIsPrecise(String execution) {
        // rbx = a non-canonical address; eax = 0x12345; add eax, 0x100; lock xadd [rbx], eax: #GP(0)
        Asm code = new Asm().movImm64(3, 0x8000_0000_0000_0000L).raw("b8 45 23 01 00 05 00 01 00 00 f0 0f c1 03").hlt();
        long xadd = EmuVm.CODE + code.bytes().length - 5;
        ExecutionTest.with(execution, () -> {
            try (EmuVm vm = new EmuVm(code.bytes())) {
                ExceptionsTest.installIdt(vm);
                assertEquals(13, vm.nextOut(0x90), "#GP");
                assertEquals(xadd, vm.vcpu.registers().rdx(), "the saved RIP: the LOCK XADD");
                assertEquals(0x124, vm.vcpu.registers().rax() >>> 8, "EAX as the ADD left it (the handler's AL aside)");
            }
            return null;
        });
    }
    /**
     * rbx = DATA; ecx = 100; r8 = 0; 1: mov dword [rbx + 40], 5; eax = 7; edx = 9; lock cmpxchg [rbx + 40], edx (fails:
     * EAX = 5); setz r9b; add r8, rax; lock cmpxchg [rbx + 40], edx (stores 9); setz r10b; add r8, r9; add r8, r10;
     * add r8d, [rbx + 40]; rax = -1; lock cmpxchg qword [rbx + 48], rdx (fails: RAX = 0); add r8, rax; dec ecx; jnz 1b;
     * hlt (assembled with llvm-mc): CMPXCHG that fails loads the accumulator, one that succeeds stores, in each setting.
     */
    private static final String COMPARES = "b964000000" + "4531c0" + "c7432805000000" + "b807000000" + "ba09000000"
            + "f00fb15328" + "410f94c1" + "4901c0" + "f00fb15328" + "410f94c2" + "4d01c8" + "4d01d0" + "44034328"
            + "48c7c0ffffffff" + "f0480fb15330" + "4901c0" + "ffc9" + "75bc" + "f4";

    @Test
    void aLockedCompareThatFailsLoadsTheAccumulatorInEverySetting() {
        byte[] code = withData(COMPARES);
        List<Long> interpreter = CompiledGuests.runToHltInEachSetting(code, InterpretedInBlocksTest::memory);
        assertEquals(1500L, interpreter.get(5 + 8), "R8: 5 + 0 + 1 + 9 + 0 a round");
    }
    /**
     * rbx = DATA; r9d = 200; r8 = 0; 1: lea rdi, [rbx + 64]; ecx = eax = r9d; rep stosb; lea rsi, [rbx + 64];
     * lea rdi, [rbx + 512]; ecx = 25; rep movsq; add r8, [rbx + 520]; lea rdi, [rbx + 1024]; stosq; movsb;
     * add r8, rdi; dec r9d; jnz 1b; hlt (assembled with llvm-mc).
     */
    private static final String STRINGS = "41b9c8000000" + "4531c0" + "488d7b40" + "4489c9" + "4489c8" + "f3aa"
            + "488d7340" + "488dbb00020000" + "b919000000" + "f348a5" + "4c038308020000" + "488dbb00040000" + "48ab" + "a4"
            + "4901f8" + "41ffc9" + "75c8" + "f4";

    @Test
    void movsAndStosRunInsideBlocksWithTheInterpretersResults() {
        byte[] code = withData(STRINGS);
        BlockOp[] body = CompiledGuests.blockAt(HexFormat.of().parseHex(STRINGS), 9);
        assertEquals(15, body.length, "the loop body, its REP STOSB, REP MOVSQ, STOSQ and MOVSB among it, in one block");
        java.util.function.Function<EmuVm, List<Long>> copied = vm -> List.of(vm.memory.readLong(DATA + 520),
                vm.memory.readLong(DATA + 1024), vm.memory.readLong(DATA + 1032));
        List<Long> interpreter = CompiledGuests.runToHltInEachSetting(code, copied);
        // after REP STOSB of k bytes of k for k from 200 down to 1, byte j is j + 1: REP MOVSQ copied 9..16 to [520]
        assertEquals(0x100F0E0D0C0B0A09L, interpreter.get(0), "bytes 9 to 16, copied by REP MOVSQ");
    }

    /**
     * REP STOSB from 0x100 bytes before the end of a page into one not present, inside a block: #PF with RDI at the
     * next page and RIP at the REP STOSB, as the interpreter leaves them, and the bytes before it stored.
     */
    @ParameterizedTest
    @ValueSource(strings = {"interpreter", "blocks", "compiled"})
    void aRepStosThatFaultsHalfWayLeavesItsProgress(String execution) {
        long frame = 0x300000, virt = FourKilobytePages.VIRT;
        // rdi = virt + 0xF00; ecx = 0x200; al = 0x5A; inc edx; rep stosb (#PF at virt + 0x1000)
        Asm code = new Asm().movImm64(7, virt + 0xF00).raw("b9 00 02 00 00 b0 5a ff c2 f3 aa").hlt();
        long stos = EmuVm.CODE + code.bytes().length - 3;
        ExecutionTest.with(execution, () -> {
            try (EmuVm vm = new EmuVm(code.bytes())) {
                FourKilobytePages.map(vm, frame);
                ExceptionsTest.installIdt(vm);
                assertEquals(14, vm.nextOut(0x90), "#PF");
                assertEquals(stos, vm.vcpu.registers().rdx(), "the saved RIP: the REP STOSB");
                assertEquals(virt + 0x1000, vm.vcpu.registers().rcx(), "CR2: the next page");
                assertEquals(virt + 0x1000, vm.vcpu.registers().rdi(), "RDI: the bytes stored so far");
                assertEquals(0x5A5A5A5A5A5A5A5AL, vm.memory.readLong(frame + 0xFF8), "the page's last bytes stored");
            }
            return null;
        });
    }

    /**
     * rbx = DATA; ecx = 300; r8 = 0; xmm0 = 0; xmm1 = 0x0B020905 in each dword; 1: movdqu xmm2, [rbx]; paddd xmm0, xmm1;
     * pxor xmm2, xmm0; pshufb xmm2, xmm1; movdqa xmm3, xmm0; pslld xmm3, 7; psrld xmm0, 25; por xmm0, xmm3;
     * punpckldq xmm2, xmm0; movdqu [rbx], xmm2; movq rax, xmm2; add r8, rax; shrd rdx, rax, 5; bsf r9, rax;
     * popcnt r10, rax; add r8, r10; lock cmpxchg16b [rbx + 16]; cmpxchg16b [rbx + 32]; add r8, rdx; dec ecx; jnz 1b;
     * hlt (assembled with llvm-mc): a ChaCha-like round of SSE and SSSE3 with the other forms that only compute.
     */
    private static final String COMPUTING = "b92c010000" + "4531c0" + "660fefc0" + "b80509020b" + "660f6ec8"
            + "660f70c900" + "f30f6f13" + "660ffec1" + "660fefd0" + "660f3800d1" + "660f6fd8" + "660f72f307"
            + "660f72d019" + "660febc3" + "660f62d0" + "f30f7f13" + "66480f7ed0" + "4901c0" + "480facc205"
            + "4c0fbcc8" + "f34c0fb8d0" + "4d01d0" + "f0480fc74b10" + "480fc74b20" + "4901d0" + "ffc9" + "75aa" + "f4";

    @Test
    void sseAndTheOtherComputingFormsRunInsideBlocksWithTheInterpretersResults() {
        byte[] code = withData(COMPUTING);
        BlockOp[] body = CompiledGuests.blockAt(HexFormat.of().parseHex(COMPUTING), 26);
        assertEquals(21, body.length, "the loop body, SSE, SHRD, BSF, POPCNT and CMPXCHG16B among it, in one block");
        long interpreted = java.util.Arrays.stream(body).filter(d -> d.op() == BlockOp.INTERPRETED).count(),
                sse = java.util.Arrays.stream(body).filter(d -> d.op() == BlockOp.SSE).count();
        assertEquals(List.of(5L, 11L), List.of(interpreted, sse), "all but the three ADDs to R8, DEC and JNZ: SHRD, "
                + "BSF, POPCNT and the CMPXCHG16Bs, and the eleven SSE forms (two MOVDQUs with memory among them)");
        java.util.function.Function<EmuVm, List<Long>> stored = vm -> List.of(vm.memory.readLong(DATA),
                vm.memory.readLong(DATA + 8), vm.memory.readLong(DATA + 16), vm.memory.readLong(DATA + 24),
                vm.memory.readLong(DATA + 32), vm.memory.readLong(DATA + 40));
        List<Long> interpreter = CompiledGuests.runToHltInEachSetting(code, stored);
        assertTrue(interpreter.get(0) != 0 && interpreter.get(1) != 0, "the rounds stored XMM2: " + interpreter);
        ExecutionTest.with("blocks", () -> {
            try (EmuVm vm = new EmuVm(code)) {
                vm.vcpu.run();
                assertEquals(300 * 5, vm.vcpu.interpretedInBlocks(), "the interpreter ran the five INTERPRETED forms of each "
                        + "round in its block, and none of the eleven SSE ones (SseForms.run)");
            }
            return null;
        });
    }

    /** PADDD from a non-canonical address inside a block: #GP with RIP at it and the GPRs as before it. */
    @ParameterizedTest
    @ValueSource(strings = {"interpreter", "blocks", "compiled"})
    void aFaultAtAnSseInstructionInABlockIsPrecise(String execution) {
        // rbx = a non-canonical address; r8d = 7; movd xmm0, r8d; add r8d, 1; paddd xmm0, [rbx]: #GP(0)
        Asm code = new Asm().movImm64(3, 0x8000_0000_0000_0000L)
                .raw("41 b8 07 00 00 00 66 41 0f 6e c0 41 83 c0 01 66 0f fe 03").hlt();
        long paddd = EmuVm.CODE + code.bytes().length - 5;
        ExecutionTest.with(execution, () -> {
            try (EmuVm vm = new EmuVm(code.bytes())) {
                ExceptionsTest.installIdt(vm);
                assertEquals(13, vm.nextOut(0x90), "#GP");
                assertEquals(paddd, vm.vcpu.registers().rdx(), "the saved RIP: the PADDD");
                assertEquals(8, vm.vcpu.registers().gpr(8), "R8 as the ADD left it");
            }
            return null;
        });
    }

    /**
     * GS base = 0x100, KERNEL_GS_BASE = 0x200 (WRMSR); qword [rbx + 0x108] = 1, [rbx + 0x208] = 1000; ecx = 1000;
     * r8 = 0; 1: add r8, gs:[rbx + 8]; swapgs; add r8, gs:[rbx + 8]; swapgs; dec ecx; jnz 1b; hlt: a kernel entry's
     * and return's SWAPGS between accesses through GS (assembled with GNU as).
     */
    private static final String SWAPGS = "b9010100c0b80001000031d20f30b9020100c0b8000200000f30"
            + "48c783080100000100000048c78308020000e8030000b9e80300004531c0"
            + "654c034308" + "0f01f8" + "654c034308" + "0f01f8" + "ffc9" + "75ec" + "f4";

    @Test
    void swapgsRunsInsideItsBlockAndEachAccessThroughGsSeesTheBaseItLeft() {
        byte[] guest = withData(SWAPGS);
        BlockOp[] loop = CompiledGuests.blockAt(guest, 10 + 0x38);
        assertEquals(6, loop.length, "the whole loop body, both SWAPGS in it");
        assertEquals(List.of(BlockOp.SWAP_GS, BlockOp.SWAP_GS), List.of((int) loop[1].op(), (int) loop[3].op()));
        List<Long> interpreter = CompiledGuests.runToHltInEachSetting(guest, vm -> List.of());
        assertEquals(1000L * (1 + 1000), interpreter.get(8), "R8: each round reads through both bases");
        for (String execution : List.of("blocks", "compiled")) {
            CoreStats stats = ExecutionTest.with(execution, () -> {
                try (EmuVm vm = new EmuVm(guest)) {
                    vm.vcpu.run();
                    assertEquals(0, vm.vcpu.interpretedInBlocks(), execution + ": no SWAPGS through the interpreter");
                    return vm.vcpu.coreStats();
                }
            });
            assertTrue(stats.oneAtATime() < 100, execution + ": the loop ran in blocks, " + stats);
        }
    }

    /** STAC; MOV RAX, [RBX]; CLAC; ADD RCX, RAX; HLT: the SMAP brackets of a user access in the block with it. */
    @Test
    void clacAndStacRunInsideTheirBlock() {
        BlockOp[] block = CompiledGuests.blockAt(HexFormat.of().parseHex("0f01cb" + "488b03" + "0f01ca" + "4801c1" + "f4"), 0);
        assertEquals(4, block.length, "STAC, the load, CLAC and the ADD, the block ending before HLT");
        assertEquals(List.of(BlockOp.AC_FLAG, BlockOp.AC_FLAG), List.of((int) block[0].op(), (int) block[2].op()));
        assertEquals(List.of(1, 0), List.of((int) block[0].sub(), (int) block[2].sub()), "STAC sets AC, CLAC clears it");
    }

    /**
     * A block that ends before SYSCALL, SYSRETQ, STI, IRETQ or CPUID hands the interpreter its own reading of it; one
     * before a prefixed SYSCALL or a MOV to CR3 does not (the interpreter fetches and decodes those itself).
     */
    @Test
    void aBlockEndingBeforeAKernelEntryOrExitCarriesItsDecoding() {
        assertEquals(List.of(0x05, 0x07, 0xFB, 0xCF, 0xA2), Stream.of("0f05", "480f07", "fb", "48cf", "0fa2")
                .map(i -> slowAfterAnXor(i).opcode()).toList());
        assertNull(slowAfterAnXor("2e0f05"), "CS SYSCALL: fetched by the interpreter");
        assertNull(slowAfterAnXor("0f22d8"), "MOV CR3, RAX: fetched by the interpreter");
    }

    /** The instruction the block of {@code xor rax, rax} and then {@code slowHex} ends before, as the block holds it. */
    private static Instruction slowAfterAnXor(String slowHex) {
        byte[] code = HexFormat.of().parseHex("4831c0" + slowHex + "f4");
        try (io.jkvm.linux.Mapping page = io.jkvm.linux.Mapping.anonymous(CodeCache.PAGE, "the block")) {
            for (int i = 0; i < code.length; i++) {
                page.putByte(i, code[i]);
            }
            DecodedBlock block = BlockDecoder.decode(page, 0, 0, 0);
            assertEquals(1, block.insns.length, "the XOR alone, the block ending before " + slowHex);
            return block.slow;
        }
    }

    /**
     * SWAPGS at CPL 3 is #GP(0) and CLAC in a model without SMAP is #UD, from a block as from the interpreter: at the
     * instruction, with GS's base as it was.
     */
    @ParameterizedTest
    @ValueSource(strings = {"interpreter", "blocks", "compiled"})
    void swapgsAtCpl3AndClacWithoutSmapFaultAtTheInstruction(String execution) {
        ExecutionTest.with(execution, () -> {
            try (EmuVm vm = new EmuVm(ExceptionsTest.toUser().bytes())) { // IRETQ to USER at CPL 3
                ExceptionsTest.installIdt(vm);
                ExceptionsTest.userPages(vm);
                byte[] user = HexFormat.of().parseHex("4831c0" + "0f01f8" + "f4"); // xor rax, rax; swapgs
                vm.memory.write(ExceptionsTest.USER, user, 0, user.length);
                assertEquals(13, vm.nextOut(0x90), "SWAPGS at CPL 3: #GP");
                assertEquals(0, vm.vcpu.registers().rbx(), "error code 0");
                assertEquals(ExceptionsTest.USER + 3, vm.vcpu.registers().rdx(), "at the SWAPGS");
            }
            try (EmuVm vm = new EmuVm("max,-smap", HexFormat.of().parseHex("4831c0" + "0f01ca" + "f4"))) { // xor; clac
                ExceptionsTest.installIdt(vm);
                assertEquals(6, vm.nextOut(0x90), "CLAC in a model without SMAP: #UD");
                assertEquals(EmuVm.CODE + 3, vm.vcpu.registers().rdx(), "at the CLAC");
            }
            return null;
        });
    }
}

package io.jkvm.emu;

import io.jkvm.testing.Asm;
import io.jkvm.testing.EmuVm;
import io.jkvm.x86.VcpuExit;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.Arrays;
import java.util.HexFormat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A loop of two blocks, one of them going on past its page's end (its tail), runs in one compiled method: head, a
 * block that adds RSI and jumps to tail's block, which adds RCX (the instruction across the page end: its ModRM, C8,
 * is the next page's first byte), decrements EDX and goes back to head while it is not zero. Between two passes the
 * guest changes that byte to D8 (ADD RAX, RBX), by a store or by mapping the next page to another frame, with no exit
 * between: the second pass must add RBX, as the interpreter does.
 */
class RegionTailTest {
    private static final int ROUNDS = 2 * Execution.DEFAULT_COMPILE_THRESHOLD;
    private static final long RSI = 7, RCX = 3, RBX = 5;
    /** Both passes as the interpreter runs them: the first adds RSI and RCX a round, the second RSI and RBX. */
    private static final long EXPECTED = ROUNDS * (RSI + RCX) + ROUNDS * (RSI + RBX);

    /** The tail's block: add rax, rcx (48 01 | c8, across the page end); dec edx; jnz head (rel32, its end at +11). */
    private static byte[] tailBlock(long at, long head) {
        return new Asm().raw("4801c8" + "ffca" + "0f85").immediate(head - (at + 11), 4).bytes();
    }

    /** head: add rax, rsi; jmp tail (rel32). */
    private static byte[] head(long at, long tail) {
        return new Asm().raw("4801f0" + "e9").immediate(tail - (at + 8), 4).bytes();
    }

    /**
     * What follows the tail's block: the first time {@code change} (which must not exit), EDX to ROUNDS again and a
     * jump to head (R9); the second time out 0x80; hlt.
     */
    private static byte[] after(String change) {
        Asm second = new Asm().raw("e680").hlt();
        Asm first = new Asm().raw("49ffc0" + change + "ba").immediate(ROUNDS, 4).raw("41ffe1");
        return new Asm().raw("4d85c0" + "75").immediate(first.bytes().length, 1).raw(HexFormat.of().formatHex(first.bytes()))
                .raw(HexFormat.of().formatHex(second.bytes())).bytes();
    }

    /** xor eax, eax; ecx, ebx, esi, edx as above; r8 = 0; r9 = head; then {@code setup}; jmp r9. */
    private static byte[] start(long head, String setup) {
        return new Asm().raw("31c0" + "b9").immediate(RCX, 4).raw("bb").immediate(RBX, 4).raw("be").immediate(RSI, 4)
                .raw("ba").immediate(ROUNDS, 4).movImm64(8, 0).movImm64(9, head).raw(setup).raw("41ffe1").bytes();
    }

    private record Run(long rax, long acrossPages, long pagesMoved) {
    }

    /**
     * Identity-mapped: the tail's block ends page P, its tail and what follows it begin page P + 1, and head lies in
     * P + 1 too, past the tail's line; the first pass ends with mov byte [P + 1], 0xd8. The store drops the tail's
     * block through its tail, and head's through the region both run: head holds no byte written.
     */
    private static Run identityMapped() {
        long nextPage = EmuVm.CODE + 0x2000, tail = nextPage - 2, head = nextPage + 0x40;
        long afterAt = tail + 11, storeEnd = afterAt + 5 + 3 + 7; // mov byte [rip + d], 0xd8 follows inc r8
        String change = "c605" + HexFormat.of().formatHex(new Asm().immediate(nextPage - storeEnd, 4).bytes()) + "d8";
        try (EmuVm vm = new EmuVm(start(head, ""))) {
            write(vm, tail, tailBlock(tail, head));
            write(vm, afterAt, after(change));
            write(vm, head, head(head, tail));
            return finish(vm);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"interpreter", "blocks", "compiled"})
    void aLoopAcrossAPageEndRunsInOneRegionWithTheInterpretersResults(String execution) {
        Run run = ExecutionTest.with(execution, RegionTailTest::identityMapped);
        assertEquals(EXPECTED, run.rax(), "RAX: a pass adding RCX, then one adding RBX");
        if (!execution.equals("interpreter")) {
            assertTrue(run.acrossPages() > 0, "head's region runs the tail's block of the page before: " + run.acrossPages());
        }
    }

    /**
     * Paged: head and the tail's block in linear page 0 (frame C), page 1 (the tail and what follows) at frame A,
     * whose first byte is C8, or frame B, the same bytes but D8; the first pass ends with xor qword [r10], A ^ B
     * (page 1's PTE); invlpg [r11]. Head's region lists page 1 as its tail's page: its next entry finds it moved.
     */
    @ParameterizedTest
    @ValueSource(strings = {"interpreter", "blocks", "compiled"})
    void theTailsPageMappedToAnotherFrameIsSeenByTheRegion(String execution) {
        Run run = ExecutionTest.with(execution, RegionTailTest::remapped);
        assertEquals(EXPECTED, run.rax(), "RAX: a pass adding RCX, then one adding RBX");
        if (!execution.equals("interpreter")) {
            assertTrue(run.pagesMoved() > 0, "head's region found its tail's page moved");
        }
    }

    private static Run remapped() {
        long frameC = 0x300000, frameA = 0x301000, frameB = 0x302000;
        long head = FourKilobytePages.VIRT + 0x100, tail = FourKilobytePages.VIRT + 0xFFE;
        String change = "498132" + HexFormat.of().formatHex(new Asm().immediate(frameA ^ frameB, 4).bytes()) + "410f013b";
        String setup = HexFormat.of().formatHex(new Asm().movImm64(10, FourKilobytePages.pte(1))
                .movImm64(11, FourKilobytePages.VIRT + 0x1000).bytes());
        try (EmuVm vm = new EmuVm(start(head, setup))) {
            FourKilobytePages.map(vm, frameC, frameA);
            byte[] block = tailBlock(tail, head), following = after(change);
            write(vm, frameC + 0xFFE, Arrays.copyOf(block, 2)); // 48 01 in page 0, c8 and the rest in page 1
            for (long frame : new long[]{frameA, frameB}) {
                write(vm, frame, Arrays.copyOfRange(block, 2, block.length));
                write(vm, frame + block.length - 2, following);
            }
            vm.memory.write(frameB, new byte[]{(byte) 0xd8}, 0, 1);
            write(vm, frameC + 0x100, head(head, tail));
            return finish(vm);
        }
    }

    private static void write(EmuVm vm, long at, byte[] bytes) {
        vm.memory.write(at, bytes, 0, bytes.length);
    }

    private static Run finish(EmuVm vm) {
        vm.nextOut(0x80);
        assertInstanceOf(VcpuExit.Hlt.class, vm.vcpu.run());
        return new Run(vm.vcpu.registers().rax(), vm.vcpu.regionsAcrossPages(), vm.vcpu.regionPagesMoved());
    }
}

package io.jkvm.emu;

import io.jkvm.testing.EmuVm;
import io.jkvm.testing.Idt;
import io.jkvm.testing.TestGuests;
import io.jkvm.x86.Registers;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.nio.file.Files;
import java.util.HexFormat;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;

/**
 * The forms decoded blocks run that a Linux boot's blocks used to end before (the interpreter then ran them one at a
 * time): group 3's MUL/IMUL/DIV/IDIV, PAUSE, the fences, RDTSC, LEAVE, PUSHF, the BT family, MOV from a segment
 * register, BSWAP and CLI. They decode to block ops, get the interpreter's results in blocks and compiled, and a #DE
 * or #SS from one inside a block is taken at it, with nothing of it done.
 */
class BlockFormsTest {
    private static final long IDT = 0x104000, HANDLER = EmuVm.CODE + 0x100;

    @Test
    void eachFormDecodesToItsBlockOp() {
        assertOp(BlockOp.MUL_DIV, "48f7e1", 4);      // mul rcx
        assertOp(BlockOp.MUL_DIV, "f62e", 5);        // imul byte [rsi]
        assertOp(BlockOp.MUL_DIV, "f7f1", 6);        // div ecx
        assertOp(BlockOp.MUL_DIV, "48f77e08", 7);    // idiv qword [rsi + 8]
        assertOp(BlockOp.PAUSE, "f390", 0);
        assertOp(BlockOp.FENCE, "0faee8", 5);        // lfence
        assertOp(BlockOp.FENCE, "0faef0", 6);        // mfence
        assertOp(BlockOp.FENCE, "0faef8", 7);        // sfence
        assertOp(BlockOp.RDTSC, "0f31", 0);
        assertOp(BlockOp.LEAVE, "c9", 0);
        assertOp(BlockOp.PUSHF, "9c", 0);
        assertOp(BlockOp.BIT_TEST, "480fbae011", 0); // bt rax, 17
        assertOp(BlockOp.BIT_TEST, "480fbb4e30", 3); // btc [rsi + 48], rcx
        assertOp(BlockOp.BIT_TEST, "0fabc8", 1);     // bts eax, ecx
        assertOp(BlockOp.BIT_TEST, "480fba7610" + "05", 2); // btr qword [rsi + 16], 5
        assertOp(BlockOp.MOV_FROM_SEG, "8cd0", 2);   // mov eax, ss
        assertOp(BlockOp.BSWAP, "480fc8", 0);        // bswap rax
        assertOp(BlockOp.BSWAP, "410fc9", 0);        // bswap r9d
        assertOp(BlockOp.CLI, "fa", 0);
        assertEquals(null, BlockDecoder.reduce(HexFormat.of().parseHex("f290")), "F2 90 stays with the interpreter");
        assertEquals(null, BlockDecoder.reduce(HexFormat.of().parseHex("660faef0")), "66 0F AE /6 is TPAUSE's");
    }

    private static void assertOp(int op, String hex, int sub) {
        BlockOp d = BlockDecoder.reduce(HexFormat.of().parseHex(hex + "90909090"));
        assertNotNull(d, hex + " is not decoded");
        assertEquals(List.of(op, sub, hex.length() / 2), List.of((int) d.op(), (int) d.sub(), (int) d.length()), hex);
    }

    @Test
    void theFormsGetTheInterpretersResultsInBlocksAndCompiled() throws IOException {
        byte[] code = Files.readAllBytes(TestGuests.path("block_forms.bin"));
        List<Long> interpreter = CompiledGuests.runToHlt("interpreter", code, vm -> List.of());
        List<Long> blocks = CompiledGuests.runToHlt("blocks", code, vm -> List.of());
        List<Long> compiled = CompiledGuests.runToHlt("compiled", code, vm -> List.of());
        assertEquals(0, interpreter.get(12), "R12: no RDTSC reading went backwards");
        assertEquals(interpreter, blocks, "decoded blocks");
        assertEquals(interpreter, compiled, "compiled blocks");
    }

    /** xor ebx, ebx; mov eax, 5; inc ebx; xor ecx, ecx; div ecx (at +0xB); add ebx, 0x100; hlt. */
    private static final String DIVIDE_BY_ZERO = "31db" + "b805000000" + "ffc3" + "31c9" + "f7f1" + "81c300010000" + "f4";

    @ParameterizedTest
    @ValueSource(strings = {"interpreter", "blocks", "compiled"})
    void aDivideErrorInABlockIsTakenAtTheDiv(String execution) {
        // #DE handler: pop r12 (the saved RIP); out 0x90, al; hlt
        Registers r = runToHandler(execution, DIVIDE_BY_ZERO, 0, "415c" + "e690" + "f4");
        assertEquals(EmuVm.CODE + 0xB, r.gpr(12), "the saved RIP is the DIV's");
        assertEquals(List.of(5L, 1L, 0L), List.of(r.rax(), r.rbx(), r.rcx()), "RAX as before it; the INC ran, the ADD did not");
    }

    /** xor ebx, ebx; mov rbp, 1 << 47 (not canonical); inc ebx; leave (at +0xE); inc ebx; hlt. */
    private static final String LEAVE_OFF_THE_STACK = "31db" + "48bd0000000000800000" + "ffc3" + "c9" + "ffc3" + "f4";

    @ParameterizedTest
    @ValueSource(strings = {"interpreter", "blocks", "compiled"})
    void aStackFaultOfLeaveLeavesRspAsItWas(String execution) {
        // #SS handler: pop r10 (the error code); mov r12, [rsp] (RIP); mov r13, [rsp + 24] (RSP); out 0x90, al; hlt
        Registers r = runToHandler(execution, LEAVE_OFF_THE_STACK, 12, "415a" + "4c8b2424" + "4c8b6c2418" + "e690" + "f4");
        assertEquals(EmuVm.CODE + 0xE, r.gpr(12), "the saved RIP is LEAVE's");
        assertEquals(List.of(0L, 1L, 1L << 47), List.of(r.gpr(10), r.rbx(), r.rbp()), "error code 0; one INC; RBP kept");
        assertEquals(r.gpr(14), r.gpr(13), "RSP when the #SS was taken is RSP before LEAVE");
    }

    /** Runs {@code code} with {@code handler} at vector {@code vector} to its OUT; R14 holds the starting RSP. */
    private static Registers runToHandler(String execution, String code, int vector, String handler) {
        return ExecutionTest.with(execution, () -> {
            try (EmuVm vm = new EmuVm(HexFormat.of().parseHex(code))) {
                byte[] h = HexFormat.of().parseHex(handler);
                vm.memory.write(HANDLER, h, 0, h.length);
                Idt.writeGate(vm.memory, IDT, vector, HANDLER);
                Idt.load(vm.vcpu, IDT, 32 * 16 - 1);
                long rsp = vm.vcpu.registers().rsp();
                vm.nextOut(0x90);
                return vm.vcpu.registers().withGpr(14, rsp);
            }
        });
    }
}

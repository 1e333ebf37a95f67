package io.jkvm.emu;

import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A block whose bytecode would be larger than HotSpot compiles (a method of more than 8000 bytes stays in the JVM's
 * bytecode interpreter) is compiled in parts that fit: the first instructions in one method, which leaves to the block
 * of the rest; and the guest gets the interpreter's results. The loop's block alternates a form the block executor
 * runs (BTC of memory: all held registers are written back before it and read back after) with register ADCs, which
 * add the bit BTC found.
 */
class CompiledBlockSizeTest {
    private static final long DATA = 0x300000;
    private static final int PAIRS = 30, SETUP = 15;
    /** The registers the ADCs write in turn: all but RAX (the addend), RCX (the count), RSP and RSI (the data). */
    private static final int[] TARGETS = {2, 3, 5, 7, 8, 9, 10, 11, 12, 13, 14, 15};

    // mov esi, DATA; mov eax, 1; mov ecx, 3
    // 1: PAIRS times (btc qword [rsi + 8k] (disp32), 0; adc rN, rax); btc qword [rsi + 8 * PAIRS], 0; inc rax; dec ecx;
    // jnz 1b (rel32); hlt: 64 instructions, as many as a block holds
    private static byte[] guest() {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.writeBytes(HexFormat.of().parseHex("be00003000b801000000b903000000"));
        for (int k = 0; k < PAIRS; k++) {
            out.writeBytes(new byte[]{0x48, 0x0F, (byte) 0xBA, (byte) 0xBE, (byte) (8 * k), 0, 0, 0, 0});
            int n = TARGETS[k % TARGETS.length];
            out.writeBytes(new byte[]{(byte) (n >= 8 ? 0x49 : 0x48), 0x11, (byte) (0xC0 | n & 7)});
        }
        out.writeBytes(new byte[]{0x48, 0x0F, (byte) 0xBA, (byte) 0xBE, (byte) (8 * PAIRS), 0, 0, 0, 0});
        int back = -(PAIRS * 12 + 9 + 3 + 2 + 6);
        out.writeBytes(HexFormat.of().parseHex("48ffc0ffc90f85"));
        out.writeBytes(new byte[]{(byte) back, (byte) (back >> 8), (byte) (back >> 16), (byte) (back >> 24), (byte) 0xF4});
        return out.toByteArray();
    }

    @Test
    void aBlockTooLargeForTheJitIsCompiledToAMethodThatFits() {
        BlockOp[] insns = CompiledGuests.blockAt(guest(), SETUP);
        assertEquals(2 * PAIRS + 4, insns.length, "the loop is one block");
        int whole = BlockCompiler.runLength(BlockCompiler.classBytes(insns, insns.length, false));
        assertTrue(whole > BlockCompiler.MAX_METHOD_BYTES, "the whole block's method is too large to JIT: " + whole);
        int made = BlockCompiler.runLength(BlockCompiler.fittingClass(insns, false));
        assertTrue(made <= BlockCompiler.MAX_METHOD_BYTES && made > BlockCompiler.MAX_METHOD_BYTES / 2,
                "the method made fits, and holds most of what fits: " + made);
    }

    /** The data, the general registers, RFLAGS and the instructions retired, run in {@code setting}. */
    private static List<Long> run(String setting) {
        return CompiledGuests.runToHlt(setting, guest(), vm -> {
            List<Long> data = new ArrayList<>();
            for (int k = 0; k < PAIRS; k++) {
                data.add(vm.memory.readLong(DATA + 8L * k));
            }
            return data;
        });
    }

    @Test
    void aBlockCompiledInPartsGetsTheInterpretersResults() {
        List<Long> interpreter = run("interpreter");
        assertEquals(1L, interpreter.get(0), "each word's bit 0 was flipped three times");
        assertEquals(3 * (1 + (2 + 1) + 3), interpreter.get(PAIRS + 2),
                "RDX got 1, 2 and 3 added three times a round, and the carry in the second (the bits BTC found set)");
        assertEquals(interpreter, run("compiled"));
        assertEquals(interpreter, run("blocks"));
    }
}

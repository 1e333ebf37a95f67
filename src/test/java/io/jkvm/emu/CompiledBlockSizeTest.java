package io.jkvm.emu;

import io.jkvm.testing.EmuVm;
import io.jkvm.x86.Registers;
import io.jkvm.x86.VcpuExit;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A block whose bytecode would be larger than HotSpot compiles (a method of more than 8000 bytes stays in the JVM's
 * bytecode interpreter) is compiled in parts that fit: the first instructions in one method, which leaves to the block
 * of the rest; and the guest gets the interpreter's results.
 */
class CompiledBlockSizeTest {
    private static final long DATA = 0x300000;
    private static final int ADDS = 60;

    /** {@code add [rsi + 8k], rax} for each k: read-modify-writes of memory, the largest compiled form. */
    private static BlockOp[] memoryAdds() {
        BlockOp[] insns = new BlockOp[64];
        for (int k = 0; k < insns.length; k++) {
            insns[k] = new BlockOp(BlockOp.ALU_RM_REG, 4, 8, 0, 0, BlockOp.MEMORY, 6, BlockOp.NONE, 0, 8L * k, 0, 0);
        }
        return insns;
    }

    @Test
    void aBlockTooLargeForTheJitIsCompiledToAMethodThatFits() {
        BlockOp[] insns = memoryAdds();
        int whole = BlockCompiler.runLength(BlockCompiler.classBytes(insns, insns.length));
        assertTrue(whole > BlockCompiler.MAX_METHOD_BYTES, "the whole block's method is too large to JIT: " + whole);
        int made = BlockCompiler.runLength(BlockCompiler.fittingClass(insns));
        assertTrue(made <= BlockCompiler.MAX_METHOD_BYTES && made > BlockCompiler.MAX_METHOD_BYTES / 2,
                "the method made fits, and holds most of what fits: " + made);
    }

    // mov esi, DATA; mov eax, 1; mov ecx, 3
    // 1: ADDS times add [rsi + 8k], rax (disp32); inc rax; dec ecx; jnz 1b (rel32); hlt
    private static byte[] guest() {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.writeBytes(HexFormat.of().parseHex("be00003000b801000000b903000000"));
        for (int k = 0; k < ADDS; k++) {
            out.writeBytes(new byte[]{0x48, 0x01, (byte) 0x86, (byte) (8 * k), (byte) (8 * k >> 8), 0, 0});
        }
        int back = -(ADDS * 7 + 3 + 2 + 6);
        out.writeBytes(HexFormat.of().parseHex("48ffc0ffc90f85"));
        out.writeBytes(new byte[]{(byte) back, (byte) (back >> 8), (byte) (back >> 16), (byte) (back >> 24), (byte) 0xF4});
        return out.toByteArray();
    }

    /** The data the guest added to, RAX, RCX, RFLAGS and the instructions retired, run in {@code setting}. */
    private static List<Long> run(String setting) {
        return ExecutionTest.with(setting, () -> {
            try (EmuVm vm = new EmuVm(guest())) {
                assertInstanceOf(VcpuExit.Hlt.class, vm.vcpu.run(), setting);
                List<Long> seen = new ArrayList<>();
                for (int k = 0; k < ADDS; k++) {
                    seen.add(vm.memory.readLong(DATA + 8L * k));
                }
                Registers r = vm.vcpu.registers();
                seen.addAll(List.of(r.gpr(0), r.gpr(1), r.rflags() & 0x8D5, vm.vcpu.instructions()));
                return seen;
            }
        });
    }

    @Test
    void aBlockCompiledInPartsGetsTheInterpretersResults() {
        List<Long> interpreter = run("interpreter");
        assertEquals(ADDS + 4, interpreter.size());
        assertEquals(1 + 2 + 3, interpreter.get(ADDS - 1), "each word got 1, 2 and 3 added");
        assertEquals(interpreter, run("compiled"));
        assertEquals(interpreter, run("blocks"));
    }
}

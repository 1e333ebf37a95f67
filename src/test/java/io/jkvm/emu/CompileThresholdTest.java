package io.jkvm.emu;

import io.jkvm.machine.LongModeBoot;
import io.jkvm.testing.EmuVm;
import io.jkvm.x86.Registers;
import io.jkvm.x86.VcpuExit;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.util.HexFormat;
import java.util.function.Supplier;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The compile threshold counts runs of blocks of up to {@link BlockExecution#THRESHOLD_LENGTH} instructions; a longer
 * block reaches it in proportionally fewer runs: a block of 64 (a kernel's unrolled rounds) at a quarter of them. The
 * block here runs a tenth of the loop's instructions, so it is not compiled early as a hot loop would be.
 */
class CompileThresholdTest {
    private static final int THRESHOLD = 8000;
    /** The long block's length: the most a decoded block holds. */
    private static final int LENGTH = 64;
    /** Where the long block starts: after XOR EAX, EAX and MOV EBX, 3. */
    private static final long LONG_BLOCK = EmuVm.CODE + 7;

    /**
     * xor eax, eax; mov ebx, 3; 1: 63 times add rax, rbx; mov edx, 300 (64 instructions);
     * 2: dec edx; jnz 2b; dec rcx; jnz 1b; hlt (RCX: the rounds).
     */
    private static byte[] guest() {
        ByteArrayOutputStream code = new ByteArrayOutputStream();
        code.writeBytes(HexFormat.of().parseHex("31c0bb03000000"));
        for (int i = 0; i < LENGTH - 1; i++) {
            code.writeBytes(HexFormat.of().parseHex("4801d8"));
        }
        code.writeBytes(HexFormat.of().parseHex("ba2c010000" + "ffca75fc" + "48ffc9"));
        int back = 7 - (code.size() + 6); // jnz rel32 to the long block
        code.writeBytes(new byte[]{0x0F, (byte) 0x85, (byte) back, (byte) (back >> 8), (byte) (back >> 16), (byte) (back >> 24)});
        code.write(0xF4);
        return code.toByteArray();
    }

    private static <T> T withThreshold(Supplier<T> body) {
        return ExecutionTest.withThreshold(THRESHOLD, body);
    }

    private record Ran(boolean longBlockCompiled, long rax, long retired) {
    }

    private static Ran run(int rounds) {
        try (EmuVm vm = new EmuVm(guest())) {
            vm.vcpu.setRegisters(LongModeBoot.registers(EmuVm.CODE, vm.memory.size()).withGpr(1, rounds));
            assertInstanceOf(VcpuExit.Hlt.class, vm.vcpu.run());
            Registers r = vm.vcpu.registers();
            return new Ran(vm.vcpu.compiledAt(LONG_BLOCK), r.gpr(0), vm.vcpu.instructions());
        }
    }

    @Test
    void aLongBlockIsCompiledInFewerRuns() {
        assertTrue(BlockExecution.THRESHOLD_LENGTH < LENGTH, "the block is longer than those the threshold counts runs of");
        Ran few = withThreshold(() -> run(THRESHOLD * BlockExecution.THRESHOLD_LENGTH / LENGTH - 500));
        assertFalse(few.longBlockCompiled(), "short of its threshold, the block runs decoded");
        Ran more = withThreshold(() -> run(THRESHOLD / 2));
        assertTrue(more.longBlockCompiled(), "at half the threshold's runs, the 64-instruction block is compiled");
        Ran interpreter = ExecutionTest.with("interpreter", () -> run(THRESHOLD / 2));
        assertEquals(3L * (LENGTH - 1) * (THRESHOLD / 2), interpreter.rax());
        assertEquals(interpreter.rax(), more.rax(), "RAX as the interpreter leaves it");
        assertEquals(interpreter.retired(), more.retired(), "the instructions the interpreter retired");
    }
}

package io.jkvm.emu;

import io.jkvm.testing.EmuVm;
import io.jkvm.x86.Registers;
import io.jkvm.x86.VcpuExit;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static io.jkvm.emu.ExceptionsTest.hex;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * A compiled block left in the middle by an exit: a loop whose second instruction reads a device (an MMIO read ends
 * the run, and the instruction restarts once the machine has answered) holds its registers and flags in locals; each
 * exit must put back the state before that instruction and count the instructions before it, so the run ends with the
 * interpreter's registers, flags, device reads and instruction count.
 */
class CompiledBlockExitTest {
    private static final long MMIO = 0x10000000L;

    // mov ecx, 5; mov esi, MMIO; xor eax, eax; xor edx, edx
    // 1: add rax, rcx; add rax, [rsi]; sub rdx, rax; dec ecx; jnz 1b (mid-block: the block goes on); mov ebx, ecx; hlt
    private static final String GUEST = "b9 05 00 00 00 be 00 00 00 10 31 c0 31 d2 48 01 c8 48 03 06 48 29 c2 ff c9 75 f3 89 cb f4";

    /** RAX, RCX, RDX, RBX, RFLAGS, the instructions retired and the device reads, run in {@code setting}. */
    private static List<Long> run(String setting) {
        return ExecutionTest.with(setting, () -> {
            try (EmuVm vm = new EmuVm(hex(GUEST))) {
                List<Long> reads = new ArrayList<>();
                long answer = 0x1000;
                for (int exits = 0; ; exits++) {
                    if (exits > 20) {
                        fail("no HLT after 20 exits, " + setting);
                    }
                    VcpuExit exit = vm.vcpu.run();
                    if (exit instanceof VcpuExit.Hlt) {
                        break;
                    }
                    if (!(exit instanceof VcpuExit.Mmio m) || m.write() || m.address() != MMIO) {
                        return fail("unexpected exit " + exit);
                    }
                    m.data().set(0, answer);
                    reads.add(answer);
                    answer += 0x111;
                }
                Registers r = vm.vcpu.registers();
                List<Long> state = new ArrayList<>(List.of(r.gpr(0), r.gpr(1), r.gpr(2), r.gpr(3), r.rflags() & 0x8D5,
                        vm.vcpu.instructions(), (long) vm.vcpu.compiledBlocks()));
                state.addAll(reads);
                return state;
            }
        });
    }

    @Test
    void anMmioReadInACompiledLoopEndsAsInTheInterpreter() {
        List<Long> interpreter = run("interpreter"), compiled = run("compiled");
        assertEquals(7 + 5, interpreter.size(), "five rounds, five device reads: " + interpreter);
        assertTrue(compiled.get(6) > 0, "the loop was compiled");
        interpreter.set(6, compiled.get(6)); // the interpreter compiles nothing; the rest must match
        assertEquals(interpreter, compiled);
        assertTrue(interpreter.get(5) >= 4 + 5 * 5, "the set-up and five rounds of five retired: " + interpreter);
    }
}

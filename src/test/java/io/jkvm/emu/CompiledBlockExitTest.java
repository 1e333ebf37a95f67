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

    /**
     * mov ecx, 6; mov esi, MMIO; xor eax, eax; xor edx, edx; jmp 1f; 1: cmp ecx, 3; jne 2f; add eax, 1; jmp 3f;
     * 2: mov rbx, [rsi]; adc edx, 0; add rax, rbx; 3: dec ecx; jnz 1b; hlt. The block at 2 is reached in the loop's
     * method only by the JNE, with CMP's flags; its device read ends the run before them, and the ADC after the
     * restart reads their CF.
     */
    private static final String AFTER_BRANCH = "b906000000 be00000010 31c0 31d2 eb00 83f903 7505 83c001 eb09"
            + " 488b1e 83d200 4801d8 ffc9 75e9 f4";

    /** RAX, RCX, RDX, RBX, RFLAGS, the instructions retired and the device reads, run in {@code setting}. */
    private static List<Long> run(String setting) {
        return run(setting, GUEST);
    }

    private static List<Long> run(String setting, String guest) {
        return ExecutionTest.with(setting, () -> {
            try (EmuVm vm = new EmuVm(hex(guest))) {
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

    @Test
    void aDeviceReadAfterABranchLeavesTheBranchsFlagsForTheRestart() {
        List<Long> interpreter = run("interpreter", AFTER_BRANCH);
        assertEquals(2L, interpreter.get(2), "EDX: CF of CMP ECX, 3 on the rounds with ECX 2 and 1");
        assertEquals(7 + 5, interpreter.size(), "five device reads (not on the round with ECX 3): " + interpreter);
        for (String setting : List.of("compiled", "blocks")) {
            List<Long> other = run(setting, AFTER_BRANCH);
            interpreter.set(6, other.get(6)); // how many blocks were compiled: the rest must match
            assertEquals(interpreter, other, setting);
        }
    }
}

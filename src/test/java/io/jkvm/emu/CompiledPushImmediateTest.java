package io.jkvm.emu;

import io.jkvm.testing.EmuVm;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.HexFormat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * PUSH of an immediate (a byte and a doubleword, each sign-extended to 64 bits) is a compiled form: in a run of pushes
 * and pops through one look-up, and alone, what it stores and where RSP goes are the interpreter's in each setting.
 */
class CompiledPushImmediateTest {
    private static final int ROUNDS = 3000;
    /**
     * xor eax, eax; mov ecx, ROUNDS; 1: push 0x7f; push -2; push 0x12345678; push -0x12345678; pop rdx; add rax, rdx;
     * pop rdx; add rax, rdx; pop rdx; sub rax, rdx; pop rdx; xor rax, rdx; rol rax, 7; push -1; mov rdx, [rsp];
     * add rsp, 8; add rax, rdx; dec ecx; jnz 1b; out 0x80, al; hlt. The first four pushes and pops are one stack run;
     * the last push is alone (a load through RSP and a move of RSP after it).
     */
    private static final String PUSHES = "31c0" + "b9" + HexFormat.of().toHexDigits(Integer.reverseBytes(ROUNDS))
            + "6a7f" + "6afe" + "6878563412" + "6888a9cbed"
            + "5a4801d0" + "5a4801d0" + "5a4829d0" + "5a4831d0" + "48c1c007"
            + "6aff" + "488b1424" + "4883c408" + "4801d0"
            + "ffc9" + "75cd" + "e680" + "f4";

    /** What the loop leaves in RAX, computed here. */
    private static long expected() {
        long rax = 0;
        for (int i = 0; i < ROUNDS; i++) {
            rax += -0x12345678L; // the last pushed, popped first
            rax += 0x12345678L;
            rax -= -2L;
            rax ^= 0x7fL;
            rax = Long.rotateLeft(rax, 7);
            rax += -1L;
        }
        return rax;
    }

    @ParameterizedTest
    @ValueSource(strings = {"interpreter", "blocks", "compiled"})
    void pushedImmediatesAreTheInterpretersInEachSetting(String execution) {
        byte[] code = HexFormat.of().parseHex(PUSHES);
        ExecutionTest.with(execution, () -> {
            try (EmuVm vm = new EmuVm(code)) {
                long rsp = vm.vcpu.registers().rsp();
                vm.nextOut(0x80);
                assertEquals(expected(), vm.vcpu.registers().rax());
                assertEquals(rsp, vm.vcpu.registers().rsp(), "every push popped or moved past");
                assertEquals(-1L, vm.vcpu.registers().rdx(), "the last push's value, sign-extended");
                if (!execution.equals("interpreter")) {
                    assertTrue(vm.vcpu.compiledBlocks() > 0, "the loop ran compiled");
                }
            }
            return null;
        });
    }
}

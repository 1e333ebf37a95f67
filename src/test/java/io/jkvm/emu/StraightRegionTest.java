package io.jkvm.emu;

import org.junit.jupiter.api.Test;

import java.util.HexFormat;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * A hot path of several blocks that never comes back to its first (a function called from a loop eight pages away,
 * out of the loop's region, with a branch inside) is compiled as one region, entered once a call, as a loop is: the
 * function's blocks run in its entry's method, with the interpreter's results.
 */
class StraightRegionTest {
    /** mov ecx, 100000; xor eax, eax; 1: call f; dec ecx; jnz 1b; hlt; at 0x8000, f: the function below. */
    private static final String LOOP = "b9a0860100 31c0 e8f47f0000 ffc9 75f7 f4";
    /** f: add rax, rcx; test al, 1; jz 1f; add rax, 3; 1: add rax, 5; ret. */
    private static final String FUNCTION = "4801c8 a801 7404 4883c003 4883c005 c3";
    private static final int FUNCTION_AT = 0x8000;

    private static byte[] code() {
        byte[] loop = HexFormat.of().parseHex(LOOP.replace(" ", ""));
        byte[] function = HexFormat.of().parseHex(FUNCTION.replace(" ", ""));
        byte[] code = new byte[FUNCTION_AT + function.length];
        System.arraycopy(loop, 0, code, 0, loop.length);
        System.arraycopy(function, 0, code, FUNCTION_AT, function.length);
        return code;
    }

    @Test
    void aPathThatIsNoLoopRunsAsOneRegion() {
        long rax = 0;
        for (long rcx = 100000; rcx > 0; rcx--) {
            rax += rcx;
            rax += (rax & 1) != 0 ? 3 + 5 : 5;
        }
        List<Long> seen = CompiledGuests.runToHltInEachSetting(code(), vm -> List.of());
        assertEquals(rax, seen.get(0), "RAX");
        for (String execution : List.of("blocks", "compiled")) {
            List<Long> regions = CompiledGuests.runToHlt(execution, code(), vm -> List.of(vm.vcpu.compiledRegions()));
            assertEquals(2, regions.get(0), execution + ": the loop's region and the function's, each of more than one block");
        }
    }
}

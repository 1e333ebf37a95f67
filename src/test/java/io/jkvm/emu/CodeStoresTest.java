package io.jkvm.emu;

import io.jkvm.testing.EmuVm;
import io.jkvm.x86.VcpuExit;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A store over code drops the blocks that hold the bytes it writes, and those whose compiled region runs one of them;
 * the other blocks of the page stay decoded (a kernel patching a jump keeps the rest of that page's code). Each guest
 * keeps a loop, a function h at 0x100 and a function g at 0x200 in one page, and patches h's immediate.
 */
class CodeStoresTest {
    /**
     * mov ecx, 1000; xor r15d, r15d; 1: call h; add r15, rax; cmp ecx, 500; jne 2f; mov dword [rip + h + 1], 5;
     * 2: dec ecx; jnz 1b; call g; add r15, rax; hlt. h: mov eax, 7; ret. g: mov eax, 0x100; ret. Compiled, the loop's
     * region runs h's block: the store over h must drop it too, or the rounds after it would still add 7.
     */
    private static final String PATCHED_ONCE = "b9e80300004531ffe8f30000004901c781f9f4010000750ac705df00000005000000ffc975e2"
            + "e8d50100004901c7f4";

    /** As above, but each round stores ECX over h's immediate first: mov dword [rip + h + 1], ecx; call h; ... */
    private static final String PATCHED_EACH_ROUND = "b9e80300004531ff890df3000000e8ed0000004901c7ffc975eee8e10100004901c7f4";

    /** {@code loop} at the page's start, h and g at 0x100 and 0x200. */
    private static byte[] page(String loop) {
        byte[] code = new byte[0x206];
        byte[] head = ExceptionsTest.hex(loop);
        System.arraycopy(head, 0, code, 0, head.length);
        System.arraycopy(ExceptionsTest.hex("b8 07 00 00 00 c3"), 0, code, 0x100, 6); // h: mov eax, 7; ret
        System.arraycopy(ExceptionsTest.hex("b8 00 01 00 00 c3"), 0, code, 0x200, 6); // g: mov eax, 0x100; ret
        return code;
    }

    @Test
    void aStoreOverARegionsCalleeDropsTheRegion() {
        List<Long> interpreter = CompiledGuests.runToHltInEachSetting(page(PATCHED_ONCE), vm -> List.of());
        assertEquals(501 * 7L + 499 * 5 + 0x100, interpreter.get(15), "R15: 7 up to the patch, 5 after, and g's");
    }

    @Test
    void aStoreOverOneFunctionKeepsTheRestOfItsPageDecoded() {
        List<Long> interpreter = CompiledGuests.runToHltInEachSetting(page(PATCHED_EACH_ROUND), vm -> List.of());
        assertEquals(500_500L + 0x100, interpreter.get(15), "R15: each round's ECX, and g's");
        long decoded = ExecutionTest.with("blocks", () -> {
            try (EmuVm vm = new EmuVm(page(PATCHED_EACH_ROUND))) {
                assertInstanceOf(VcpuExit.Hlt.class, vm.vcpu.run());
                return vm.vcpu.decodedInstructions().decoded();
            }
        });
        // h's two instructions each round; the loop's blocks once (dropped with the page, they were each round too)
        assertTrue(decoded >= 2 * 1000 && decoded < 3 * 1000, "instructions decoded: " + decoded);
    }
}

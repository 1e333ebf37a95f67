package io.jkvm.emu;

import io.jkvm.testing.Asm;
import io.jkvm.testing.EmuVm;
import org.junit.jupiter.api.Test;

import java.util.HexFormat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The interpreter decodes an instruction it runs again only when its bytes or the mode changed: a loop of three
 * instructions run 1000 times is decoded about once, and the host rewriting one of them between runs changes what it
 * does at once.
 */
class InterpreterDecodesTest {
    private static final long LOOP = EmuVm.CODE + 0x200;

    @Test
    void aLoopIsDecodedOnceAndRunsAsRewritten() {
        Asm start = new Asm().raw("31 c0 b9 03 00 00 00 bb 05 00 00 00 ba e8 03 00 00") // eax = 0, ecx = 3, ebx = 5, edx = 1000
                .movImm64(6, LOOP).raw("ff e6"); // jmp rsi
        byte[] loop = HexFormat.of().parseHex("4801c8" + "ffca" + "75f9" + "e680" // add rax, rcx; dec edx; jnz; out 0x80
                + "bae8030000" + "ebf0"); // edx = 1000; jmp LOOP
        ExecutionTest.with("interpreter", () -> {
            try (EmuVm vm = new EmuVm(start.bytes())) {
                vm.memory.write(LOOP, loop, 0, loop.length);
                vm.nextOut(0x80);
                assertEquals(3000, vm.vcpu.registers().rax(), "1000 times ADD RAX, RCX");
                long decodes = vm.vcpu.interpreterDecodes();
                assertTrue(decodes < 20, "3000 loop instructions run, decoded " + decodes + " times");
                vm.memory.write(LOOP + 2, new byte[] {(byte) 0xD8}, 0, 1); // its ModRM: now ADD RAX, RBX
                vm.nextOut(0x80);
                assertEquals(3000 + 5000, vm.vcpu.registers().rax(), "1000 times ADD RAX, RBX, as rewritten");
                long again = vm.vcpu.interpreterDecodes() - decodes;
                assertTrue(again >= 1 && again < 10, "decoded again: the rewritten ADD (" + again + ")");
            }
            return null;
        });
    }
}

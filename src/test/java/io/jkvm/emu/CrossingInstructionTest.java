package io.jkvm.emu;

import io.jkvm.testing.Asm;
import io.jkvm.testing.EmuVm;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.HexFormat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * An instruction across the end of its page, which no decoded block holds, runs as a decoded one from the second
 * time on, with the bytes it has at each run: the host rewriting its byte in the next page changes what it does.
 */
class CrossingInstructionTest {
    private static final long LOOP = EmuVm.CODE + 0xFFE; // ADD RAX, RCX from here: two bytes in this page, one in the next

    @ParameterizedTest
    @ValueSource(strings = {"interpreter", "blocks", "compiled"})
    void anInstructionAcrossAPageEndRunsWithTheBytesItHasEachTime(String execution) {
        Asm start = new Asm().raw("31 c0 b9 03 00 00 00 bb 05 00 00 00 ba e8 03 00 00") // eax = 0, ecx = 3, ebx = 5, edx = 1000
                .movImm64(6, LOOP).raw("ff e6"); // jmp rsi
        byte[] loop = HexFormat.of().parseHex("4801c8" + "ffca" + "75f9" + "e680" // add rax, rcx; dec edx; jnz; out 0x80
                + "bae8030000" + "ebf0"); // edx = 1000; jmp LOOP
        ExecutionTest.with(execution, () -> {
            try (EmuVm vm = new EmuVm(start.bytes())) {
                vm.memory.write(LOOP, loop, 0, loop.length);
                vm.nextOut(0x80);
                assertEquals(3000, vm.vcpu.registers().rax(), "1000 times ADD RAX, RCX");
                vm.memory.write(EmuVm.CODE + 0x1000, new byte[] {(byte) 0xD8}, 0, 1); // its ModRM: now ADD RAX, RBX
                vm.nextOut(0x80);
                assertEquals(3000 + 5000, vm.vcpu.registers().rax(), "1000 times ADD RAX, RBX");
                long crossings = vm.vcpu.crossingRuns();
                if (execution.equals("interpreter")) {
                    assertEquals(0, crossings, "the interpreter runs every instruction itself");
                } else {
                    assertTrue(crossings > 1900, "decoded runs of the crossing instruction: " + crossings);
                }
            }
            return null;
        });
    }

    @ParameterizedTest
    @ValueSource(strings = {"interpreter", "blocks", "compiled"})
    void aFaultAtAnInstructionAcrossAPageEndLeavesItsStateUntouched(String execution) {
        long data = 0x150000;
        Asm start = new Asm().movImm64(3, data).raw("ba 64 00 00 00") // rbx = data, edx = 100
                .movImm64(6, LOOP).raw("ff e6"); // jmp rsi
        byte[] loop = HexFormat.of().parseHex("488b03" + "ffca" + "75f9" // mov rax, [rbx]; dec edx; jnz LOOP
                + "48bb0000000000000080" + "ebf0"); // rbx = a non-canonical address; jmp LOOP: #GP(0) there
        ExecutionTest.with(execution, () -> {
            try (EmuVm vm = new EmuVm(start.bytes())) {
                ExceptionsTest.installIdt(vm);
                vm.memory.write(LOOP, loop, 0, loop.length);
                vm.memory.writeLong(data, 0x1234_5678);
                assertEquals(13, vm.nextOut(0x90), "#GP");
                assertEquals(LOOP, vm.vcpu.registers().rdx(), "the saved RIP: the crossing instruction");
                assertEquals(0x1234_56, vm.vcpu.registers().rax() >>> 8, "RAX as the last load left it (the handler's AL aside)");
                assertEquals(0, vm.vcpu.registers().rbx(), "the error code");
            }
            return null;
        });
    }
}

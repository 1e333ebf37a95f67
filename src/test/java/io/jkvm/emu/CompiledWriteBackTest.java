package io.jkvm.emu;

import org.junit.jupiter.api.Test;

import java.lang.classfile.ClassFile;
import java.lang.classfile.CodeElement;
import java.lang.classfile.Instruction;
import java.lang.classfile.MethodModel;
import java.lang.classfile.Opcode;
import java.lang.classfile.instruction.ConstantInstruction;
import java.lang.classfile.instruction.FieldInstruction;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * A compiled method writes back, at its exits and in its fault handlers, only the registers its forms write: a
 * register the guest's loop only reads (a base, a source, CMP's operands) keeps its value in the register file, so
 * storing the local back there is work for nothing at every exit.
 */
class CompiledWriteBackTest {
    private static final int SETUP = 19;

    // mov esi, 0x300000; mov ecx, 1000; xor edx, edx; mov ebx, 3; xor eax, eax
    // 1: add rax, rbx; mov r8, [rsi]; add r8, rax; dec rcx; cmp rcx, rdx; jne 1b; hlt
    private static final byte[] GUEST = HexFormat.of().parseHex(
            "be00003000b9e803000031d2bb0300000031c0" + "4801d84c8b064901c048ffc94839d175ef" + "f4");

    /** The register numbers the run method of {@code bytes} stores into the register file. */
    private static Set<Integer> registersStored(byte[] bytes) {
        MethodModel run = ClassFile.of().parse(bytes).methods().stream()
                .filter(m -> m.methodName().equalsString("run")).findFirst().orElseThrow();
        List<Instruction> code = new ArrayList<>();
        for (CodeElement e : run.code().orElseThrow()) {
            if (e instanceof Instruction i) {
                code.add(i);
            }
        }
        Set<Integer> stored = new TreeSet<>();
        for (int k = 0; k + 3 < code.size(); k++) { // getfield r; the register's number; lload; lastore
            if (code.get(k) instanceof FieldInstruction f && f.name().equalsString("r")
                    && code.get(k + 1) instanceof ConstantInstruction c && code.get(k + 3).opcode() == Opcode.LASTORE) {
                stored.add(((Number) c.constantValue()).intValue());
            }
        }
        return stored;
    }

    @Test
    void exitsWriteBackOnlyTheRegistersTheLoopWrites() {
        BlockOp[] loop = CompiledGuests.blockAt(GUEST, SETUP);
        assertEquals(6, loop.length, "the loop is one block");
        assertEquals(Set.of(0, 1, 8), registersStored(BlockCompiler.classBytes(loop, loop.length, false)),
                "RAX, RCX and R8 are written back; RBX, RDX and RSI, which the loop only reads, are not");
    }

    @Test
    void theLoopGetsTheInterpretersResultsInEachSetting() {
        List<Long> interpreter = CompiledGuests.runToHltInEachSetting(GUEST, vm -> List.of());
        assertEquals(3000L, interpreter.get(0), "RAX: 3 added a thousand times");
        assertEquals(3L, interpreter.get(3), "RBX as the setup left it");
        assertEquals(0x300000L, interpreter.get(6), "RSI as the setup left it");
        assertEquals(3000L, interpreter.get(8), "R8: the zero word plus RAX, the last round");
    }
}

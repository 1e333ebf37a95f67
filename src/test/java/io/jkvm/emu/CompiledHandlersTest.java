package io.jkvm.emu;

import org.junit.jupiter.api.Test;

import java.lang.classfile.ClassFile;
import java.lang.classfile.instruction.ExceptionCatch;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * A compiled block's exception table: instructions that follow one another in a block and put back the same state when
 * they fault share one entry (CompiledFaultPrecisionTest holds what the guest then sees at each position). The
 * classfile API's stack maps look at every entry at each bytecode an entry covers, so one per instruction made the
 * build of a long region mostly that look.
 */
class CompiledHandlersTest {
    /** The exception table of the run method of {@code insns}' compiled class. */
    private static List<ExceptionCatch> handlers(BlockOp[] insns) {
        byte[] bytes = BlockCompiler.fit(BlockRegion.of(insns)).bytes();
        return ClassFile.of().parse(bytes).methods().stream().filter(m -> m.methodName().equalsString("run"))
                .findFirst().orElseThrow().code().orElseThrow().exceptionHandlers();
    }

    @Test
    void loadsInARowShareTheirHandler() {
        // mov rax, [rsi]; mov rbx, [rsi+8]; mov rcx, [rsi+16]; mov rdx, [rsi+24]; mov rdi, [rsi+32]
        BlockOp[] loads = CompiledGuests.decode("488b06488b5e08488b4e10488b5618488b7e20");
        List<ExceptionCatch> table = handlers(loads);
        // the first load finds every register in the core; after it RAX is newer in its local, which a handler of
        // the others writes back: two states to put back, two entries
        assertEquals(2, table.size(), table.toString());
        assertEquals(2, table.stream().map(ExceptionCatch::handler).distinct().count(), "each its own handler");
    }

    @Test
    void aStateChangedBetweenThemSplitsTheEntry() {
        // mov rax, [rsi]; mov rbx, [rsi+8]; add rbx, rax; mov rcx, [rsi+16]; mov rdx, [rsi+24]: the ADD's flags,
        // which a fault of a later load must put back too, make the loads after it a handler of their own
        BlockOp[] insns = CompiledGuests.decode("488b06488b5e084801c3488b4e10488b5618");
        assertEquals(3, handlers(insns).size(), handlers(insns).toString());
    }
}

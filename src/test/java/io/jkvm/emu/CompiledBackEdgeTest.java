package io.jkvm.emu;

import org.junit.jupiter.api.Test;

import java.lang.classfile.ClassFile;
import java.lang.classfile.CodeElement;
import java.lang.classfile.Opcode;
import java.lang.classfile.instruction.FieldInstruction;
import java.lang.classfile.instruction.InvokeInstruction;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A compiled loop's back edge asks {@code mayChain} whether to go round again only when the interrupt or NMI line is
 * up: nothing else it reads can change inside a chain (runBlock). ExternalInterruptTest holds the loops to taking a
 * raised interrupt.
 */
class CompiledBackEdgeTest {
    /** The instructions of {@code hex}, decoded one after the other. */
    private static BlockOp[] decode(String hex) {
        byte[] code = HexFormat.of().parseHex(hex);
        List<BlockOp> ops = new ArrayList<>();
        for (int at = 0; at < code.length; ) {
            BlockOp d = BlockDecoder.reduce(Arrays.copyOfRange(code, at, Math.min(code.length, at + 15)));
            ops.add(d);
            at += d.length();
        }
        return ops.toArray(BlockOp[]::new);
    }

    /** The run method's code, as the names of the fields it reads and of the methods it calls, in order. */
    private static List<String> reads(BlockOp[] insns) {
        byte[] bytes = BlockCompiler.fit(BlockRegion.of(insns)).bytes();
        List<String> names = new ArrayList<>();
        ClassFile.of().parse(bytes).methods().stream().filter(m -> m.methodName().equalsString("run")).findFirst()
                .orElseThrow().code().orElseThrow().forEach((CodeElement e) -> {
                    if (e instanceof FieldInstruction f && f.opcode() == Opcode.GETFIELD) {
                        names.add(f.name().stringValue());
                    } else if (e instanceof InvokeInstruction i) {
                        names.add(i.name().stringValue() + "()");
                    }
                });
        return names;
    }

    /** Asserts that the back edge reads the two lines, then asks mayChain, and asks it nowhere else. */
    private static void asksOnlyWhenALineIsUp(BlockOp[] loop) {
        List<String> reads = reads(loop);
        int ask = reads.indexOf("mayChain()");
        assertTrue(ask >= 2, "the back edge asks mayChain: " + reads);
        assertEquals(List.of("interruptLine", "nmiPending"), reads.subList(ask - 2, ask), "the lines are read first");
        assertEquals(1, reads.stream().filter("mayChain()"::equals).count());
    }

    @Test
    void aLoopOfCompiledFormsAsksMayChainOnlyWhenALineIsUp() {
        BlockOp[] loop = decode("48ffc3" + "ebfb"); // 1: inc rbx; jmp 1b
        assertTrue(Arrays.stream(loop).allMatch(BlockCompiler::compiled));
        asksOnlyWhenALineIsUp(loop);
    }

    @Test
    void aLoopWithAFormTheExecutorRunsAsksTheSameWay() {
        BlockOp[] loop = decode("48ffc3" + "480fbae300" + "ebf6"); // 1: inc rbx; bt rbx, 0; jmp 1b
        assertTrue(Arrays.stream(loop).anyMatch(d -> !BlockCompiler.compiled(d)), "BT runs through executeDecoded");
        asksOnlyWhenALineIsUp(loop);
    }
}

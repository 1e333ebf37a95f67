package io.jkvm.emu;

import io.jkvm.linux.Mapping;
import io.jkvm.testing.EmuVm;
import io.jkvm.x86.Registers;
import io.jkvm.x86.VcpuExit;

import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;

/** What the compiler's tests share: the block the decoder makes of a guest's loop, and a run to HLT in one setting. */
final class CompiledGuests {
    private CompiledGuests() {
    }

    /**
     * The registers a loop's code {@code hex} leaves at its OUT to port 0x80, run in {@code execution}; in a setting that
     * compiles, asserting that a block ran compiled.
     */
    static Registers loopToOut(String execution, String hex) {
        return ExecutionTest.with(execution, () -> {
            try (EmuVm vm = new EmuVm(java.util.HexFormat.of().parseHex(hex))) {
                vm.nextOut(0x80);
                if (!execution.equals("interpreter")) {
                    org.junit.jupiter.api.Assertions.assertTrue(vm.vcpu.compiledBlocks() > 0, "the loop ran compiled");
                }
                return vm.vcpu.registers();
            }
        });
    }

    /** The instructions of {@code hex}, decoded one after the other as a block's ops. */
    static BlockOp[] decode(String hex) {
        byte[] code = java.util.HexFormat.of().parseHex(hex);
        List<BlockOp> ops = new ArrayList<>();
        for (int at = 0; at < code.length; ) {
            BlockOp d = BlockDecoder.reduce(java.util.Arrays.copyOfRange(code, at, Math.min(code.length, at + 15)));
            ops.add(d);
            at += d.length();
        }
        return ops.toArray(BlockOp[]::new);
    }

    /**
     * What the run method of {@code insns}' compiled class reads and calls, in order: each field it reads as its name,
     * each method it calls as owner.name() (the owner's internal name).
     */
    static List<String> readsAndCalls(BlockOp[] insns) {
        byte[] bytes = BlockCompiler.fit(BlockRegion.of(insns)).bytes();
        List<String> names = new ArrayList<>();
        java.lang.classfile.ClassFile.of().parse(bytes).methods().stream()
                .filter(m -> m.methodName().equalsString("run")).findFirst().orElseThrow().code().orElseThrow()
                .forEach((java.lang.classfile.CodeElement e) -> {
                    if (e instanceof java.lang.classfile.instruction.FieldInstruction f
                            && f.opcode() == java.lang.classfile.Opcode.GETFIELD) {
                        names.add(f.name().stringValue());
                    } else if (e instanceof java.lang.classfile.instruction.InvokeInstruction i) {
                        names.add(i.owner().asInternalName() + "." + i.name().stringValue() + "()");
                    }
                });
        return names;
    }

    /** The block the decoder makes of {@code code} from {@code offset} on, placed at a page's start. */
    static BlockOp[] blockAt(byte[] code, int offset) {
        try (Mapping page = Mapping.anonymous(CodeCache.PAGE, "the loop")) {
            for (int i = offset; i < code.length; i++) {
                page.putByte(i - offset, code[i]);
            }
            return BlockDecoder.decode(page, 0, 0, 0).insns;
        }
    }

    /**
     * What {@code first} reads after {@code code} ran to HLT in {@code setting} (-Djkvm.core.execution), then the
     * sixteen GPRs, the arithmetic flags and the instructions retired.
     */
    static List<Long> runToHlt(String setting, byte[] code, Function<EmuVm, List<Long>> first) {
        return ExecutionTest.with(setting, () -> {
            try (EmuVm vm = new EmuVm(code)) {
                assertInstanceOf(VcpuExit.Hlt.class, vm.vcpu.run(), setting);
                List<Long> seen = new ArrayList<>(first.apply(vm));
                Registers r = vm.vcpu.registers();
                for (int g = 0; g < 16; g++) {
                    seen.add(r.gpr(g));
                }
                seen.addAll(List.of(r.rflags() & 0x8D5, vm.vcpu.instructions()));
                return seen;
            }
        });
    }

    /**
     * {@link #runToHlt} in each setting: the interpreter's results, which compiling every block at once and the default
     * setting must give too.
     */
    static List<Long> runToHltInEachSetting(byte[] code, Function<EmuVm, List<Long>> first) {
        List<Long> interpreter = runToHlt("interpreter", code, first);
        assertEquals(interpreter, runToHlt("compiled", code, first), "every block compiled at once");
        assertEquals(interpreter, runToHlt("blocks", code, first), "the default setting");
        return interpreter;
    }

    /**
     * What the exception handlers of {@link ExceptionsTest#installIdt} saw when {@code code} faulted in {@code setting}:
     * the vector, the error code (0 without one), CR2, the saved RIP and the saved RFLAGS' arithmetic flags; and what
     * {@code after} read then.
     */
    record Fault(long vector, long errorCode, long cr2, long rip, long flags, List<Long> after) {
    }

    /** The fault {@code code} takes in {@code setting}, with {@code setup} done to the VM first. */
    static Fault fault(String setting, byte[] code, java.util.function.Consumer<EmuVm> setup, Function<EmuVm, List<Long>> after) {
        return ExecutionTest.with(setting, () -> {
            try (EmuVm vm = new EmuVm(code)) {
                setup.accept(vm);
                ExceptionsTest.installIdt(vm);
                long vector = vm.nextOut(0x90);
                Registers r = vm.vcpu.registers();
                return new Fault(vector, r.rbx(), r.rcx(), r.rdx(), vm.memory.readLong(r.rsp() + 16) & 0x8D5, after.apply(vm));
            }
        });
    }
}

package io.jkvm.emu;

import io.jkvm.linux.Ioctl;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.io.InputStream;
import java.lang.classfile.ClassFile;
import java.lang.classfile.ClassModel;
import java.lang.classfile.MethodModel;
import java.lang.classfile.instruction.InvokeDynamicInstruction;
import java.lang.reflect.Constructor;
import java.lang.reflect.RecordComponent;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The records a launch compares or hashes before its guest's first region runs (the sandbox's ioctls as it builds its
 * filter, a region's ops in its shared key and the instructions they carry, the block compiler's handler and exit
 * keys) have their equality written out: a record's generated equals and hashCode are an invokedynamic whose bootstrap
 * (ObjectMethods) makes method handles at its first call, milliseconds each in a launch, which the JDK's start-up
 * cache does not keep (docs/benchmarks.md). A record put on that path belongs in the list below, with a test of its
 * equality.
 */
class LaunchRecordEqualityTest {
    @ParameterizedTest
    @ValueSource(strings = {"io/jkvm/linux/Ioctl", "io/jkvm/emu/BlockOp", "io/jkvm/emu/BodyState$ExitKey",
            "io/jkvm/emu/BodyState$HandlerKey", "io/jkvm/emu/Instruction", "io/jkvm/emu/Prefixes", "io/jkvm/emu/ModRm"})
    void equalityIsWrittenOutWithoutABootstrap(String name) throws IOException {
        ClassModel model;
        try (InputStream in = LaunchRecordEqualityTest.class.getClassLoader().getResourceAsStream(name + ".class")) {
            assertNotNull(in, name);
            model = ClassFile.of().parse(in.readAllBytes());
        }
        for (String method : List.of("equals", "hashCode")) {
            MethodModel m = model.methods().stream().filter(x -> x.methodName().equalsString(method)).findFirst()
                    .orElseThrow(() -> new AssertionError(name + " has no " + method + " of its own"));
            boolean bootstrapped = m.code().orElseThrow().elementStream().anyMatch(e -> e instanceof InvokeDynamicInstruction);
            assertTrue(!bootstrapped, name + "." + method + " is the record's generated one (an invokedynamic)");
        }
    }

    @Test
    void opsAreEqualExactlyWhenEveryFieldIs() {
        BlockOp op = BlockOp.of(BlockOp.ALU_RM_IMM, 7, 8, 5, 1, BlockOp.MEMORY, 3, 6, 2, 0x1234, -9, BlockOp.GS);
        BlockOp same = BlockOp.of(BlockOp.ALU_RM_IMM, 7, 8, 5, 1, BlockOp.MEMORY, 3, 6, 2, 0x1234, -9, BlockOp.GS);
        assertEquals(op, same);
        assertEquals(op.hashCode(), same.hashCode());
        List<BlockOp> others = List.of(
                BlockOp.of(BlockOp.ALU_RM_REG, 7, 8, 5, 1, BlockOp.MEMORY, 3, 6, 2, 0x1234, -9, BlockOp.GS),
                BlockOp.of(BlockOp.ALU_RM_IMM, 6, 8, 5, 1, BlockOp.MEMORY, 3, 6, 2, 0x1234, -9, BlockOp.GS),
                BlockOp.of(BlockOp.ALU_RM_IMM, 7, 4, 5, 1, BlockOp.MEMORY, 3, 6, 2, 0x1234, -9, BlockOp.GS),
                BlockOp.of(BlockOp.ALU_RM_IMM, 7, 8, 7, 1, BlockOp.MEMORY, 3, 6, 2, 0x1234, -9, BlockOp.GS),
                BlockOp.of(BlockOp.ALU_RM_IMM, 7, 8, 5, 2, BlockOp.MEMORY, 3, 6, 2, 0x1234, -9, BlockOp.GS),
                BlockOp.of(BlockOp.ALU_RM_IMM, 7, 8, 5, 1, 0, 3, 6, 2, 0x1234, -9, BlockOp.GS),
                BlockOp.of(BlockOp.ALU_RM_IMM, 7, 8, 5, 1, BlockOp.MEMORY, 4, 6, 2, 0x1234, -9, BlockOp.GS),
                BlockOp.of(BlockOp.ALU_RM_IMM, 7, 8, 5, 1, BlockOp.MEMORY, 3, 7, 2, 0x1234, -9, BlockOp.GS),
                BlockOp.of(BlockOp.ALU_RM_IMM, 7, 8, 5, 1, BlockOp.MEMORY, 3, 6, 3, 0x1234, -9, BlockOp.GS),
                BlockOp.of(BlockOp.ALU_RM_IMM, 7, 8, 5, 1, BlockOp.MEMORY, 3, 6, 2, 0x1235, -9, BlockOp.GS),
                BlockOp.of(BlockOp.ALU_RM_IMM, 7, 8, 5, 1, BlockOp.MEMORY, 3, 6, 2, 0x1234, 9, BlockOp.GS),
                BlockOp.of(BlockOp.ALU_RM_IMM, 7, 8, 5, 1, BlockOp.MEMORY, 3, 6, 2, 0x1234, -9, BlockOp.FS));
        for (BlockOp other : others) {
            assertNotEquals(op, other, other.toString());
        }
        assertEquals(others.size(), others.stream().map(BlockOp::hashCode).distinct().count(), "one field apart, hashes apart");
    }

    /** The records an op's instruction holds: equal copies, and every component changed alone makes them differ. */
    @ParameterizedTest
    @ValueSource(classes = {Instruction.class, Prefixes.class, ModRm.class})
    void instructionPartsAreEqualExactlyWhenEveryComponentIs(Class<? extends Record> type) throws ReflectiveOperationException {
        RecordComponent[] components = type.getRecordComponents();
        Constructor<? extends Record> make = type.getDeclaredConstructor(
                Arrays.stream(components).map(RecordComponent::getType).toArray(Class<?>[]::new));
        Object[] values = new Object[components.length];
        for (int i = 0; i < values.length; i++) {
            values[i] = sample(components[i].getType(), i);
        }
        Record record = make.newInstance(values), copy = make.newInstance(values.clone());
        assertEquals(record, copy);
        assertEquals(record.hashCode(), copy.hashCode());
        for (int i = 0; i < values.length; i++) {
            Object[] changed = values.clone();
            changed[i] = sample(components[i].getType(), i + 100);
            Record other = make.newInstance(changed);
            assertNotEquals(record, other, type.getSimpleName() + "." + components[i].getName() + " changed alone");
            assertNotEquals(record.hashCode(), other.hashCode(), type.getSimpleName() + "." + components[i].getName());
        }
    }

    /** A value of {@code type} that differs for each {@code seed}; for the nested records, one with a field set from it. */
    private static Object sample(Class<?> type, int seed) {
        if (type == int.class) {
            return seed + 1;
        } else if (type == long.class) {
            return 0x1_0000_0000L * seed + 7;
        } else if (type == boolean.class) {
            return seed < 100;
        } else if (type == Prefixes.class) {
            return new Prefixes(0x0F, seed, false, true, false, 0, -1, -1, false);
        } else if (type == ModRm.class) {
            return new ModRm(1, seed, BlockOp.MEMORY, 3, BlockOp.NONE, 0, 8);
        }
        throw new AssertionError("no sample for " + type);
    }

    @Test
    void ioctlsAreEqualExactlyWhenNameNumberAndQuicknessAre() {
        Ioctl get = new Ioctl("KVM_GET_REGS", 0x8090ae81L);
        assertEquals(get, new Ioctl("KVM_GET_REGS", 0x8090ae81L));
        assertEquals(get.hashCode(), new Ioctl("KVM_GET_REGS", 0x8090ae81L).hashCode());
        assertNotEquals(get, new Ioctl("KVM_SET_REGS", 0x8090ae81L));
        assertNotEquals(get, new Ioctl("KVM_GET_REGS", 0x4090ae82L));
        assertNotEquals(get, Ioctl.quick("KVM_GET_REGS", 0x8090ae81L));
    }
}

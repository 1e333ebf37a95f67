package io.jkvm.linux;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.lang.foreign.GroupLayout;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.PaddingLayout;
import java.lang.foreign.SequenceLayout;
import java.lang.foreign.StructLayout;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Header drift check: gcc compiles a program that prints sizeof/offsetof of every field of every generated
 * struct, and the value of every generated constant, from the same native-headers/jkvm.h; all must match.
 */
class UapiLayoutTest {
    private static final Path PROJECT = Path.of(System.getProperty("jkvm.project.dir", "."));
    private static final Map<String, Long> expected = new LinkedHashMap<>();
    private static Map<String, Long> actual;

    @BeforeAll
    static void compileAndRun() throws Exception {
        List<String> lines = new ArrayList<>();
        for (Class<?> struct : structClasses()) {
            GroupLayout layout = (GroupLayout) struct.getMethod("layout").invoke(null);
            String c = "struct " + struct.getSimpleName();
            expected.put("sizeof " + c, layout.byteSize());
            lines.add(print("sizeof " + c, "sizeof(" + c + ")"));
            walk(c, "", layout, 0, lines);
        }
        for (Method m : constantMethods()) {
            expected.put(m.getName(), ((Number) m.invoke(null)).longValue());
            // an int constant holds C's 32 bits, an unsigned one (AUDIT_ARCH_X86_64) too: compared as C's int of them
            lines.add(print(m.getName(), m.getReturnType() == int.class ? "(int) (" + m.getName() + ")" : m.getName()));
        }
        Path dir = Files.createTempDirectory("jkvm-uapi");
        Path source = dir.resolve("layout.c");
        StringBuilder program = new StringBuilder("#include \"jkvm.h\"\n#include <stddef.h>\n#include <stdio.h>\nint main(void) {\n");
        lines.forEach(l -> program.append("    ").append(l).append('\n'));
        program.append("    return 0;\n}\n");
        Files.writeString(source, program);
        Path binary = dir.resolve("layout");
        run(List.of("gcc", "-I", PROJECT.resolve("native-headers").toString(), "-o", binary.toString(), source.toString()));
        actual = new LinkedHashMap<>();
        for (String line : run(List.of(binary.toString())).split("\n")) {
            int eq = line.lastIndexOf('=');
            actual.put(line.substring(0, eq), Long.parseLong(line.substring(eq + 1)));
        }
    }

    private static String print(String key, String expression) {
        return "printf(\"%s=%lld\\n\", \"" + key + "\", (long long)(" + expression + "));";
    }

    /** Every named field, through anonymous unions/structs (which C reaches without a name). */
    private static void walk(String struct, String path, GroupLayout group, long base, List<String> lines) {
        long offset = base;
        for (MemoryLayout member : group.memberLayouts()) {
            long at = group instanceof StructLayout ? offset : base;
            offset += member.byteSize();
            if (member instanceof PaddingLayout || member.name().isEmpty()) {
                continue;
            }
            String name = member.name().get();
            if (name.startsWith("$anon$")) {
                walk(struct, path, (GroupLayout) member, at, lines);
                continue;
            }
            String field = path + name;
            expected.put("offsetof " + struct + "." + field, at);
            lines.add(print("offsetof " + struct + "." + field, "offsetof(" + struct + ", " + field + ")"));
            boolean flexible = member instanceof SequenceLayout s && s.elementCount() == 0;
            if (!flexible) {
                expected.put("sizeof " + struct + "." + field, member.byteSize());
                lines.add(print("sizeof " + struct + "." + field, "sizeof(((" + struct + " *)0)->" + field + ")"));
            }
            if (member instanceof GroupLayout nested) {
                walk(struct, field + ".", nested, at, lines);
            }
        }
    }

    private static List<Class<?>> structClasses() throws IOException, ClassNotFoundException {
        Path dir = Path.of(System.getProperty("jkvm.project.dir", ".")).resolve("src/main/java/io/jkvm/linux/uapi");
        List<Class<?>> out = new ArrayList<>();
        try (Stream<Path> files = Files.list(dir)) {
            for (Path f : files.sorted().toList()) {
                String name = f.getFileName().toString().replace(".java", "");
                if (!name.startsWith("Uapi") && !name.contains("$")) { // every generated struct
                    out.add(Class.forName("io.jkvm.linux.uapi." + name));
                }
            }
        }
        return out;
    }

    private static List<Method> constantMethods() throws ClassNotFoundException {
        List<Method> out = new ArrayList<>();
        for (Method m : Class.forName("io.jkvm.linux.uapi.Uapi").getDeclaredMethods()) {
            if (Modifier.isPublic(m.getModifiers()) && Modifier.isStatic(m.getModifiers()) && m.getParameterCount() == 0
                    && (m.getReturnType() == int.class || m.getReturnType() == long.class)
                    && m.getName().matches("[A-Z][A-Z0-9_]+")) {
                out.add(m);
            }
        }
        return out;
    }

    private static String run(List<String> command) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), "timed out: " + command);
        assertEquals(0, p.exitValue(), () -> command + " failed:\n" + output);
        return output;
    }

    @Test
    void everyGeneratedStructFieldAndConstantMatchesGcc() {
        assertEquals(expected.keySet(), actual.keySet());
        List<String> mismatches = new ArrayList<>();
        expected.forEach((key, value) -> {
            if (!value.equals(actual.get(key))) {
                mismatches.add(key + ": generated " + value + ", gcc " + actual.get(key));
            }
        });
        assertTrue(mismatches.isEmpty(), () -> String.join("\n", mismatches));
        System.out.println("UapiLayoutTest: " + expected.size() + " sizes, offsets and constants checked against gcc");
    }

    @Test
    void coversTheStructsTheKvmLayerUses() {
        for (String s : List.of("kvm_regs", "kvm_sregs", "kvm_run", "kvm_cpuid2", "kvm_msrs", "kvm_xsave", "kvm_xcrs",
                "kvm_vcpu_events", "kvm_debugregs", "kvm_fpu", "kvm_userspace_memory_region")) {
            assertTrue(expected.containsKey("sizeof struct " + s), s);
        }
        assertTrue(expected.containsKey("offsetof struct kvm_run.io.data_offset"));
        assertTrue(expected.containsKey("offsetof struct kvm_run.internal.suberror"));
        assertTrue(expected.containsKey("KVM_GET_XSAVE2"));
    }

    @Test
    void coversDirtyPageLogging() {
        for (String s : List.of("kvm_dirty_log", "kvm_clear_dirty_log", "kvm_enable_cap")) {
            assertTrue(expected.containsKey("sizeof struct " + s), s);
        }
        for (String field : List.of("kvm_dirty_log.dirty_bitmap", "kvm_clear_dirty_log.first_page",
                "kvm_clear_dirty_log.num_pages", "kvm_clear_dirty_log.dirty_bitmap", "kvm_enable_cap.args")) {
            assertTrue(expected.containsKey("offsetof struct " + field), field);
        }
        for (String c : List.of("KVM_GET_DIRTY_LOG", "KVM_CLEAR_DIRTY_LOG", "KVM_ENABLE_CAP", "KVM_MEM_LOG_DIRTY_PAGES",
                "KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2", "KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE", "KVM_DIRTY_LOG_INITIALLY_SET")) {
            assertTrue(expected.containsKey(c), c);
        }
    }
}

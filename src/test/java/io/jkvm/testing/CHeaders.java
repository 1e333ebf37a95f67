package io.jkvm.testing;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** C expressions (offsetof, sizeof, a header's constants) as gcc evaluates them against the system's headers. */
public final class CHeaders {
    private CHeaders() {
    }

    /** Each of {@code expressions}, compiled with {@code headers} included, by its text (compiled and run in {@code dir}). */
    public static Map<String, Long> evaluate(Path dir, List<String> headers, Iterable<String> expressions) throws Exception {
        StringBuilder c = new StringBuilder("#include <stdio.h>\n#include <stddef.h>\n");
        headers.forEach(h -> c.append("#include <").append(h).append(">\n"));
        c.append("int main(void) {\n");
        List<String> keys = new java.util.ArrayList<>();
        for (String expression : expressions) {
            c.append("  printf(\"%d %llu\\n\", ").append(keys.size()).append(", (unsigned long long)(").append(expression).append("));\n");
            keys.add(expression);
        }
        c.append("  return 0;\n}\n");
        Path source = Files.createTempFile(dir, "headers", ".c"), binary = dir.resolve(source.getFileName() + ".bin");
        Files.writeString(source, c);
        Process gcc = new ProcessBuilder("gcc", "-o", binary.toString(), source.toString()).redirectErrorStream(true).start();
        String log = new String(gcc.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(gcc.waitFor(60, TimeUnit.SECONDS), "gcc did not finish");
        assertEquals(0, gcc.exitValue(), log);
        Process run = new ProcessBuilder(binary.toString()).start();
        Map<String, Long> values = new LinkedHashMap<>();
        for (String line : new String(run.getInputStream().readAllBytes(), StandardCharsets.UTF_8).split("\n")) {
            String[] kv = line.split(" ");
            values.put(keys.get(Integer.parseInt(kv[0])), Long.parseUnsignedLong(kv[1]));
        }
        assertTrue(run.waitFor(10, TimeUnit.SECONDS));
        return values;
    }
}

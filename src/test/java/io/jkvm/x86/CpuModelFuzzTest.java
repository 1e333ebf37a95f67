package io.jkvm.x86;

import io.jkvm.testing.SeededProperty;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.function.Function;

import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;

/**
 * Fuzz target for the --cpu parser: for any spec, against each fixture's host table, CpuModel.parse returns a model
 * or throws an XsaveException with a non-empty one-line message (never another exception, never a hang).
 * Seeded (SeededProperty): the same specs in every CI run.
 */
class CpuModelFuzzTest {
    private static final int TRIES = SeededProperty.tries(300);
    private record Host(String name, CpuidTable table, int mxcsrMask) {
    }

    private static final List<Host> HOSTS = List.of(new Host("intel", CpuidFixtures.intel(), CpuModel.INTEL_MXCSR_MASK),
            new Host("zen", CpuidFixtures.zen(), CpuModel.AMD_MXCSR_MASK),
            new Host("apx", CpuidFixtures.apx(), CpuModel.INTEL_MXCSR_MASK),
            new Host("apx-elsewhere", CpuidFixtures.apxElsewhere(), CpuModel.INTEL_MXCSR_MASK),
            new Host("mpx", CpuidFixtures.mpx(), CpuModel.INTEL_MXCSR_MASK));
    private static final List<String> NAMES = Arrays.stream(CpuFeature.values()).map(CpuFeature::qemuName).toList();

    @Test
    void editsOfKnownAndUnknownFeaturesParseOrAreRefusedInOneLine() {
        property("feature edits", CpuModelFuzzTest::editSpec);
    }

    @Test
    void anyStringParsesOrIsRefusedInOneLine() {
        property("any string", CpuModelFuzzTest::anyString);
    }

    private static void property(String name, Function<Random, String> generator) {
        new SeededProperty<>(name, generator, SeededProperty::smallerStrings, SeededProperty::javaLiteral).check(TRIES, spec -> {
            for (Host host : HOSTS) {
                parsesOrRefuses(spec, host);
            }
        });
    }

    private static void parsesOrRefuses(String spec, Host host) {
        try {
            CpuModel model = assertTimeoutPreemptively(Duration.ofSeconds(5),
                    () -> CpuModel.parse(spec, host.table(), host.mxcsrMask()), "CpuModel.parse took more than 5 s");
            assertNotNull(model.cpuid());
        } catch (XsaveException e) {
            String m = e.getMessage();
            if (m == null || m.isBlank()) {
                throw new SeededProperty.Broken("refused without a message", host.name());
            }
            if (m.contains("\n") || m.contains("\r")) {
                throw new SeededProperty.Broken("refused with a message of more than one line (" + (m.contains("\n") ? "LF" : "CR") + ")",
                        "on " + host.name() + ": " + SeededProperty.javaLiteral(m));
            }
        } catch (RuntimeException e) {
            throw new SeededProperty.Broken("CpuModel.parse threw " + e.getClass().getName() + ", not an XsaveException",
                    "on " + host.name() + ": " + e.getMessage());
        }
    }

    /** "host" (or something near it) and up to eight edits: known features in any spelling, near misses, junk. */
    private static String editSpec(Random r) {
        String[] models = {"host", "host", "host", " host ", "HOST", "hos", "", "max", "host+apx"};
        String[] signs = {"+", "+", "-", "-", "", "*", "++", "+-", " +"};
        String[] separators = {",", ",", ",", ", ", ",,", " , "};
        String[] odd = {"apxf", "apx-f", "", "x", "avx512", "sse4_1", "SSE4.2", "apx,", "+", "-"};
        List<String> edits = new ArrayList<>();
        for (int i = r.nextInt(9); i > 0; i--) {
            String name = switch (r.nextInt(5)) {
                case 0, 1 -> NAMES.get(r.nextInt(NAMES.size()));
                case 2 -> NAMES.get(r.nextInt(NAMES.size())).toUpperCase().replace('-', '_');
                case 3 -> odd[r.nextInt(odd.length)];
                default -> randomString(r, "abcdefghijklmnopqrstuvwxyz0123456789-_.", 12);
            };
            edits.add(signs[r.nextInt(signs.length)] + name);
        }
        String model = models[r.nextInt(models.length)];
        String sep = separators[r.nextInt(separators.length)];
        return edits.isEmpty() ? model : model + sep + String.join(sep, edits);
    }

    /** Any characters: controls, non-ASCII, lone surrogates, commas and signs among them. */
    private static String anyString(Random r) {
        return switch (r.nextInt(3)) {
            case 0 -> {
                StringBuilder b = new StringBuilder();
                for (int i = r.nextInt(41); i > 0; i--) {
                    b.append((char) (r.nextBoolean() ? r.nextInt(0x80) : r.nextInt(0x10000)));
                }
                yield b.toString();
            }
            case 1 -> randomString(r, ",+-host apx\t\n\r\u0000\u00e9", 40);
            default -> "host,+" + randomString(r, "apx-,+ \n\r\t\u0085\u2028\u00e9", 20);
        };
    }

    private static String randomString(Random r, String alphabet, int maxLength) {
        StringBuilder b = new StringBuilder();
        for (int i = r.nextInt(maxLength + 1); i > 0; i--) {
            b.append(alphabet.charAt(r.nextInt(alphabet.length())));
        }
        return b.toString();
    }
}

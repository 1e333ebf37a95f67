package io.jkvm.testing;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.SplittableRandom;
import java.util.function.Consumer;
import java.util.function.Function;

/**
 * Property-based fuzz targets on plain JUnit: a property checked on generated inputs, each try's input from the seed
 * (-Djkvm.fuzz.seed, 11 in CI) and the try's number, so any failure replays. Failures are grouped by how the
 * property broke; each group is reported once, with its smallest input after a greedy shrink.
 */
public final class SeededProperty<T> {
    /** The seed of every property; a long run passes a fresh one. */
    public static final long SEED = Long.getLong("jkvm.fuzz.seed", 11);
    /** At most this many extra checks go into shrinking one failure. */
    private static final int SHRINK_BUDGET = 2000;

    private final String name;
    private final Function<Random, T> generator;
    private final Function<T, List<T>> smaller;
    private final Function<T, String> show;

    /**
     * {@code smaller}: candidates a little simpler than an input, tried in order when shrinking; {@code show}: an
     * input as a reproducible string.
     */
    public SeededProperty(String name, Function<Random, T> generator, Function<T, List<T>> smaller, Function<T, String> show) {
        this.name = name;
        this.generator = generator;
        this.smaller = smaller;
        this.show = show;
    }

    /** Tries per property: {@code ciTries}, or -Djkvm.fuzz.tries for a long run. */
    public static int tries(int ciTries) {
        return Integer.getInteger("jkvm.fuzz.tries", ciTries);
    }

    /** Checks {@code property} on {@code tries} inputs; throws an AssertionError naming every way it broke. */
    public void check(int tries, Consumer<T> property) {
        Map<String, String> failures = new LinkedHashMap<>();
        long base = new SplittableRandom(SEED ^ (name.hashCode() * 0x9E3779B97F4A7C15L)).nextLong(); // each property its own inputs
        for (int i = 0; i < tries; i++) {
            T input = generator.apply(new Random(base + i));
            String how = breaks(property, input);
            if (how != null && !failures.containsKey(how)) {
                T small = shrink(property, input, how);
                failures.put(how, "try " + i + ", shrunk to " + show.apply(small) + "\n    " + message(property, small));
            }
        }
        if (!failures.isEmpty()) {
            List<String> lines = new ArrayList<>();
            failures.forEach((how, where) -> lines.add("  " + how + "\n    " + where));
            throw new AssertionError(name + " (seed " + SEED + ", " + tries + " tries) broke " + failures.size()
                    + " way(s):\n" + String.join("\n", lines));
        }
    }

    /** How a property broke: {@code kind} is the same for every input that breaks it the same way. */
    public static final class Broken extends AssertionError {
        private final String kind;

        public Broken(String kind, String detail) {
            super(kind + ": " + detail);
            this.kind = kind;
        }
    }

    /** How the property broke on {@code input} (a Broken's kind, else the exception's type), or null. */
    private static <T> String breaks(Consumer<T> property, T input) {
        try {
            property.accept(input);
            return null;
        } catch (Broken e) {
            return e.kind;
        } catch (AssertionError | RuntimeException e) {
            return e.getClass().getName();
        }
    }

    /** The message {@code input} breaks the property with. */
    private static <T> String message(Consumer<T> property, T input) {
        try {
            property.accept(input);
            return "";
        } catch (AssertionError | RuntimeException e) {
            return String.valueOf(e.getMessage()).lines().findFirst().orElse("");
        }
    }

    private T shrink(Consumer<T> property, T input, String how) {
        T best = input;
        int budget = SHRINK_BUDGET;
        boolean progress = true;
        while (progress && budget > 0) {
            progress = false;
            for (T candidate : smaller.apply(best)) {
                if (--budget <= 0) {
                    break;
                }
                if (how.equals(breaks(property, candidate))) {
                    best = candidate;
                    progress = true;
                    break;
                }
            }
        }
        return best;
    }

    /** Shrink candidates for bytes: cut the tail, drop a chunk, zero a chunk (8 bytes at a time, then single bytes). */
    public static List<byte[]> smallerBytes(byte[] b) {
        List<byte[]> out = new ArrayList<>();
        for (int keep = b.length / 2; keep < b.length; keep += Math.max(1, (b.length - keep) / 2)) {
            out.add(java.util.Arrays.copyOf(b, keep));
        }
        for (int step : new int[]{8, 1}) {
            for (int at = 0; at + step <= b.length; at += step) {
                boolean zero = true;
                for (int k = at; k < at + step; k++) {
                    zero &= b[k] == 0;
                }
                if (!zero) {
                    byte[] z = b.clone();
                    java.util.Arrays.fill(z, at, at + step, (byte) 0);
                    out.add(z);
                }
            }
        }
        return out;
    }

    /** Shrink candidates for strings: drop one character, or replace it with 'a'. */
    public static List<String> smallerStrings(String s) {
        List<String> out = new ArrayList<>();
        for (int i = 0; i < s.length(); i++) {
            out.add(s.substring(0, i) + s.substring(i + 1));
        }
        for (int i = 0; i < s.length(); i++) {
            if (s.charAt(i) != 'a') {
                out.add(s.substring(0, i) + 'a' + s.substring(i + 1));
            }
        }
        return out;
    }

    /** A string with every character outside printable ASCII as a Java escape, so it can be pasted into a test. */
    public static String javaLiteral(String s) {
        StringBuilder b = new StringBuilder("\"");
        s.chars().forEach(c -> b.append(c >= 0x20 && c < 0x7F && c != '"' && c != '\\' ? Character.toString(c) : String.format("\\u%04x", c)));
        return b.append('"').toString();
    }
}

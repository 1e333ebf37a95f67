package io.jkvm.x86;

import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.RecordComponent;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Compares two vCPU state records field by field and names the first field that differs, e.g.
 * {@code specialRegisters.tr.base: 0x7000 vs 0x0}. Every field compares bit for bit; the XSAVE area compares as
 * the architecture defines its content (legacy region, XSTATE_BV, XCOMP_BV, and each component XSTATE_BV marks,
 * wherever the two layouts put it), so two records made on CPUs with different leaf-0xD offsets can be equal.
 * One field is a clock: IA32_TSC counts on while a vCPU moves (and this host's KVM ignores host writes to it, its
 * guests read the host's TSC), so the second record's may be ahead of the first's, never behind.
 */
public final class StateDiff {
    private StateDiff() {
    }

    /** The first difference between {@code a} and a later read {@code b}, or empty when they are the same bit for bit. */
    public static Optional<String> first(VcpuState a, VcpuState b) {
        return diff("", a, b);
    }

    private static Optional<String> diff(String path, Object a, Object b) {
        if (a == null || b == null) {
            return a == b ? Optional.empty() : differs(path, a, b);
        }
        if (a.getClass() != b.getClass()) {
            return differs(path, a.getClass().getSimpleName(), b.getClass().getSimpleName());
        }
        return switch (a) {
            case XsaveArea x -> xsave(path, x, (XsaveArea) b);
            case Record r -> record(path, r, (Record) b);
            case long[] x -> array(path, Arrays.stream(x).boxed().toList(), Arrays.stream((long[]) b).boxed().toList());
            case byte[] x -> bytes(path, x, (byte[]) b);
            case Map<?, ?> m -> map(path, m, (Map<?, ?>) b);
            case List<?> l -> array(path, l, (List<?>) b);
            default -> a.equals(b) ? Optional.empty() : differs(path, a, b);
        };
    }

    private static Optional<String> record(String path, Record a, Record b) {
        if (a.equals(b)) {
            return Optional.empty(); // equals is never looser than this comparison, and far cheaper than reflection
        }
        for (RecordComponent c : a.getClass().getRecordComponents()) {
            Optional<String> d = diff(join(path, c.getName()), read(c, a), read(c, b));
            if (d.isPresent()) {
                return d;
            }
        }
        return Optional.empty();
    }

    private static Object read(RecordComponent c, Record r) {
        try {
            return c.getAccessor().invoke(r);
        } catch (IllegalAccessException | InvocationTargetException e) {
            throw new IllegalStateException("cannot read " + c.getName() + " of " + r.getClass().getSimpleName(), e);
        }
    }

    private static Optional<String> array(String path, List<?> a, List<?> b) {
        if (a.size() != b.size()) {
            return differs(path + ".size", a.size(), b.size());
        }
        for (int i = 0; i < a.size(); i++) {
            Optional<String> d = diff(path + "[" + i + "]", a.get(i), b.get(i));
            if (d.isPresent()) {
                return d;
            }
        }
        return Optional.empty();
    }

    private static Optional<String> map(String path, Map<?, ?> a, Map<?, ?> b) {
        if (!a.keySet().equals(b.keySet())) {
            return Optional.of(path + " keys: " + keys(a) + " vs " + keys(b));
        }
        for (Map.Entry<?, ?> e : a.entrySet()) {
            String at = path + "[" + format(e.getKey()) + "]";
            if (path.equals("msrs") && e.getKey().equals(Msrs.IA32_TSC)) {
                long saved = (Long) e.getValue();
                long readBack = (Long) b.get(e.getKey());
                if (Long.compareUnsigned(readBack, saved) < 0) {
                    return Optional.of(at + " (IA32_TSC) went back: " + format(saved) + " vs " + format(readBack));
                }
                continue;
            }
            Optional<String> d = diff(at, e.getValue(), b.get(e.getKey()));
            if (d.isPresent()) {
                return d;
            }
        }
        return Optional.empty();
    }

    private static String keys(Map<?, ?> m) {
        List<String> k = new ArrayList<>();
        for (Object o : m.keySet()) {
            k.add(format(o));
        }
        return k.toString();
    }

    private static Optional<String> bytes(String path, byte[] a, byte[] b) {
        int at = Arrays.mismatch(a, b);
        if (at < 0) {
            return Optional.empty();
        }
        if (at >= a.length || at >= b.length) {
            return differs(path + ".length", a.length, b.length);
        }
        return differs(path + "[" + at + "]", a[at] & 0xFF, b[at] & 0xFF);
    }

    /** Legacy region byte by byte (named by field), then the header, then each component in use. */
    private static Optional<String> xsave(String path, XsaveArea a, XsaveArea b) {
        byte[] x = a.toBytes();
        byte[] y = b.toBytes();
        int at = Arrays.mismatch(x, 0, XsaveLayout.LEGACY_SIZE, y, 0, XsaveLayout.LEGACY_SIZE);
        if (at >= 0) {
            return differs(path + "." + legacyField(at) + " (byte " + at + ")", x[at] & 0xFF, y[at] & 0xFF);
        }
        if (a.xstateBv() != b.xstateBv()) {
            return differs(path + ".XSTATE_BV", a.xstateBv(), b.xstateBv());
        }
        if (a.xcompBv() != b.xcompBv()) {
            return differs(path + ".XCOMP_BV", a.xcompBv(), b.xcompBv());
        }
        for (int i = 2; i < 63; i++) {
            if (a.present(i)) {
                Optional<String> d = bytes(path + ".component " + i + " (" + XsaveComponent.nameOf(i) + ")",
                        a.component(i), b.component(i));
                if (d.isPresent()) {
                    return d;
                }
            }
        }
        return Optional.empty();
    }

    /** The FXSAVE-format field holding legacy-region byte {@code at}. */
    static String legacyField(int at) {
        if (at >= XsaveArea.XMM0 && at < XsaveArea.XMM0 + 256) {
            return "XMM" + (at - XsaveArea.XMM0) / 16;
        }
        if (at >= XsaveArea.ST0 && at < XsaveArea.ST0 + 128) {
            return "ST" + (at - XsaveArea.ST0) / 16;
        }
        if (at >= 416) {
            return "reserved";
        }
        return switch (at) {
            case 0, 1 -> "FCW";
            case 2, 3 -> "FSW";
            case 4 -> "FTW";
            case 5 -> "reserved";
            case 6, 7 -> "FOP";
            case 8, 9, 10, 11, 12, 13, 14, 15 -> "FIP";
            case 16, 17, 18, 19, 20, 21, 22, 23 -> "FDP";
            case 24, 25, 26, 27 -> "MXCSR";
            default -> "MXCSR_MASK";
        };
    }

    private static String join(String path, String name) {
        return path.isEmpty() ? name : path + "." + name;
    }

    private static Optional<String> differs(String path, Object a, Object b) {
        return Optional.of(path + ": " + format(a) + " vs " + format(b));
    }

    private static String format(Object o) {
        return switch (o) {
            case Long l -> "0x" + Long.toHexString(l);
            case Integer i -> "0x" + Integer.toHexString(i);
            case null -> "absent";
            default -> o.toString();
        };
    }
}

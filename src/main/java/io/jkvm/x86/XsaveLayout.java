package io.jkvm.x86;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The XSAVE layout a CPUID table enumerates in leaf 0xD: for each component i >= 2 its size (EAX) and
 * standard-format offset (EBX) from sub-leaf i, and from ECX whether it is a supervisor component (bit 0),
 * 64-byte aligned in the compacted format (bit 1) and subject to IA32_XFD (bit 2). Offsets are not ascending by
 * component number (APX at 960 sits below AVX-512's 1152 on real parts), and none is a constant here.
 */
public record XsaveLayout(long userMask, long supervisorMask, List<Component> components) {

    /** One component: number, size, standard-format offset (0 for supervisor components, which have none), flags. */
    public record Component(int number, int size, int offset, boolean supervisor, boolean aligned64, boolean xfd) {
        public String name() {
            return XsaveComponent.nameOf(number);
        }

        public long mask() {
            return 1L << number;
        }
    }

    /** Legacy region (x87 and SSE) and the XSAVE header come first in both formats. */
    public static final int LEGACY_SIZE = 512;
    public static final int HEADER_SIZE = 64;
    public static final int HEADER_END = LEGACY_SIZE + HEADER_SIZE;

    public XsaveLayout {
        components = List.copyOf(components);
    }

    public static XsaveLayout fromCpuid(CpuidTable cpuid) {
        long user = cpuid.supportedXcr0() | 0x3;
        long supervisor = cpuid.supportedXss();
        List<Component> list = new ArrayList<>();
        list.add(new Component(0, 160, 0, false, false, false));
        list.add(new Component(1, 256, 160, false, false, false));
        for (int i = 2; i < 63; i++) {
            if (((user | supervisor) & (1L << i)) == 0) {
                continue;
            }
            CpuidEntry e = cpuid.leaf(0xD, i);
            list.add(new Component(i, e.eax(), e.ebx(), (e.ecx() & 1) != 0, (e.ecx() & 2) != 0, (e.ecx() & 4) != 0));
        }
        return new XsaveLayout(user, supervisor, list);
    }

    public Optional<Component> component(int number) {
        return components.stream().filter(c -> c.number() == number).findFirst();
    }

    public boolean has(int number) {
        return component(number).isPresent();
    }

    /** The component, or an error naming it: a buffer asked about a component its layout does not have. */
    public Component require(int number) {
        return component(number).orElseThrow(() -> new XsaveException("the XSAVE layout has no component " + number
                + " (" + XsaveComponent.nameOf(number) + "): its CPUID leaf 0xD does not enumerate it"));
    }

    /** Standard-format offset of a user component. */
    public int offset(int number) {
        return require(number).offset();
    }

    /** Size of a standard-format buffer holding every user component: the largest offset + size, not the last one's. */
    public int standardSize() {
        return standardSize(userMask);
    }

    /** Size of a standard-format buffer holding the user components in {@code mask}. */
    public int standardSize(long mask) {
        int end = HEADER_END;
        for (Component c : components) {
            if (c.number() >= 2 && !c.supervisor() && (mask & c.mask()) != 0) {
                end = Math.max(end, c.offset() + c.size());
            }
        }
        return end;
    }

    /**
     * Offsets in the compacted format for the components in {@code xcompBv} (bit 63, the format bit, ignored):
     * in component order from 576, each after the one before, rounded up to 64 where the component asks for it.
     */
    public Map<Integer, Integer> compactedOffsets(long xcompBv) {
        Map<Integer, Integer> out = new LinkedHashMap<>();
        out.put(0, 0);
        out.put(1, 160);
        int next = HEADER_END;
        for (int i = 2; i < 63; i++) {
            if ((xcompBv & (1L << i)) == 0) {
                continue;
            }
            Component c = require(i);
            if (c.aligned64()) {
                next = (next + 63) & ~63;
            }
            out.put(i, next);
            next += c.size();
        }
        return out;
    }

    public int compactedSize(long xcompBv) {
        int end = HEADER_END;
        for (Map.Entry<Integer, Integer> e : compactedOffsets(xcompBv).entrySet()) {
            if (e.getKey() >= 2) {
                end = Math.max(end, e.getValue() + require(e.getKey()).size());
            }
        }
        return end;
    }
}

package io.jkvm.x86;

import java.util.ArrayList;
import java.util.List;

/**
 * The standard-format XSAVE layout a CPUID table enumerates in leaf 0xD: for each enabled component i >= 2,
 * its size (EAX) and offset (EBX) from sub-leaf i. Nothing here is a constant: it is all read from CPUID.
 */
public record XsaveLayout(long supportedMask, List<Component> components) {

    /** One component's place in the standard format, and its ECX flags (supervisor, 64-byte aligned, XFD). */
    public record Component(int number, int size, int offset, boolean supervisor, boolean aligned64, boolean xfd) {
        public String name() {
            return XsaveComponent.nameOf(number);
        }
    }

    /** Legacy region (512) and header (64) come first; components 0 and 1 live in the legacy region. */
    public static final int LEGACY_SIZE = 512;
    public static final int HEADER_SIZE = 64;

    public XsaveLayout {
        components = List.copyOf(components);
    }

    public static XsaveLayout fromCpuid(CpuidTable cpuid) {
        long mask = cpuid.supportedXcr0();
        List<Component> list = new ArrayList<>();
        list.add(new Component(0, 160, 0, false, false, false));
        list.add(new Component(1, 256, 160, false, false, false));
        for (int i = 2; i < 64; i++) {
            if ((mask & (1L << i)) == 0) {
                continue;
            }
            CpuidEntry e = cpuid.leaf(0xD, i);
            list.add(new Component(i, e.eax(), e.ebx(), (e.ecx() & 1) != 0, (e.ecx() & 2) != 0, (e.ecx() & 4) != 0));
        }
        return new XsaveLayout(mask, list);
    }

    /** Size of a standard-format buffer holding every enabled component: the largest offset + size, not the last one's. */
    public int standardSize() {
        int end = LEGACY_SIZE + HEADER_SIZE;
        for (Component c : components) {
            if (c.number() >= 2) {
                end = Math.max(end, c.offset() + c.size());
            }
        }
        return end;
    }

    public java.util.Optional<Component> component(int number) {
        return components.stream().filter(c -> c.number() == number).findFirst();
    }
}

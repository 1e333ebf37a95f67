package io.jkvm.x86;

import java.util.ArrayList;
import java.util.List;

/**
 * A guest CPU: a CPUID table built from what the host's KVM supports and edited in QEMU's syntax
 * ({@code host,+apx,-avx512f}), and the MXCSR_MASK its FXSAVE/XSAVE report (the MXCSR bits LDMXCSR, FXRSTOR and
 * XRSTOR accept): no CPUID leaf gives it, so it is the host's for {@code host} and the fixture's for a fixture.
 * Adding or removing a feature that owns XSAVE components adds or removes them in leaf 0xD and recomputes the sizes.
 */
public record CpuModel(String spec, CpuidTable cpuid, int mxcsrMask) {
    /** MXCSR_MASK of every current Intel part: all of bits 15:0 (DAZ included), nothing above. */
    public static final int INTEL_MXCSR_MASK = 0xFFFF;
    /** MXCSR bit 17, MM: AMD's misaligned-SSE exception mask, where CPUID.80000001H:ECX[7] (MisAlignSse) is set. */
    public static final int MXCSR_MM = 1 << 17;
    /** MXCSR_MASK of AMD parts with MisAlignSse (Zen): Intel's bits and MM. */
    public static final int AMD_MXCSR_MASK = INTEL_MXCSR_MASK | MXCSR_MM;

    public CpuModel {
        if ((mxcsrMask & 0xFFBF) != 0xFFBF) {
            throw new XsaveException(String.format("MXCSR_MASK 0x%X lacks MXCSR bits every SSE processor has (0xFFBF)", mxcsrMask));
        }
    }

    /**
     * Refuses an MXCSR value (from a state record) that sets a bit {@code mask} lacks, naming the first such bit,
     * before anything is loaded: the CPU would raise #GP on it, KVM_SET_XSAVE answers EINVAL.
     */
    public static void requireMxcsrFits(int mxcsr, int mask) {
        int extra = mxcsr & ~mask;
        if (extra != 0) {
            int bit = Integer.numberOfTrailingZeros(extra);
            String name = bit == 17 ? "MM, AMD's misaligned-SSE mask" : bit == 6 ? "DAZ" : "reserved";
            throw new XsaveException(String.format("the saved MXCSR 0x%X sets bit %d (%s), which this CPU model's MXCSR_MASK 0x%X"
                    + " lacks: restore it where the CPU model has that bit (%s)", mxcsr, bit, name, mask,
                    bit == 17 ? "an AMD host or model" : "a model whose MXCSR_MASK has it"));
        }
    }

    /** {@code text} with control characters shown as '?', for quoting a user's CPU model in a one-line message. */
    public static String printable(String text) {
        return text.codePoints().map(c -> Character.isISOControl(c) ? '?' : c)
                .collect(StringBuilder::new, StringBuilder::appendCodePoint, StringBuilder::append).toString();
    }

    public Vendor vendor() {
        return Vendor.of(cpuid);
    }
    /** Where APX state lives on real parts: the old MPX bounds-register area. */
    static final int APX_PREFERRED_OFFSET = 960;
    /** PKRU, XSAVE component 9: 8 bytes at 2688 in the standard format on Intel and AMD parts alike. */
    static final int PKRU_COMPONENT = 9, PKRU_STANDARD_OFFSET = 2688;
    /** CPUID.(0x29,0).EBX[0]: APX_NCI_NDD_NF, the sub-feature bit real APX parts set. */
    static final int APX_NCI_NDD_NF = 1;

    public XsaveLayout layout() {
        return XsaveLayout.fromCpuid(cpuid);
    }

    public boolean has(CpuFeature f) {
        return cpuid.has(f);
    }

    /**
     * Parses "host" followed by ",+feature" / ",-feature" edits against the host's supported CPUID; the model has
     * the host's MXCSR_MASK.
     */
    public static CpuModel parse(String spec, CpuidTable host, int hostMxcsrMask) {
        if (spec.chars().anyMatch(Character::isISOControl)) {
            throw new XsaveException("the CPU model has a control character in it: write it as host,+feature,-feature");
        }
        String[] parts = spec.strip().split(",", -1);
        if (parts[0].isBlank()) {
            throw new XsaveException("no CPU model named: use 'host' or 'core', with +feature/-feature edits, e.g. host,+apx");
        }
        if (!parts[0].strip().equals("host")) {
            throw new XsaveException("unknown CPU model '" + parts[0].strip() + "': use 'host' or 'core', with +feature/-feature edits, e.g. host,+apx");
        }
        CpuidTable table = host;
        for (int i = 1; i < parts.length; i++) {
            String edit = parts[i].strip();
            if (edit.startsWith("vendor=")) { // the vendor string, and with it the manual the software core follows
                table = table.withVendor(edit.substring("vendor=".length()));
                continue;
            }
            if (edit.length() < 2 || (edit.charAt(0) != '+' && edit.charAt(0) != '-')) {
                throw new XsaveException("CPU model edit '" + edit + "' must be +feature, -feature or vendor=ID, e.g. host,+apx,-avx512f");
            }
            String name = edit.substring(1);
            CpuFeature f = CpuFeature.byName(name).orElseThrow(() -> new XsaveException("unknown CPU feature '" + name
                    + "': known features are " + CpuFeature.knownNames()));
            table = edit.charAt(0) == '+' ? add(table, f) : remove(table, f);
        }
        return new CpuModel(spec.strip(), table, hostMxcsrMask);
    }

    /** This model without {@code features}, each removed as "-feature" removes it (with its XSAVE state). */
    public CpuModel without(List<CpuFeature> features) {
        CpuidTable table = cpuid;
        for (CpuFeature f : features) {
            table = remove(table, f);
        }
        return new CpuModel(spec, table, mxcsrMask);
    }

    /** This model without the user XSAVE components in {@code components} (XCR0 bits), their leaf 0xD sub-leaves gone. */
    public CpuModel withoutXsaveComponents(long components) {
        long present = components & cpuid.supportedXcr0();
        return present == 0 ? this : new CpuModel(spec, removeXsaveComponents(cpuid, present), mxcsrMask);
    }

    /** This model with another CPUID table (the same model as one vCPU sees it, e.g. with its own APIC ID). */
    public CpuModel withCpuid(CpuidTable table) {
        return new CpuModel(spec, table, mxcsrMask);
    }

    static CpuidTable add(CpuidTable t, CpuFeature f) {
        t = raiseMaxLeaf(t.withFeature(f, true), f.leaf()); // a leaf past the highest one is one no guest reads
        if (f == CpuFeature.APX) {
            t = t.withFeature(CpuFeature.XSAVE, true); // R16-R31 are enabled through XCR0: APX needs XSAVE
            t = remove(t, CpuFeature.MPX); // APX reuses MPX's state area: they are never exposed together
            t = addXsaveComponent(t, ApxState.COMPONENT, ApxState.SIZE, APX_PREFERRED_OFFSET);
            t = t.with(new CpuidEntry(0x29, 0, CpuidEntry.FLAG_SIGNIFICANT_INDEX, 0, APX_NCI_NDD_NF, 0, 0));
            t = raiseMaxLeaf(t, 0x29);
        } else if (f == CpuFeature.PKU) {
            t = addXsaveComponent(t, PKRU_COMPONENT, 8, PKRU_STANDARD_OFFSET); // where Intel and AMD parts put it
        } else if (f.xsaveMask() != 0) {
            long missing = f.xsaveMask() & ~t.supportedXcr0();
            if (missing != 0) {
                throw new XsaveException("+" + f.qemuName() + " needs XSAVE state (" + XsaveComponent.nameOf(Long.numberOfTrailingZeros(missing))
                        + ") whose size and offset the host's CPUID does not give: only APX and PKU can be added to a host without it");
            }
        }
        return t;
    }

    static CpuidTable remove(CpuidTable t, CpuFeature f) {
        t = t.withFeature(f, false);
        long components = f.xsaveMask() & t.supportedXcr0();
        if (components != 0) {
            t = removeXsaveComponents(t, components);
        }
        if (f == CpuFeature.APX) {
            t = t.without(0x29, 0);
        }
        return t;
    }

    /** Defines sub-leaf {@code number} (at {@code preferred} when that range is free, else past the end) and enables it in XCR0. */
    private static CpuidTable addXsaveComponent(CpuidTable t, int number, int size, int preferred) {
        XsaveLayout before = XsaveLayout.fromCpuid(t);
        if (!before.has(number)) {
            boolean free = before.components().stream().filter(c -> c.number() >= 2 && !c.supervisor())
                    .noneMatch(c -> c.offset() < preferred + size && preferred < c.offset() + c.size());
            int offset = free ? preferred : (before.standardSize() + 63) & ~63;
            t = t.with(new CpuidEntry(0xD, number, CpuidEntry.FLAG_SIGNIFICANT_INDEX, size, offset, 0, 0));
        }
        return withXcr0Mask(t, t.supportedXcr0() | (1L << number));
    }

    private static CpuidTable removeXsaveComponents(CpuidTable t, long components) {
        for (int i = 2; i < 63; i++) {
            if ((components & (1L << i)) != 0) {
                t = t.without(0xD, i);
            }
        }
        return withXcr0Mask(t, t.supportedXcr0() & ~components);
    }

    /** Sets CPUID.(0xD,0) EDX:EAX to {@code mask} and EBX/ECX to the standard size it needs. */
    private static CpuidTable withXcr0Mask(CpuidTable t, long mask) {
        CpuidEntry d = t.leaf(0xD, 0);
        CpuidTable masked = t.with(new CpuidEntry(0xD, 0, CpuidEntry.FLAG_SIGNIFICANT_INDEX, (int) mask, d.ebx(), d.ecx(), (int) (mask >>> 32)));
        int size = XsaveLayout.fromCpuid(masked).standardSize();
        return masked.with(new CpuidEntry(0xD, 0, CpuidEntry.FLAG_SIGNIFICANT_INDEX, (int) mask, size, size, (int) (mask >>> 32)));
    }

    /**
     * {@code t} with the highest leaf of {@code leaf}'s range (leaf 0's EAX, or 0x80000000's) at least {@code leaf};
     * the hypervisor's range is left as it is.
     */
    private static CpuidTable raiseMaxLeaf(CpuidTable t, int leaf) {
        int range = leaf & 0xF000_0000;
        if (range != 0 && range != 0x8000_0000) {
            return t;
        }
        CpuidEntry first = t.leaf(range, 0);
        if (Integer.compareUnsigned(first.eax(), leaf) >= 0) {
            return t;
        }
        return t.with(new CpuidEntry(range, 0, first.flags(), leaf, first.ebx(), first.ecx(), first.edx()));
    }

    /** The features of this model the host's table lacks, for "the host cannot run it on KVM" messages. */
    public List<CpuFeature> missingOn(CpuidTable host) {
        List<CpuFeature> missing = new ArrayList<>();
        long xsaveOnlyHere = cpuid.supportedXcr0() & ~host.supportedXcr0(); // once: each launch runs this interpreted
        for (CpuFeature f : CpuFeature.values()) {
            if (cpuid.has(f) && (!host.has(f) || (f.xsaveMask() & xsaveOnlyHere) != 0)) {
                missing.add(f);
            }
        }
        return missing;
    }
}

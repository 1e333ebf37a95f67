package io.jkvm.x86;

import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Optional;

/** A CPUID table (host-supported or a guest model), looked up the way a CPU answers the instruction. */
public record CpuidTable(List<CpuidEntry> entries) {

    public CpuidTable {
        entries = List.copyOf(entries);
    }

    /** The entry for {@code function}/{@code index}; the index is ignored for functions that are not indexed. */
    public Optional<CpuidEntry> find(int function, int index) {
        for (CpuidEntry e : entries) {
            if (e.function() == function && (!e.indexed() || e.index() == index)) {
                return Optional.of(e);
            }
        }
        return Optional.empty();
    }

    /** EAX..EDX for a leaf, zeros where the table has no such leaf. */
    public CpuidEntry leaf(int function, int index) {
        Optional<CpuidEntry> e = find(function, index);
        return e.isPresent() ? e.get() : new CpuidEntry(function, index, 0, 0, 0, 0, 0);
    }

    /** The 12-character vendor string of leaf 0 (EBX, EDX, ECX). */
    public String vendor() {
        CpuidEntry e = leaf(0, 0);
        byte[] b = new byte[12];
        int[] words = {e.ebx(), e.edx(), e.ecx()};
        for (int w = 0; w < 3; w++) {
            for (int i = 0; i < 4; i++) {
                b[w * 4 + i] = (byte) (words[w] >>> (8 * i));
            }
        }
        return new String(b, StandardCharsets.US_ASCII);
    }

    /** Whether {@code leaf} is in the hypervisor range (0x40000000 up to what that first leaf's EAX says) this table has. */
    public boolean hasHypervisorLeaf(int leaf) {
        if ((leaf & 0xF000_0000) != 0x4000_0000) {
            return false;
        }
        int max = leaf(0x4000_0000, 0).eax();
        return max != 0 && Integer.compareUnsigned(leaf, max) <= 0 && Integer.compareUnsigned(max, 0x4000_0000) >= 0;
    }

    /**
     * This table with the vendor string {@code id} (12 ASCII characters) in leaf 0, and in leaf 0x80000000 where AMD
     * repeats it; the rest as it is (QEMU's {@code -cpu ...,vendor=}).
     */
    public CpuidTable withVendor(String id) {
        byte[] b = id.getBytes(java.nio.charset.StandardCharsets.US_ASCII);
        if (b.length != 12 || id.chars().anyMatch(c -> c < 0x20 || c > 0x7E)) {
            throw new XsaveException("a CPU vendor is 12 ASCII characters, as AuthenticAMD or GenuineIntel: not '" + id + "'");
        }
        java.nio.ByteBuffer v = java.nio.ByteBuffer.wrap(b).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        int ebx = v.getInt(0), edx = v.getInt(4), ecx = v.getInt(8);
        CpuidEntry zero = leaf(0, 0);
        CpuidTable t = with(new CpuidEntry(zero.function(), zero.index(), zero.flags(), zero.eax(), ebx, ecx, edx));
        var ext = t.find(0x8000_0000, 0);
        if (ext.isPresent()) {
            CpuidEntry e = ext.get();
            boolean amdLike = Vendor.of(id).followsApm();
            t = t.with(new CpuidEntry(e.function(), e.index(), e.flags(), e.eax(), amdLike ? ebx : 0, amdLike ? ecx : 0, amdLike ? edx : 0));
        }
        return t;
    }

    /** A copy with {@code entry} replacing the entry of the same function/index, or added. */
    public CpuidTable with(CpuidEntry entry) {
        List<CpuidEntry> out = new java.util.ArrayList<>();
        boolean replaced = false;
        for (CpuidEntry e : entries) {
            if (e.function() == entry.function() && (!e.indexed() || e.index() == entry.index())) {
                if (!replaced) {
                    out.add(entry);
                    replaced = true;
                }
            } else {
                out.add(e);
            }
        }
        if (!replaced) {
            out.add(entry);
        }
        return new CpuidTable(out);
    }

    /** A copy without the entry for function/index. */
    public CpuidTable without(int function, int index) {
        return new CpuidTable(entries.stream()
                .filter(e -> !(e.function() == function && (!e.indexed() || e.index() == index))).toList());
    }

    public boolean has(CpuFeature f) {
        return (register(leaf(f.leaf(), f.subleaf()), f.register()) & (1 << f.bit())) != 0;
    }

    /** A copy with the feature's bit set or cleared (the leaf is created when absent). */
    public CpuidTable withFeature(CpuFeature f, boolean on) {
        CpuidEntry e = find(f.leaf(), f.subleaf()).orElse(new CpuidEntry(f.leaf(), f.subleaf(),
                f.subleaf() != 0 || f.leaf() == 7 || f.leaf() == 0xD ? CpuidEntry.FLAG_SIGNIFICANT_INDEX : 0, 0, 0, 0, 0));
        int value = register(e, f.register());
        value = on ? value | (1 << f.bit()) : value & ~(1 << f.bit());
        return with(withRegister(e, f.register(), value));
    }

    /** The value of output register {@code r} in {@code e}. */
    public static int register(CpuidEntry e, CpuFeature.Reg r) {
        return switch (r) {
            case EAX -> e.eax();
            case EBX -> e.ebx();
            case ECX -> e.ecx();
            case EDX -> e.edx();
        };
    }

    /** {@code e} with output register {@code r} set to {@code v}. */
    public static CpuidEntry withRegister(CpuidEntry e, CpuFeature.Reg r, int v) {
        return switch (r) {
            case EAX -> new CpuidEntry(e.function(), e.index(), e.flags(), v, e.ebx(), e.ecx(), e.edx());
            case EBX -> new CpuidEntry(e.function(), e.index(), e.flags(), e.eax(), v, e.ecx(), e.edx());
            case ECX -> new CpuidEntry(e.function(), e.index(), e.flags(), e.eax(), e.ebx(), v, e.edx());
            case EDX -> new CpuidEntry(e.function(), e.index(), e.flags(), e.eax(), e.ebx(), e.ecx(), v);
        };
    }

    /**
     * This table as vCPU {@code id} sees it: CPUID leaf 1 EBX[31:24] is the initial APIC ID and leaves 0xB and 0x1F
     * EDX the x2APIC ID (KVM's supported table has there whatever the host CPU that answered had).
     */
    public CpuidTable withApicId(int id) {
        List<CpuidEntry> out = new java.util.ArrayList<>();
        for (CpuidEntry e : entries) {
            if (e.function() == 1) {
                e = new CpuidEntry(1, e.index(), e.flags(), e.eax(), (e.ebx() & 0x00FF_FFFF) | (id << 24), e.ecx(), e.edx());
            } else if (e.function() == 0xB || e.function() == 0x1F) {
                e = new CpuidEntry(e.function(), e.index(), e.flags(), e.eax(), e.ebx(), e.ecx(), id);
            }
            out.add(e);
        }
        return new CpuidTable(out);
    }

    public boolean hasXsave() {
        return (leaf(1, 0).ecx() & (1 << 26)) != 0;
    }

    /** APX_F: CPUID.(EAX=7,ECX=1):EDX[21]. */
    public boolean hasApx() {
        return has(CpuFeature.APX);
    }

    /** The IA32_XSS (supervisor) bits this table enumerates: CPUID.(0xD,1) EDX:ECX. */
    public long supportedXss() {
        CpuidEntry e = leaf(0xD, 1);
        return (Integer.toUnsignedLong(e.edx()) << 32) | Integer.toUnsignedLong(e.ecx());
    }

    /** The XCR0 bits this table enumerates: CPUID.(0xD,0) EDX:EAX. */
    public long supportedXcr0() {
        CpuidEntry e = leaf(0xD, 0);
        return (Integer.toUnsignedLong(e.edx()) << 32) | Integer.toUnsignedLong(e.eax());
    }
}

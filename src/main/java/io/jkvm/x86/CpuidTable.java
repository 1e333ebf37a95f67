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
        return find(function, index).orElse(new CpuidEntry(function, index, 0, 0, 0, 0, 0));
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

    public boolean hasXsave() {
        return (leaf(1, 0).ecx() & (1 << 26)) != 0;
    }

    /** APX_F: CPUID.(EAX=7,ECX=1):EDX[21]. */
    public boolean hasApx() {
        return (leaf(7, 1).edx() & (1 << 21)) != 0;
    }

    /** The XCR0 bits this table enumerates: CPUID.(0xD,0) EDX:EAX. */
    public long supportedXcr0() {
        CpuidEntry e = leaf(0xD, 0);
        return (Integer.toUnsignedLong(e.edx()) << 32) | Integer.toUnsignedLong(e.eax());
    }
}

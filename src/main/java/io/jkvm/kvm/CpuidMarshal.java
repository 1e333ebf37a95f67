package io.jkvm.kvm;

import io.jkvm.x86.CpuidEntry;
import io.jkvm.x86.CpuidTable;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;

/**
 * kvm_cpuid2 with its trailing kvm_cpuid_entry2 array, to and from {@link CpuidTable}, at the offsets of jextract's
 * {@code kvm_cpuid2} and {@code kvm_cpuid_entry2} held as constants: initializing those classes spins an indexed var
 * handle for the entry's padding (some 35 ms of CPU at every launch, which reads KVM's supported CPUID).
 * CpuidMarshalTest holds each constant to the generated layout.
 */
final class CpuidMarshal {
    /** kvm_cpuid2's size up to its entries (nent and the padding after it). */
    static final long HEADER = 8;
    /** kvm_cpuid_entry2's size. */
    static final long ENTRY = 40;
    static final long NENT = 0;
    static final long FUNCTION = 0;
    static final long INDEX = 4;
    static final long FLAGS = 8;
    static final long EAX = 12;
    static final long EBX = 16;
    static final long ECX = 20;
    static final long EDX = 24;

    private static final ValueLayout.OfInt U32 = ValueLayout.JAVA_INT;

    private CpuidMarshal() {
    }

    static MemorySegment allocate(Arena arena, int capacity) {
        MemorySegment s = arena.allocate(HEADER + ENTRY * capacity, 8);
        s.set(U32, NENT, capacity);
        return s;
    }

    static CpuidTable read(MemorySegment cpuid) {
        int n = cpuid.get(U32, NENT);
        List<CpuidEntry> entries = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            long e = HEADER + ENTRY * i;
            entries.add(new CpuidEntry(cpuid.get(U32, e + FUNCTION), cpuid.get(U32, e + INDEX), cpuid.get(U32, e + FLAGS),
                    cpuid.get(U32, e + EAX), cpuid.get(U32, e + EBX), cpuid.get(U32, e + ECX), cpuid.get(U32, e + EDX)));
        }
        return new CpuidTable(entries);
    }

    static MemorySegment write(Arena arena, CpuidTable table) {
        List<CpuidEntry> entries = table.entries();
        MemorySegment s = allocate(arena, entries.size());
        for (int i = 0; i < entries.size(); i++) {
            CpuidEntry c = entries.get(i);
            long e = HEADER + ENTRY * i;
            s.set(U32, e + FUNCTION, c.function());
            s.set(U32, e + INDEX, c.index());
            s.set(U32, e + FLAGS, c.flags());
            s.set(U32, e + EAX, c.eax());
            s.set(U32, e + EBX, c.ebx());
            s.set(U32, e + ECX, c.ecx());
            s.set(U32, e + EDX, c.edx());
        }
        return s;
    }
}

package io.jkvm.kvm;

import io.jkvm.linux.uapi.kvm_cpuid2;
import io.jkvm.linux.uapi.kvm_cpuid_entry2;
import io.jkvm.x86.CpuidEntry;
import io.jkvm.x86.CpuidTable;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;

/** kvm_cpuid2 with its trailing kvm_cpuid_entry2 array, to and from {@link CpuidTable}. */
final class CpuidMarshal {
    private CpuidMarshal() {
    }

    static MemorySegment allocate(Arena arena, int capacity) {
        MemorySegment s = arena.allocate(kvm_cpuid2.sizeof() + kvm_cpuid_entry2.sizeof() * capacity, 8);
        kvm_cpuid2.nent(s, capacity);
        return s;
    }

    static CpuidTable read(MemorySegment cpuid) {
        int n = kvm_cpuid2.nent(cpuid);
        List<CpuidEntry> entries = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            MemorySegment e = entry(cpuid, i);
            entries.add(new CpuidEntry(kvm_cpuid_entry2.function(e), kvm_cpuid_entry2.index(e), kvm_cpuid_entry2.flags(e),
                    kvm_cpuid_entry2.eax(e), kvm_cpuid_entry2.ebx(e), kvm_cpuid_entry2.ecx(e), kvm_cpuid_entry2.edx(e)));
        }
        return new CpuidTable(entries);
    }

    static MemorySegment write(Arena arena, CpuidTable table) {
        List<CpuidEntry> entries = table.entries();
        MemorySegment s = allocate(arena, entries.size());
        for (int i = 0; i < entries.size(); i++) {
            CpuidEntry c = entries.get(i);
            MemorySegment e = entry(s, i);
            kvm_cpuid_entry2.function(e, c.function());
            kvm_cpuid_entry2.index(e, c.index());
            kvm_cpuid_entry2.flags(e, c.flags());
            kvm_cpuid_entry2.eax(e, c.eax());
            kvm_cpuid_entry2.ebx(e, c.ebx());
            kvm_cpuid_entry2.ecx(e, c.ecx());
            kvm_cpuid_entry2.edx(e, c.edx());
        }
        return s;
    }

    private static MemorySegment entry(MemorySegment cpuid, int i) {
        return cpuid.asSlice(kvm_cpuid2.entries$offset() + kvm_cpuid_entry2.sizeof() * i, kvm_cpuid_entry2.layout());
    }
}

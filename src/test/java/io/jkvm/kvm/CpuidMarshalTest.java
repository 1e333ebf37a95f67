package io.jkvm.kvm;

import io.jkvm.linux.uapi.kvm_cpuid2;
import io.jkvm.linux.uapi.kvm_cpuid_entry2;
import io.jkvm.x86.CpuidEntry;
import io.jkvm.x86.CpuidTable;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;

class CpuidMarshalTest {

    @Test
    void aTableWrittenAsKvmCpuid2ReadsBackEntryForEntry() {
        CpuidTable table = new CpuidTable(List.of(
                new CpuidEntry(0, 0, 0, 0x1C, 0x68747541, 0x444D4163, 0x69746E65),
                new CpuidEntry(0xD, 19, 1, 128, 960, 0, 0),
                new CpuidEntry(0x80000001, 0, 0, -1, Integer.MIN_VALUE, 0x12345678, 0x7FFFFFFF)));
        try (Arena arena = Arena.ofConfined()) {
            assertEquals(table, CpuidMarshal.read(CpuidMarshal.write(arena, table)), "each field at its offset, in order");
        }
    }

    @Test
    void theOffsetsAreJextractsLayout() {
        assertEquals(kvm_cpuid2.entries$offset(), CpuidMarshal.HEADER, "entries");
        assertEquals(kvm_cpuid2.nent$offset(), CpuidMarshal.NENT, "nent");
        assertEquals(kvm_cpuid_entry2.sizeof(), CpuidMarshal.ENTRY, "sizeof(kvm_cpuid_entry2)");
        assertEquals(kvm_cpuid_entry2.function$offset(), CpuidMarshal.FUNCTION, "function");
        assertEquals(kvm_cpuid_entry2.index$offset(), CpuidMarshal.INDEX, "index");
        assertEquals(kvm_cpuid_entry2.flags$offset(), CpuidMarshal.FLAGS, "flags");
        assertEquals(kvm_cpuid_entry2.eax$offset(), CpuidMarshal.EAX, "eax");
        assertEquals(kvm_cpuid_entry2.ebx$offset(), CpuidMarshal.EBX, "ebx");
        assertEquals(kvm_cpuid_entry2.ecx$offset(), CpuidMarshal.ECX, "ecx");
        assertEquals(kvm_cpuid_entry2.edx$offset(), CpuidMarshal.EDX, "edx");
    }

    @Test
    void aWrittenTableIsWhatJextractsAccessorsRead() {
        CpuidTable table = new CpuidTable(List.of(new CpuidEntry(1, 2, 3, 4, 5, 6, 7), new CpuidEntry(8, 9, 10, 11, 12, 13, 14)));
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment s = CpuidMarshal.write(arena, table);
            assertEquals(2, kvm_cpuid2.nent(s));
            for (int i = 0; i < 2; i++) {
                MemorySegment e = s.asSlice(kvm_cpuid2.entries$offset() + kvm_cpuid_entry2.sizeof() * i, kvm_cpuid_entry2.layout());
                CpuidEntry c = table.entries().get(i);
                assertEquals(c, new CpuidEntry(kvm_cpuid_entry2.function(e), kvm_cpuid_entry2.index(e), kvm_cpuid_entry2.flags(e),
                        kvm_cpuid_entry2.eax(e), kvm_cpuid_entry2.ebx(e), kvm_cpuid_entry2.ecx(e), kvm_cpuid_entry2.edx(e)), "entry " + i);
            }
        }
    }
}

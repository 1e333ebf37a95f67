package io.jkvm.kvm;

import io.jkvm.x86.CpuidEntry;
import io.jkvm.x86.CpuidTable;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
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
}

package io.jkvm.linux;

import io.jkvm.linux.uapi.sock_filter;
import io.jkvm.linux.uapi.sock_fprog;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** A seccomp program as the kernel reads it: each sock_filter's fields where struct sock_filter has them. */
class SeccompEncodingTest {
    @Test
    void eachInstructionsFieldsAreWhereTheStructHasThem() {
        List<Seccomp.Instruction> program = new ArrayList<>();
        for (int i = 0; i < 300; i++) { // every field at values that fill it, so a shifted one shows
            program.add(new Seccomp.Instruction(0xFFFF - i, i & 0xFF, 255 - (i & 0xFF), 0x80000001 ^ (i * 0x01010101)));
        }
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment fprog = Seccomp.encode(program, arena);
            assertEquals(program.size(), Short.toUnsignedInt(sock_fprog.len(fprog)));
            MemorySegment filter = sock_fprog.filter(fprog).reinterpret(sock_filter.sizeof() * program.size());
            for (int i = 0; i < program.size(); i++) {
                MemorySegment slot = sock_filter.asSlice(filter, i);
                Seccomp.Instruction in = program.get(i);
                assertEquals(in, new Seccomp.Instruction(Short.toUnsignedInt(sock_filter.code(slot)),
                        Byte.toUnsignedInt(sock_filter.jt(slot)), Byte.toUnsignedInt(sock_filter.jf(slot)), sock_filter.k(slot)),
                        "instruction " + i);
            }
        }
    }
}

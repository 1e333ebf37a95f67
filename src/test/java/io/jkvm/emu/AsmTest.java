package io.jkvm.emu;

import io.jkvm.testing.Asm;
import org.junit.jupiter.api.Test;

import java.util.HexFormat;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** The test encoder against published byte sequences (kernel state_test, LLVM and binutils tests, XED). */
class AsmTest {
    private static String hex(Asm a) {
        return HexFormat.ofDelimiter(" ").formatHex(a.bytes());
    }

    @Test
    void rex2EncodingsMatchThePublishedBytes() {
        assertEquals("d5 18 b8 cc cc cc cc 00 00 00 00", hex(new Asm().movImm64(16, 0xCCCCCCCCL)), "state_test: mov $0xcccccccc, %r16");
        assertEquals("d5 18 b8 88 77 66 55 44 33 22 11", hex(new Asm().movImm64(16, 0x1122334455667788L)));
        assertEquals("d5 58 01 d1", hex(new Asm().alu(0, 17, 18)), "add r17, r18");
        assertEquals("d5 10 50", hex(new Asm().push(16)));
        assertEquals("d5 11 5f", hex(new Asm().pop(31)));
        assertEquals("48 b8 01 00 00 00 00 00 00 00", hex(new Asm().movImm64(0, 1)), "plain REX.W when no EGPR is used");
        assertEquals("49 bf 01 00 00 00 00 00 00 00", hex(new Asm().movImm64(15, 1)));
    }
}

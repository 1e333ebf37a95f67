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

    /** The guests' APX macros (src/test/guests/apx.inc), assembled by GNU as into apx_encodings.bin, against the same bytes. */
    @Test
    void theGuestMacrosAssembleToThePublishedBytes() throws java.io.IOException {
        String expected = String.join(" ",
                "d5 18 b8 cc cc cc cc 00 00 00 00", "d5 58 01 d1", "62 d4 84 18 83 c1 7b", "62 ec ec 14 42 c8",
                "62 dc 04 10 ff f0", "62 d4 7c 10 8f c7", "62 f4 7f 18 40 c0", "62 ec f8 0c 42 44 91 7b",
                "62 54 c4 02 39 cf", "62 ea f7 00 f6 d0");
        byte[] assembled = java.nio.file.Files.readAllBytes(io.jkvm.testing.TestGuests.path("apx_encodings.bin"));
        assertEquals(expected, HexFormat.ofDelimiter(" ").formatHex(assembled));
    }

    /** APX EVEX forms, each against the bytes LLVM's MC tests for APX publish (llvm/test/MC/X86/apx). */
    @Test
    void evexEncodingsMatchThePublishedBytes() {
        assertEquals("62 ec ec 10 01 41 7b", hex(new Asm().evexMem(4, 0, true, true, false, 18, 0x01, 16, 17, -1, 0, 123)),
                "add r18, qword ptr [r17 + 123], r16");
        assertEquals("62 ec ec 10 2b 48 7b", hex(new Asm().evexMem(4, 0, true, true, false, 18, 0x2B, 17, 16, -1, 0, 123)),
                "sub r18, r17, qword ptr [r16 + 123]");
        assertEquals("62 ec fc 0c 01 c1", hex(new Asm().evex(4, 0, true, false, true, 0, 0x01, 16, 17)), "{nf} add r17, r16");
        assertEquals("62 d4 84 18 83 c1 7b", hex(new Asm().evex(4, 0, true, true, false, 15, 0x83, 0, 9).immediate(123, 1)),
                "add r15, r9, 123");
        assertEquals("62 f4 3c 1c 00 d9", hex(new Asm().evex(4, 0, false, true, true, 8, 0x00, 3, 1)), "{nf} add r8b, cl, bl");
        assertEquals("62 d4 7d 0c 81 84 80 23 01 00 00 d2 04",
                hex(new Asm().evexMem(4, 1, false, false, true, 0, 0x81, 0, 8, 0, 2, 291).immediate(1234, 2)),
                "{nf} add word ptr [r8 + 4*rax + 291], 1234");
        assertEquals("62 fc e8 10 c1 bc 08 23 01 00 00 7b",
                hex(new Asm().evexMem(4, 0, true, true, false, 18, 0xC1, 7, 16, 17, 0, 291).immediate(123, 1)),
                "sar r18, qword ptr [r16 + r17 + 291], 123");
        assertEquals("62 fc fc 0c f7 58 7b", hex(new Asm().evexMem(4, 0, true, false, true, 0, 0xF7, 3, 16, -1, 0, 123)),
                "{nf} neg qword ptr [r16 + 123]");
        assertEquals("62 54 fc 18 6b c9 7b", hex(new Asm().evex(4, 0, true, true, false, 0, 0x6B, 9, 9).immediate(123, 1)),
                "imulzu r9, r9, 123");
        assertEquals("62 f4 7f 18 40 c0", hex(new Asm().evex(4, 3, false, true, false, 0, 0x40, 0, 0)), "setzuo al");
        assertEquals("62 ec ec 14 42 c8", hex(new Asm().evex(4, 0, true, true, true, 18, 0x42, 17, 16)), "cfcmovb r18, r17, r16");
        assertEquals("62 ec fc 0c 42 c1", hex(new Asm().evex(4, 0, true, false, true, 0, 0x42, 16, 17)), "cfcmovb r17, r16 (store form)");
        assertEquals("62 ec f8 0c 42 44 91 7b", hex(new Asm().evexMem(4, 0, true, false, true, 0, 0x42, 16, 17, 18, 2, 123)),
                "cfcmovb qword ptr [r17 + 4*r18 + 123], r16");
        assertEquals("62 f4 44 18 ff f0", hex(new Asm().evex(4, 0, false, true, false, 7, 0xFF, 6, 0)), "push2 rdi, rax");
        assertEquals("62 dc 04 10 ff f0", hex(new Asm().evex(4, 0, false, true, false, 31, 0xFF, 6, 24)), "push2 r31, r24");
        assertEquals("62 d4 7c 10 8f c7", hex(new Asm().evex(4, 0, false, true, false, 16, 0x8F, 0, 15)), "pop2 r16, r15");
        assertEquals("62 ea f7 00 f6 d0", hex(new Asm().evex(2, 3, true, false, false, 17, 0xF6, 18, 16)), "mulx r18, r17, r16");
        assertEquals("62 6a e4 00 f5 df", hex(new Asm().evex(2, 0, true, false, false, 19, 0xF5, 27, 23)), "bzhi r27, r23, r19");
        assertEquals("62 54 c4 02 39 cf", hex(new Asm().conditional(0, true, 2, 8, 0x39, 9, 15)), "ccmpb {dfv=of} r15, r9");
        assertEquals("62 f4 84 00 39 c3", hex(new Asm().conditional(0, true, 0, 0, 0x39, 0, 3)), "ccmpo {dfv=} rbx, rax");
        assertEquals("62 d4 44 0b 80 7c 80 7b 7b",
                hex(new Asm().conditionalMem(0, false, 0xB, 8, 0x80, 7, 8, 0, 2, 123).immediate(123, 1)),
                "ccmpf {dfv=of} byte ptr [r8 + 4*rax + 123], 123");
        assertEquals("62 f4 45 0e 85 d0", hex(new Asm().conditional(1, false, 0xE, 8, 0x85, 2, 0)), "ctestle {dfv=of} ax, dx");
    }
}

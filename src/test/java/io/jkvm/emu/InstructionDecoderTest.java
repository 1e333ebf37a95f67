package io.jkvm.emu;

import io.jkvm.testing.TestGuests;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The one decoder: its records for encodings from the SDM and APM, its faults, and its lengths against GNU objdump's. */
class InstructionDecoderTest {
    private static final InstructionDecoder LONG = new InstructionDecoder(true, 4, true, true, false);
    private static final InstructionDecoder LONG_AMD = new InstructionDecoder(true, 4, true, true, true);
    private static final InstructionDecoder PROTECTED32 = new InstructionDecoder(false, 4, true, false, false);
    private static final InstructionDecoder REAL = new InstructionDecoder(false, 2, false, false, false);

    /** The bytes of {@code hex}; reading past them is an error of the test's expectations. */
    private static InstructionBytes bytes(byte[] b, int from) {
        int[] at = {from};
        return () -> {
            if (at[0] >= b.length) {
                throw new IndexOutOfBoundsException("past the end");
            }
            return b[at[0]++] & 0xFF;
        };
    }

    private static Instruction decode(InstructionDecoder decoder, String hex) {
        byte[] b = HexFormat.ofDelimiter(" ").parseHex(hex);
        Instruction insn = decoder.decode(bytes(b, 0));
        assertEquals(b.length, insn.length(), hex + ": length");
        return insn;
    }

    @Test
    void readsTheFieldsOf64BitForms() {
        Instruction add = decode(LONG, "4c 01 cb"); // add rbx, r9
        assertEquals(Instruction.REX, add.encoding());
        assertEquals(0x01, add.opcode());
        assertEquals(9, add.modrm().reg());
        assertEquals(3, add.modrm().rm());
        assertEquals(8, add.operandSize());

        Instruction lea = decode(LONG, "48 8d 3d a9 00 00 00"); // lea rdi, [rip+0xa9]
        assertEquals(BlockOp.RIP, lea.modrm().base());
        assertEquals(0xA9, lea.modrm().disp());

        Instruction sib = decode(LONG, "42 8b 44 a5 f0"); // mov eax, [rbp + r12*4 - 16]
        assertEquals(5, sib.modrm().base());
        assertEquals(12, sib.modrm().index());
        assertEquals(2, sib.modrm().scale());
        assertEquals(-16, sib.modrm().disp());

        Instruction movabs = decode(LONG, "48 b8 88 77 66 55 44 33 22 11");
        assertEquals(0x1122334455667788L, movabs.immediate());
        assertEquals(8, movabs.immediateSize());

        Instruction imm32 = decode(LONG, "48 81 c1 00 00 00 80"); // add rcx, -0x80000000
        assertEquals(-0x80000000L, imm32.operandImmediate(8));
        assertEquals(-1, decode(LONG, "48 83 c1 ff").signedImmediate());

        assertEquals(1, decode(LONG, "f6 c1 01").immediateSize(), "TEST r/m8, imm8");
        assertEquals(0, decode(LONG, "f6 d9").immediateSize(), "NEG r/m8: group 3 has no immediate but for TEST");
        assertEquals(2, decode(LONG, "66 f7 c1 34 12").immediateSize());
        assertEquals(8, decode(LONG, "a1 00 10 00 00 00 00 00 00").immediateSize(), "moffs64");
        assertEquals(4, decode(LONG, "67 a1 00 10 00 00").immediateSize(), "moffs32 with 67");
        assertEquals(3, decode(LONG, "c8 10 00 01").immediateSize(), "ENTER imm16, imm8");

        Instruction movCr = decode(LONG, "0f 22 d8"); // mov cr3, rax
        assertEquals(3, movCr.modrm().reg());
        Instruction movCrModIgnored = decode(LONG, "0f 20 00"); // mod 0: still a register, no displacement
        assertEquals(3, movCrModIgnored.modrm().mod());

        Instruction pshufd = decode(LONG, "66 0f 70 c1 1b");
        assertEquals(1, pshufd.map());
        assertEquals(0x1B, pshufd.immediate());
        Instruction pblendw = decode(LONG, "66 0f 3a 0e c1 0f");
        assertEquals(3, pblendw.map());
        assertEquals(0x0E, pblendw.opcode());
        Instruction crc32 = decode(LONG, "f2 0f 38 f1 c1");
        assertEquals(2, crc32.map());
    }

    @Test
    void readsRex2VexAndEvex() {
        Instruction rex2 = decode(LONG, "d5 58 01 d1"); // add r17, r18
        assertEquals(Instruction.REX2, rex2.encoding());
        assertEquals(18, rex2.modrm().reg());
        assertEquals(17, rex2.modrm().rm());

        Instruction jmpabs = decode(LONG, "d5 00 a1 88 77 66 55 44 33 22 11");
        assertEquals(0x1122334455667788L, jmpabs.immediate());

        Instruction andn = decode(LONG, "c4 e2 70 f2 c2"); // andn eax, ecx, edx
        assertEquals(Instruction.VEX, andn.encoding());
        assertEquals(2, andn.map());
        assertEquals(0xF2, andn.opcode());
        Instruction rorx = decode(LONG, "c4 e3 fb f0 c1 07"); // rorx rax, rcx, 7
        assertEquals(3, rorx.map());
        assertEquals(7, rorx.immediate());
        assertTrue(rorx.rexW());
        Instruction vex2 = decode(LONG, "c5 f8 77"); // vzeroupper: no ModRM
        assertNull(vex2.modrm());

        Instruction ndd = decode(LONG, "62 d4 84 18 83 c1 7b"); // add r31, r9, 123 (from apx_encodings.S)
        assertEquals(Instruction.EVEX, ndd.encoding());
        assertEquals(4, ndd.map());
        assertEquals(0x7B, ndd.immediate());
        Instruction ccmp = decode(LONG, "62 54 c4 02 39 cf"); // ccmpb: map 4 39, no immediate
        assertEquals(0x39, ccmp.opcode());
        assertEquals(0, ccmp.immediateSize());
    }

    @Test
    void raisesTheDecodingFaultsACpuRaises() {
        assertFault(LONG, GuestFault.UD, "48 d5 00 01 c0", "REX2 after REX");
        assertFault(LONG, GuestFault.UD, "48 48 01 c0", "REX after REX");
        assertFault(LONG, GuestFault.UD, "66 c5 f8 77", "VEX after 66");
        assertFault(LONG, GuestFault.UD, "48 62 d4 84 18 83 c1 7b", "EVEX after REX");
        assertFault(LONG, GuestFault.UD, "d5 00 70 00", "REX2 before a map-0 Jcc");
        assertFault(new InstructionDecoder(true, 4, true, false, false), GuestFault.UD, "d5 58 01 d1", "REX2 without XCR0[APX]");
        assertFault(LONG, GuestFault.GP, "66 66 66 66 66 66 66 66 66 66 66 66 66 66 66 90", "sixteen bytes");
        assertFault(LONG, GuestFault.GP, "66 66 66 66 66 66 66 66 66 66 66 48 81 c1 00 00 00 80", "an immediate past 15 bytes");
        decode(LONG, "66 66 66 66 66 66 66 66 66 66 66 66 66 66 90"); // fourteen prefixes and the opcode: 15 bytes
        assertFault(REAL, GuestFault.UD, "c4 c0", "VEX in real mode");
    }

    private static void assertFault(InstructionDecoder decoder, int vector, String hex, String what) {
        byte[] b = HexFormat.ofDelimiter(" ").parseHex(hex);
        GuestFault f = assertThrows(GuestFault.class, () -> decoder.decode(bytes(b, 0)), what);
        assertEquals(vector, f.vector, what);
    }

    @Test
    void decodesLegacyModes() {
        Instruction bp = decode(REAL, "8b 46 02"); // mov ax, [bp+2]
        assertEquals(2, bp.addressSize());
        assertEquals(2, bp.operandSize());
        assertEquals(5, bp.modrm().base());
        assertEquals(BlockOp.NONE, bp.modrm().index());
        assertEquals(2, bp.modrm().disp());
        Instruction bxsi = decode(REAL, "8b 00"); // mov ax, [bx+si]
        assertEquals(3, bxsi.modrm().base());
        assertEquals(6, bxsi.modrm().index());
        Instruction disp16 = decode(REAL, "8b 06 34 12"); // mov ax, [0x1234]
        assertEquals(BlockOp.NONE, disp16.modrm().base());
        assertEquals(0x1234, disp16.modrm().disp());
        assertEquals(4, decode(REAL, "66 b8 78 56 34 12").immediateSize(), "66 in 16-bit code: a 32-bit immediate");
        assertEquals(2, decode(REAL, "a1 34 12").immediateSize(), "moffs16");
        assertEquals(4, decode(REAL, "ea 00 7c 00 00").immediateSize(), "far pointer 16:16");
        assertEquals(6, decode(PROTECTED32, "ea 00 00 10 00 08 00").immediateSize(), "far pointer 16:32");
        assertEquals(0x40, decode(PROTECTED32, "40").opcode(), "INC eax, not REX");
        assertEquals(Instruction.LEGACY, decode(PROTECTED32, "c4 06").encoding(), "LES eax, [esi]");
        assertEquals(Instruction.VEX, decode(PROTECTED32, "c4 e2 70 f2 c2").encoding(), "a register ModRM: VEX");
        assertEquals(0x62, decode(PROTECTED32, "62 06").opcode(), "BOUND");
        assertEquals(1, decode(PROTECTED32, "d5 0a").immediateSize(), "AAD imm8");
    }

    @Test
    void nearBranchDisplacementsFollowTheVendor() {
        assertEquals(4, decode(LONG, "66 e8 00 00 00 00").immediateSize(), "Intel ignores 66 on a near branch in 64-bit mode");
        assertEquals(2, decode(LONG_AMD, "66 e8 00 00").immediateSize(), "AMD: rel16");
        assertEquals(4, decode(LONG_AMD, "66 48 e8 00 00 00 00").immediateSize(), "REX.W wins over 66");
        assertEquals(2, decode(REAL, "e8 00 00").immediateSize());
        assertEquals(2, decode(REAL, "0f 84 00 00").immediateSize());
    }

    /** Prefixes objdump prints as instructions of their own when nothing uses them. */
    private static final Set<String> PREFIX_NAMES = Set.of("data16", "data32", "addr16", "addr32", "lock", "rep", "repz",
            "repnz", "repe", "repne", "cs", "ds", "es", "ss", "fs", "gs", "bnd", "notrack", "xacquire", "xrelease");
    private static final Pattern LINE = Pattern.compile("^\\s*([0-9a-f]+):\\t([0-9a-f ]+?)\\s*\\t(\\S+).*$");

    /**
     * Every instruction GNU objdump finds in every test guest, decoded from the same offset, has the length objdump
     * gives it: an independent decoder over a few thousand real instructions, in each mode's decoding.
     */
    @ParameterizedTest
    @CsvSource({"i386:x86-64, 64", "i386, 32", "i8086, 16"})
    void agreesWithObjdumpOnEveryGuest(String machine, int bits) throws Exception {
        InstructionDecoder decoder = bits == 64 ? LONG : bits == 32 ? PROTECTED32 : REAL;
        Path dir = TestGuests.path("exit42.bin").getParent();
        List<Path> guests;
        try (Stream<Path> s = Files.list(dir)) {
            guests = s.filter(p -> p.toString().endsWith(".bin")).sorted().toList();
        }
        int compared = 0, refused = 0;
        List<String> mismatches = new ArrayList<>();
        for (Path guest : guests) {
            byte[] image = Files.readAllBytes(guest);
            for (String line : objdump(guest, machine)) {
                Matcher m = LINE.matcher(line);
                if (!m.matches()) {
                    continue;
                }
                String mnemonic = m.group(3);
                if (mnemonic.startsWith("(bad)") || mnemonic.startsWith("rex") || PREFIX_NAMES.contains(mnemonic)
                        || mnemonic.startsWith(".byte")) {
                    continue;
                }
                int offset = Integer.parseInt(m.group(1), 16);
                int length = m.group(2).split(" ").length;
                Instruction insn;
                try {
                    insn = decoder.decode(bytes(image, offset));
                } catch (GuestFault f) {
                    refused++; // an encoding the core does not run (AVX-512, XOP): it must be one of those prefixes
                    int first = firstAfterPrefixes(image, offset, bits);
                    if (first != 0x62 && first != 0xC4 && first != 0xC5 && first != 0x8F) {
                        mismatches.add(guest.getFileName() + "+" + m.group(1) + ": refused: " + line.trim());
                    }
                    continue;
                } catch (IndexOutOfBoundsException e) {
                    continue; // objdump's last instruction runs past the file
                }
                compared++;
                if (insn.length() != length) {
                    mismatches.add(guest.getFileName() + "+" + m.group(1) + ": " + insn.length() + " bytes, objdump "
                            + length + ": " + line.trim());
                }
            }
        }
        assertTrue(mismatches.isEmpty(), mismatches.size() + " mismatches, e.g.\n"
                + String.join("\n", mismatches.subList(0, Math.min(20, mismatches.size()))));
        System.out.println("decoder against objdump -m " + machine + ": " + compared + " instructions in " + guests.size()
                + " guests agree, " + refused + " refused (AVX-512/XOP)");
        assertTrue(compared > 2000, "only " + compared + " instructions compared");
        assertTrue(refused < compared / 50, refused + " refused of " + compared);
    }

    private static int firstAfterPrefixes(byte[] image, int offset, int bits) {
        int i = offset;
        while (i < image.length) {
            int b = image[i] & 0xFF;
            boolean prefix = b == 0x26 || b == 0x2E || b == 0x36 || b == 0x3E || b == 0x64 || b == 0x65 || b == 0x66
                    || b == 0x67 || b == 0xF0 || b == 0xF2 || b == 0xF3 || bits == 64 && b >= 0x40 && b <= 0x4F;
            if (!prefix) {
                return b;
            }
            i++;
        }
        return -1;
    }

    private static List<String> objdump(Path guest, String machine) throws IOException, InterruptedException {
        Process p = new ProcessBuilder("objdump", "-D", "-b", "binary", "-m", machine, "--insn-width=16",
                guest.toString()).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, p.waitFor(), "objdump (binutils) on " + guest + ": " + out);
        return out.lines().toList();
    }
}

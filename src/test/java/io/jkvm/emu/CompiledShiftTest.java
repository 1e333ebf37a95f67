package io.jkvm.emu;

import org.junit.jupiter.api.Test;

import java.util.HexFormat;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A compiled shift whose flags nothing sees computes its result alone: SHR before an IMUL and SAR before an ADD (both
 * set all six flags, and nothing between may fault) are quiet; SHL before an ADC, which reads its CF, is not. So is a
 * ROL or ROR, and with it the flags before it, which it would keep. The loops get the interpreter's registers, flags
 * and instruction count either way.
 */
class CompiledShiftTest {
    private static final int SETUP = 20;
    // mov eax, 0x12345678; mov ebx, 0x9abcdef0; mov ecx, 1000; mov edx, 7
    // 1: mov esi, eax; shr eax, 3; imul edx, ecx; shl ebx, 1; adc eax, ebx; sar edx, 2; add eax, esi; dec ecx; jnz 1b; hlt
    private static final String GUEST = "b878563412 bbf0debc9a b9e8030000 ba07000000"
            + " 89c6 c1e803 0fafd1 c1e301 11d8 c1fa02 01f0 ffc9 75ea f4";

    private static byte[] guest() {
        return HexFormat.of().parseHex(GUEST.replace(" ", ""));
    }

    @Test
    void onlyTheShiftsWhoseFlagsNothingReadsAreQuiet() {
        BlockOp[] insns = CompiledGuests.blockAt(guest(), SETUP);
        assertEquals(BlockOp.SHIFT, insns[1].op());
        assertTrue(BlockCompiler.flagsDeadAfter(insns, 1), "SHR's flags: IMUL sets them all");
        assertFalse(BlockCompiler.flagsDeadAfter(insns, 3), "SHL's flags: ADC reads CF");
        assertTrue(BlockCompiler.flagsDeadAfter(insns, 5), "SAR's flags: ADD sets them all");
        BlockOp[] imulFirst = CompiledGuests.blockAt(HexFormat.of().parseHex("0fafd1" + "01f0" + "f4"), 0);
        assertTrue(BlockCompiler.flagsDeadAfter(imulFirst, 0), "IMUL first, ADD after: the first instruction's too");
    }

    private static List<Long> run(String setting) {
        return CompiledGuests.runToHlt(setting, guest(), vm -> List.of());
    }

    @Test
    void quietShiftsGetTheInterpretersResults() {
        List<Long> interpreter = run("interpreter");
        assertEquals(0L, interpreter.get(1), "RCX counted down");
        assertEquals(4 + 1000 * 9L, interpreter.get(17), "the set-up and 1000 rounds of nine retired");
        assertEquals(interpreter, run("compiled"));
        assertEquals(interpreter, run("blocks"));
    }

    /**
     * SHL, SHR and SAR by one and by more, on 8-, 16-, 32- and 64-bit registers, with their flags read by PUSHF, ADC,
     * JO, SETO, JBE and JL, each shift over the flags an IMUL, ADD or the one before left (a shift by more than one
     * keeps OF, and every shift keeps AF, in this core's model): compiled, they leave a lazy record of their own.
     */
    private static final String SEEN = "b839300000b9d00700004531d24531db4531e4"
            + "4869c02d7f954c4805393000004889c348d1e39c5a4901d24889c3c1eb034911db4889c3d0fb9c5a4901d24889c348c1fb0570"
            + "034901dc4889c366c1e3029c5a4901d248d1eb0f90c24901d448c1e307760349ffc448c1eb097c0349ffc3ffc9759ef4";

    @Test
    void shiftsWhoseFlagsAreSeenGetTheInterpretersFlags() {
        byte[] guest = HexFormat.of().parseHex(SEEN);
        List<Long> interpreter = CompiledGuests.runToHltInEachSetting(guest, vm -> List.of());
        assertEquals(0L, interpreter.get(1), "RCX counted down");
    }

    /**
     * ADD, then ROR by 7 and XOR (the ADD's flags and the ROR's dead), ROL of RDX before an ADD (dead), ROL by one
     * before an ADC (its CF read), a 16-bit ROR before PUSHF (all seen), an 8-bit ROL before a SUB (dead).
     */
    private static final String ROTATES = "b878563412bbf0debc9ab9e803000048baefcdab89674523014531c0"
            + "01d8c1c80731c848c1c20d4801c289ded1c611f066c1cb039c5e4901f0c0c30229d3ffc975daf4";
    private static final int ROTATES_SETUP = 0x1c;

    @Test
    void rotatesWhoseFlagsNothingReadsAreQuietAndSoAreTheFlagsTheyKeep() {
        byte[] guest = HexFormat.of().parseHex(ROTATES);
        BlockOp[] insns = CompiledGuests.blockAt(guest, ROTATES_SETUP);
        assertEquals(BlockOp.SHIFT, insns[1].op());
        assertTrue(BlockCompiler.flagsDeadAfter(insns, 0), "ADD's flags: ROR keeps them, XOR sets them all");
        assertTrue(BlockCompiler.flagsDeadAfter(insns, 1), "ROR's flags: XOR sets them all");
        assertTrue(BlockCompiler.flagsDeadAfter(insns, 3), "ROL's flags: ADD sets them all");
        assertFalse(BlockCompiler.flagsDeadAfter(insns, 5), "MOV, then ROL by one: ADC reads its CF");
        assertFalse(BlockCompiler.flagsDeadAfter(insns, 6), "ROL's flags: ADC reads CF");
        assertFalse(BlockCompiler.flagsDeadAfter(insns, 8), "ROR's flags: PUSHF reads them");
        assertTrue(BlockCompiler.flagsDeadAfter(insns, 12), "ROL's flags: SUB sets them all");
        List<Long> interpreter = CompiledGuests.runToHltInEachSetting(guest, vm -> List.of());
        assertEquals(0L, interpreter.get(1), "RCX counted down");
        assertEquals(5 + 1000 * 16L, interpreter.get(17), "the set-up and 1000 rounds of sixteen retired");
    }

    /**
     * The decoded tier's forms of the blocks above: the 32- and 64-bit register shifts and rotates whose flags are dead
     * compute their value alone, the others (flags seen, 16 or 8 bits) their flags too; and a block's first
     * instruction never does, as a shadow would end the block after it.
     */
    @Test
    void decodedShiftsAndRotatesWhoseFlagsNothingReadsComputeTheirValueAlone() {
        DecodedForm[] shifts = new DecodedBlock(CompiledGuests.blockAt(guest(), SETUP), new byte[0], false, 0, 0).forms;
        assertInstanceOf(DecodedArithmetic.QuietShiftRegister.class, shifts[1], "SHR EAX by 3, IMUL after");
        assertFalse(shifts[3] instanceof DecodedArithmetic.QuietShiftRegister, "SHL EBX by 1, ADC after");
        assertInstanceOf(DecodedArithmetic.QuietShiftRegister.class, shifts[5], "SAR EDX by 2, ADD after");
        BlockOp[] insns = CompiledGuests.blockAt(HexFormat.of().parseHex(ROTATES), ROTATES_SETUP);
        DecodedForm[] forms = new DecodedBlock(insns, new byte[0], false, 0, 0).forms;
        assertInstanceOf(DecodedArithmetic.QuietShiftRegister.class, forms[1], "ROR EAX by 7, XOR after");
        assertInstanceOf(DecodedArithmetic.QuietShiftRegister.class, forms[3], "ROL RDX by 13, ADD after");
        for (int n : new int[]{6, 8, 12}) {
            assertFalse(forms[n] instanceof DecodedArithmetic.QuietShiftRegister, "instruction " + n);
        }
        BlockOp[] first = CompiledGuests.blockAt(HexFormat.of().parseHex("c1c807" + "31c8" + "f4"), 0); // ror eax, 7; xor eax, ecx
        assertTrue(BlockCompiler.flagsDeadAfter(first, 0));
        assertFalse(new DecodedBlock(first, new byte[0], false, 0, 0).forms[0] instanceof DecodedArithmetic.QuietShiftRegister,
                "a block's first instruction");
    }

    /**
     * Every shift and rotate by an immediate the compiler computes in place (ROL, ROR, SHL, SHR, SAR) of each size, by
     * counts from 1 to past the operand's bits, of a value with both top bits set: mov rax, r14; the shift of AL, AX,
     * EAX or RAX; add r15, rax (its flags dead), and again with adc r13, 0 between (CF seen).
     */
    private static byte[] everyShiftByAnImmediate() {
        java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
        out.writeBytes(HexFormat.of().parseHex("49be efcdab8967452381".replace(" ", ""))); // mov r14, 0x8123456789abcdef
        for (int size : new int[]{1, 2, 4, 8}) {
            int[] counts = switch (size) {
                case 1 -> new int[]{1, 3, 7, 8, 9, 31};
                case 2 -> new int[]{1, 5, 15, 16, 17, 31};
                case 4 -> new int[]{1, 5, 17, 31};
                default -> new int[]{1, 7, 33, 63};
            };
            for (int sub : new int[]{0, 1, 4, 5, 7}) {
                for (int count : counts) {
                    for (boolean seen : new boolean[]{false, true}) {
                        out.writeBytes(HexFormat.of().parseHex("4c89f0")); // mov rax, r14
                        if (size == 2) {
                            out.write(0x66);
                        } else if (size == 8) {
                            out.write(0x48);
                        }
                        out.writeBytes(new byte[]{(byte) (size == 1 ? 0xC0 : 0xC1), (byte) (0xC0 | sub << 3), (byte) count});
                        if (seen) {
                            out.writeBytes(HexFormat.of().parseHex("4983d500")); // adc r13, 0
                        }
                        out.writeBytes(HexFormat.of().parseHex("4901c7")); // add r15, rax
                    }
                }
            }
        }
        out.write(0xF4);
        return out.toByteArray();
    }

    @Test
    void everyShiftByAnImmediateGetsTheInterpretersResult() {
        List<Long> interpreter = CompiledGuests.runToHltInEachSetting(everyShiftByAnImmediate(), vm -> List.of());
        assertTrue(interpreter.get(13) > 0 && interpreter.get(13) < 2 * 4 * 5 * 6, "some of the shifts carried out");
    }

    /**
     * mov ecx, 1000; mov eax, 0x12345678; mov ebx, 0x9abcdef0; 1: adc eax, ebx; rol ebx, 3; sub ecx, 1; jz 2f;
     * rol eax, 1; jmp 1b; 2: hlt. The second ROL's CF is seen by the ADC across the back edge, which must leave the
     * SUB's flags with the ROL's CF and OF in the core (the first ROL's the SUB sets again).
     */
    private static final String ROTATE_BEFORE_THE_BACK_EDGE = "b9e8030000b878563412bbf0debc9a"
            + "11d8c1c30383e9017404d1c0ebf2f4";

    @Test
    void aRotatesFlagsAcrossABackEdgeAreTheInterpreters() {
        byte[] guest = HexFormat.of().parseHex(ROTATE_BEFORE_THE_BACK_EDGE);
        assertTrue(BlockCompiler.flagsDeadAfter(CompiledGuests.blockAt(guest, 15), 1), "the first ROL's: SUB sets them all");
        assertFalse(BlockCompiler.flagsDeadAfter(CompiledGuests.blockAt(guest, 25), 0), "the second's: the JMP leaves the block");
        List<Long> interpreter = CompiledGuests.runToHltInEachSetting(guest, vm -> List.of());
        assertEquals(0L, interpreter.get(1), "RCX counted down");
        assertEquals(3 + 1000 * 4L + 999 * 2, interpreter.get(17), "the set-up and 1000 rounds retired");
    }
}

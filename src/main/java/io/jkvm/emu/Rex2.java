package io.jkvm.emu;

/**
 * Which opcodes REX2 may not precede (Intel APX; the kernel's x86-opcode-map.txt marks them "(!REX2)"): they #UD.
 * Map 0: row 4 (REX), row 7 (Jcc rel8), row A (moffs MOV, string ops, TEST imm; A1 with W = 0 is JMPABS,
 * decoded before this check), row E (LOOP, JrCXZ, IN/OUT, CALL/JMP rel), the VEX/EVEX/REX2 escapes, 0F (REX2 selects the map
 * itself) and any legacy prefix (REX2 ends the prefixes). Map 1: row 3 (WRMSR..GETSEC, the 38/3A escapes) and
 * row 8 (Jcc rel32).
 */
final class Rex2 {
    private Rex2() {
    }

    static boolean forbiddenMap0(int b) {
        return switch (b >>> 4) {
            case 0x4, 0x7, 0xA, 0xE -> true;
            default -> b == 0x0F || b == 0x62 || b == 0xC4 || b == 0xC5 || b == 0xD5
                    || b == 0x26 || b == 0x2E || b == 0x36 || b == 0x3E || (b >= 0x64 && b <= 0x67)
                    || b == 0xF0 || b == 0xF2 || b == 0xF3;
        };
    }

    static boolean forbiddenMap1(int b) {
        return (b >= 0x30 && b <= 0x3F) || (b >= 0x80 && b <= 0x8F);
    }
}

package io.jkvm.emu;

/**
 * Which opcodes REX2 may not precede (Intel APX: they #UD). Map 0 rows 4 (REX), 7 (Jcc rel8), A0-A3 (moffs MOV),
 * E0-EF (LOOP/JrCXZ/IN/OUT/CALL/JMP rel), and the VEX/EVEX/REX2 escapes; map 1 rows 3 (WRMSR..GETSEC, the 3-byte
 * escapes 38/3A) and 8 (Jcc rel32).
 */
final class Rex2 {
    private Rex2() {
    }

    static boolean forbiddenMap0(int b) {
        return (b >= 0x40 && b <= 0x4F) || (b >= 0x70 && b <= 0x7F) || (b >= 0xA0 && b <= 0xA3)
                || (b >= 0xE0 && b <= 0xEF) || b == 0xC4 || b == 0xC5 || b == 0x62 || b == 0xD5;
    }

    static boolean forbiddenMap1(int b) {
        return (b >= 0x30 && b <= 0x3F) || (b >= 0x80 && b <= 0x8F);
    }
}

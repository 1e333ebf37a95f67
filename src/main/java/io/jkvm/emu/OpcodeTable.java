package io.jkvm.emu;

/**
 * The operand shape of every opcode the decoder reads, by map: whether a ModRM follows and which immediate, as the
 * opcode maps of SDM Vol. 2 appendix A and APM Vol. 3 appendix A give them. Nothing here says what an instruction
 * does: {@link InstructionDecoder} reads the bytes with it, and the executors look the meaning up by map and opcode.
 * An opcode the core does not run is given the shape its map gives it, so the decoder reads the same bytes a CPU would
 * before the #UD.
 */
final class OpcodeTable {
    private OpcodeTable() {
    }

    /** A ModRM byte follows the opcode (with its SIB and displacement). */
    static final int MODRM = 0x10;
    /** A ModRM whose mod bits are ignored: the r/m field is always a register, no SIB or displacement (MOV CR/DR). */
    static final int MODRM_REGISTER = 0x20;
    /** In 64-bit mode the opcode is invalid or taken by a prefix: nothing follows it there. */
    static final int NOT_IN_64 = 0x40;

    // the immediate, in the low nibble
    static final int NO_IMM = 0;
    /** One byte (imm8, rel8, an I/O port, a vector). */
    static final int IB = 1;
    /** Two bytes (RET imm16). */
    static final int IW = 2;
    /** Two bytes with a 16-bit operand, else four (imm16/imm32, sign-extended for 64-bit operands). */
    static final int IZ = 3;
    /** The operand size: 2, 4 or 8 bytes (MOV r, imm). */
    static final int IV = 4;
    /** An offset of the address size (MOV AL/rAX, moffs). */
    static final int MOFFS = 5;
    /** imm16 then imm8 (ENTER). */
    static final int IW_IB = 6;
    /** A far pointer: an offset of the operand size, then a 16-bit selector (CALL/JMP ptr16:16/32). */
    static final int FAR_POINTER = 7;
    /** F6/F7 (group 3): an immediate of the operand size for TEST (/0, /1) only. */
    static final int GROUP3 = 8;
    /** A near branch displacement: rel16 or rel32 by the branch's operand size ({@link InstructionDecoder}). */
    static final int REL = 9;

    /** The one-byte map. */
    static final byte[] ONE_BYTE = new byte[256];
    /** 0F xx. */
    static final byte[] TWO_BYTE = new byte[256];
    /** 0F 38 xx: every opcode has a ModRM and no immediate. */
    static final byte[] THREE_BYTE_38 = new byte[256];
    /** 0F 3A xx: every opcode has a ModRM and an imm8. */
    static final byte[] THREE_BYTE_3A = new byte[256];
    /** EVEX map 4 (APX's promoted legacy instructions): a ModRM always, the immediates of their legacy forms. */
    static final byte[] EVEX_MAP4 = new byte[256];

    private static void set(byte[] map, int from, int to, int shape) {
        for (int b = from; b <= to; b++) {
            map[b] = (byte) shape;
        }
    }

    static {
        byte[] m = ONE_BYTE;
        for (int b = 0; b < 0x40; b += 8) { // ALU r/m,r; r,r/m; AL/rAX,imm
            set(m, b, b + 3, MODRM);
            m[b + 4] = IB;
            m[b + 5] = IZ;
        }
        for (int b : new int[] {0x06, 0x07, 0x0E, 0x16, 0x17, 0x1E, 0x1F, 0x27, 0x2F, 0x37, 0x3F}) {
            m[b] = NOT_IN_64; // PUSH/POP segment, BCD adjustments
        }
        set(m, 0x40, 0x4F, NOT_IN_64); // INC/DEC r; REX in 64-bit mode
        m[0x60] = m[0x61] = NOT_IN_64; // PUSHA, POPA
        m[0x62] = MODRM | NOT_IN_64; // BOUND; EVEX in 64-bit mode
        m[0x63] = MODRM; // ARPL; MOVSXD
        m[0x68] = IZ;
        m[0x69] = MODRM | IZ;
        m[0x6A] = IB;
        m[0x6B] = MODRM | IB;
        set(m, 0x70, 0x7F, IB);
        m[0x80] = MODRM | IB;
        m[0x81] = MODRM | IZ;
        m[0x82] = MODRM | IB | NOT_IN_64;
        m[0x83] = MODRM | IB;
        set(m, 0x84, 0x8F, MODRM);
        m[0x9A] = FAR_POINTER | NOT_IN_64;
        set(m, 0xA0, 0xA3, MOFFS);
        m[0xA8] = IB;
        m[0xA9] = IZ;
        set(m, 0xB0, 0xB7, IB);
        set(m, 0xB8, 0xBF, IV);
        m[0xC0] = m[0xC1] = MODRM | IB;
        m[0xC2] = IW;
        m[0xC4] = m[0xC5] = MODRM | NOT_IN_64; // LES, LDS; VEX in 64-bit mode
        m[0xC6] = MODRM | IB;
        m[0xC7] = MODRM | IZ;
        m[0xC8] = IW_IB;
        m[0xCA] = IW;
        m[0xCD] = IB;
        m[0xCE] = NOT_IN_64; // INTO
        set(m, 0xD0, 0xD3, MODRM);
        m[0xD4] = m[0xD5] = IB | NOT_IN_64; // AAM, AAD; D5 is REX2 in 64-bit mode
        m[0xD6] = NOT_IN_64; // SALC
        set(m, 0xD8, 0xDF, MODRM); // x87
        set(m, 0xE0, 0xE7, IB); // LOOPcc, JrCXZ, IN/OUT imm8
        m[0xE8] = m[0xE9] = REL;
        m[0xEA] = FAR_POINTER | NOT_IN_64;
        m[0xEB] = IB;
        m[0xF6] = m[0xF7] = MODRM | GROUP3;
        m[0xFE] = m[0xFF] = MODRM;

        byte[] t = TWO_BYTE;
        set(t, 0x00, 0x03, MODRM); // groups 6 and 7, LAR, LSL
        t[0x0D] = MODRM; // PREFETCHW
        t[0x0F] = MODRM | IB; // 3DNow!: the suffix byte after the operands picks the operation
        set(t, 0x10, 0x1F, MODRM); // SSE moves, prefetch and hint NOPs
        set(t, 0x20, 0x23, MODRM_REGISTER); // MOV to and from CR and DR
        set(t, 0x28, 0x2F, MODRM);
        set(t, 0x40, 0x4F, MODRM); // CMOVcc
        set(t, 0x50, 0x7F, MODRM); // SSE and MMX
        set(t, 0x70, 0x73, MODRM | IB); // PSHUF*, shifts by immediate
        t[0x77] = NO_IMM; // EMMS
        t[0x7A] = t[0x7B] = NO_IMM;
        set(t, 0x80, 0x8F, REL); // Jcc rel16/32
        set(t, 0x90, 0x9F, MODRM); // SETcc
        t[0xA3] = t[0xAB] = t[0xB3] = t[0xBB] = MODRM; // BT, BTS, BTR, BTC
        t[0xA4] = t[0xAC] = MODRM | IB; // SHLD, SHRD by imm8
        t[0xA5] = t[0xAD] = MODRM;
        t[0xAE] = t[0xAF] = MODRM; // group 15, IMUL
        set(t, 0xB0, 0xB7, MODRM); // CMPXCHG, LSS, LFS, LGS, MOVZX
        t[0xB8] = t[0xB9] = MODRM; // POPCNT, UD1
        t[0xBA] = MODRM | IB; // group 8
        set(t, 0xBB, 0xC1, MODRM); // BTC, BSF, BSR, MOVSX, XADD
        t[0xC2] = MODRM | IB; // CMPccPS
        t[0xC3] = MODRM; // MOVNTI
        set(t, 0xC4, 0xC6, MODRM | IB); // PINSRW, PEXTRW, SHUFPS
        t[0xC7] = MODRM; // group 9
        set(t, 0xD0, 0xFF, MODRM);

        set(THREE_BYTE_38, 0x00, 0xFF, MODRM);
        set(THREE_BYTE_3A, 0x00, 0xFF, MODRM | IB);

        set(EVEX_MAP4, 0x00, 0xFF, MODRM);
        for (int b : new int[] {0x24, 0x2C, 0x6B, 0x80, 0x83, 0xC0, 0xC1}) {
            EVEX_MAP4[b] = MODRM | IB; // SHLD/SHRD imm8, IMUL imm8, group 1 imm8, shifts by imm8
        }
        EVEX_MAP4[0x69] = EVEX_MAP4[0x81] = MODRM | IZ;
        EVEX_MAP4[0xF6] = EVEX_MAP4[0xF7] = MODRM | GROUP3;
    }
}

package io.jkvm.emu;

/**
 * One instruction as {@link InstructionDecoder} read it: the record the interpreter and the block decoder both run
 * from. Its bytes are read once; nothing after the decoder looks at guest memory for them.
 *
 * @param prefixes    the legacy prefixes
 * @param encoding    {@link #LEGACY}, {@link #REX}, {@link #REX2}, {@link #VEX} or {@link #EVEX}
 * @param payload     the REX byte, the REX2 payload byte, or the VEX/EVEX payload bytes (P0 | P1 << 8 | P2 << 16)
 * @param map         0 one-byte, 1 0F, 2 0F38, 3 0F3A; a VEX or EVEX map number as encoded (EVEX map 4 is APX's)
 * @param opcode      the opcode byte in its map
 * @param rexR        ModRM.reg's high register bits (0, 8, 16 or 24), from REX, REX2, VEX or EVEX
 * @param rexX        the SIB index's high bits
 * @param rexB        ModRM.rm's, SIB base's or the opcode register's high bits
 * @param rexW        REX.W, REX2.W, VEX.W or EVEX.W
 * @param operandSize 2, 4 or 8 from CS.D, 66 and W (a VEX/EVEX instruction's own rules are its handler's)
 * @param addressSize 2, 4 or 8 from the mode and 67
 * @param modrm       the decoded ModRM, SIB and displacement, or null when the opcode has none
 * @param modrmByte   the ModRM byte itself, or 0xC0 (a register form) when there is none
 * @param immediate   the first immediate, zero-extended from {@link #immediateSize} bytes
 * @param immediateSize its size in bytes, 0 for none
 * @param length      bytes, prefixes and immediates included (at most 15)
 */
record Instruction(Prefixes prefixes, int encoding, int payload, int map, int opcode, int rexR, int rexX, int rexB,
                   boolean rexW, int operandSize, int addressSize, ModRm modrm, int modrmByte, long immediate,
                   int immediateSize, int length) {
    static final int LEGACY = 0, REX = 1, REX2 = 2, VEX = 3, EVEX = 4;

    /** The immediate sign-extended from its size. */
    long signedImmediate() {
        int shift = 64 - 8 * immediateSize;
        return immediateSize == 0 ? 0 : (immediate << shift) >> shift;
    }

    /** The immediate as an operand of {@code size} bytes takes it: imm32 sign-extended for a 64-bit operand. */
    long operandImmediate(int size) {
        return size == 8 && immediateSize == 4 ? signedImmediate() : immediate;
    }

    /** A REX or REX2 prefix came before the opcode: byte registers 4-7 are SPL..DIL, not AH..BH. */
    boolean anyRex() {
        return encoding == REX || encoding == REX2 || encoding == EVEX;
    }

    /** ModRM.reg without its high bits: the opcode extension of a group. */
    int extension() {
        return (modrmByte >>> 3) & 7;
    }

    // Equality written out (LaunchRecordEqualityTest): a region's shared key hashes the instruction an interpreted or
    // locked op carries at the first compile, and the record's generated methods cost 10 ms of their bootstrap there.

    @Override
    public boolean equals(Object o) {
        return o instanceof Instruction i && encoding == i.encoding && payload == i.payload && map == i.map
                && opcode == i.opcode && rexR == i.rexR && rexX == i.rexX && rexB == i.rexB && rexW == i.rexW
                && operandSize == i.operandSize && addressSize == i.addressSize && modrmByte == i.modrmByte
                && immediate == i.immediate && immediateSize == i.immediateSize && length == i.length
                && prefixes.equals(i.prefixes) && java.util.Objects.equals(modrm, i.modrm);
    }

    @Override
    public int hashCode() {
        int h = prefixes.hashCode();
        h = 31 * h + encoding;
        h = 31 * h + payload;
        h = 31 * h + map;
        h = 31 * h + opcode;
        h = 31 * h + rexR;
        h = 31 * h + rexX;
        h = 31 * h + rexB;
        h = 31 * h + Boolean.hashCode(rexW);
        h = 31 * h + operandSize;
        h = 31 * h + addressSize;
        h = 31 * h + java.util.Objects.hashCode(modrm);
        h = 31 * h + modrmByte;
        h = 31 * h + Long.hashCode(immediate);
        h = 31 * h + immediateSize;
        return 31 * h + length;
    }
}

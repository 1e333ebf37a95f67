package io.jkvm.emu;

/**
 * What a decoded block holds for one instruction {@link InstructionDecoder} read: what it does ({@link #op}), its
 * operands resolved to register numbers and address parts, and its length. Only forms whose meaning depends on nothing but their bytes are
 * decoded this way (see {@link BlockDecoder}); everything else runs through the interpreter. The decoded tier runs it
 * as the {@link DecodedForm} made of it; the block compiler compiles from it.
 *
 * @param op     what to execute: one of the constants below (ints, not an enum: the decoder, the forms' factory and
 *               the compiler switch on them); {@link #INTERPRETED}: the interpreter runs it inside the block, from its own decoding;
 *               {@link #LOCKED}: an atomic read-modify-write of 4 or 8 bytes, {@code sub} its kind
 *               ({@link LockedInPlace}); {@link #SSE}: an SSE form of {@link SseForms}, its kind in {@code sub}, XMM
 *               registers in {@code reg} and {@code rm} (or {@link #MEMORY}), which the block executor runs
 *               ({@link SseForms#run}) and the block compiler compiles
 * @param length bytes, prefixes included
 * @param size   operand size in bytes: 1, 2, 4 or 8
 * @param sub    the ALU operation (0 ADD .. 7 CMP), condition code, shift operation, source size of MOVZX/MOVSX,
 *               group 3's operation (4 MUL .. 7 IDIV), group 15's fence (5-7), BT's operation (0 BT .. 3 BTC), or the
 *               segment register MOV reads
 * @param reg    the register operand (ModRM.reg, or the register in the opcode)
 * @param rm     the register r/m operand, or {@link #MEMORY}; registers {@link #HIGH_BYTE} + 0-3 are AH, CH, DH, BH
 * @param base   the base register of a memory operand, {@link #NONE} or {@link #RIP}
 * @param index  the index register, or {@link #NONE}
 * @param scale  the index shift (0-3)
 * @param disp   the displacement
 * @param imm    the immediate (sign-extended as the instruction defines), relative branch offset, shift count
 *               ({@link #NONE} for CL), or BT's bit offset ({@link #NONE}: the register {@code reg} holds it)
 * @param seg    0, or {@link #FS} / {@link #GS} for a segment-override prefix
 * @param insn   for {@link #INTERPRETED} and {@link #LOCKED}, the instruction as the decoder read it,
 *               which the interpreter runs without fetching and decoding it again; null for the others
 *
 * The small fields are bytes: a boot's decoded blocks hold half a million of these (48 bytes each; ints would make it
 * 80).
 */
record BlockOp(byte op, byte length, byte size, byte sub, byte reg, byte rm, byte base, byte index, byte scale,
               long disp, long imm, byte seg, Instruction insn) {
    static final int MEMORY = -1, NONE = -1, RIP = -2, HIGH_BYTE = 32, FS = 1, GS = 2;

    static final int ALU_RM_REG = 0, ALU_REG_RM = 1, ALU_RM_IMM = 2, TEST_RM_REG = 3, TEST_RM_IMM = 4, MOV_RM_REG = 5,
            MOV_REG_RM = 6, MOV_RM_IMM = 7, LEA = 8, MOVZX = 9, MOVSX = 10, INC = 11, DEC = 12, NOT = 13, NEG = 14,
            PUSH_REG = 15, PUSH_IMM = 16, PUSH_RM = 17, POP_REG = 18, IMUL_IMM = 19, IMUL_REG_RM = 20, SHIFT = 21,
            JCC = 22, JMP = 23, CALL = 24, RET = 25, JMP_RM = 26, CALL_RM = 27, CMOV = 28, SETCC = 29, NOP = 30,
            SIGN_EXTEND_ACC = 31, SIGN_FILL_DX = 32, ALU_R64_R64 = 33, ALU_R32_R32 = 34, INC_DEC_R64 = 35,
            MUL_DIV = 36, PAUSE = 37, FENCE = 38, RDTSC = 39, LEAVE = 40, PUSHF = 41, BIT_TEST = 42, MOV_FROM_SEG = 43,
            BSWAP = 44, CLI = 45, INTERPRETED = 46, LOCKED = 47, SSE = 48, SWAP_GS = 49, AC_FLAG = 50;

    /** The op of these fields, each small one in a byte's range (register numbers, sizes, kinds and the like). */
    static BlockOp of(int op, int length, int size, int sub, int reg, int rm, int base, int index, int scale, long disp,
                      long imm, int seg) {
        return new BlockOp(small(op), small(length), small(size), small(sub), small(reg), small(rm), small(base),
                small(index), small(scale), disp, imm, small(seg), null);
    }

    /** This op with {@code decoded}, the instruction it is, for the interpreter to run. */
    BlockOp interpreting(Instruction decoded) {
        return new BlockOp(op, length, size, sub, reg, rm, base, index, scale, disp, imm, seg, decoded);
    }

    private static byte small(int v) {
        if (v != (byte) v) {
            throw new IllegalArgumentException("a decoded op's field out of a byte's range: " + v);
        }
        return (byte) v;
    }

    /** A read-modify-write of memory that sets flags before its store, which may fault: RFLAGS must be restorable. */
    boolean flagsBeforeStore() {
        if (op == INTERPRETED || op == LOCKED) {
            return true; // a locked compare or add sets the flags before its store (LOCKED: when the interpreter runs it)
        }
        return rm == MEMORY && (op == ALU_RM_REG || op == ALU_RM_IMM) ? sub != 7 : rm == MEMORY && (op == INC || op == DEC || op == NEG || op == SHIFT);
    }

    /** Whether the memory operand is addressed through RSP or RBP with no segment override: not canonical is #SS, not #GP. */
    boolean stackAddressed() {
        return seg == 0 && (base == 4 || base == 5);
    }

    /** Whether execution never goes on to the next instruction in the block (a Jcc may). */
    boolean endsBlock() {
        return op == JMP || op == CALL || op == RET || op == JMP_RM || op == CALL_RM;
    }

    // Equality written out, as for every record a launch hashes (LaunchRecordEqualityTest): a region's key hashes its
    // ops at the first compile, and the record's generated methods would make their method handles there (6 ms).

    @Override
    public boolean equals(Object o) {
        return o instanceof BlockOp b && op == b.op && length == b.length && size == b.size && sub == b.sub && reg == b.reg
                && rm == b.rm && base == b.base && index == b.index && scale == b.scale && disp == b.disp && imm == b.imm
                && seg == b.seg && java.util.Objects.equals(insn, b.insn);
    }

    @Override
    public int hashCode() {
        int h = op;
        h = 31 * h + length;
        h = 31 * h + size;
        h = 31 * h + sub;
        h = 31 * h + reg;
        h = 31 * h + rm;
        h = 31 * h + base;
        h = 31 * h + index;
        h = 31 * h + scale;
        h = 31 * h + Long.hashCode(disp);
        h = 31 * h + Long.hashCode(imm);
        h = 31 * h + seg;
        return 31 * h + java.util.Objects.hashCode(insn);
    }
}

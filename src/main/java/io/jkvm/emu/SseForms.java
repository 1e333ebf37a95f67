package io.jkvm.emu;

/**
 * The SSE2 and SSSE3 forms decoded blocks run as a {@link BlockOp#SSE} op, which the block compiler compiles to calls
 * of {@link SseLanes} with the registers as constants (the block executor has the interpreter run them from the
 * instruction, as any {@link BlockOp#INTERPRETED} one): the moves, the bitwise operations, packed add, subtract and
 * compare, the low unpacks, PSHUFD, PSHUFB, shifts by an immediate and MOVD/MOVQ, with a register or a memory operand,
 * which ChaCha20, BLAKE2s and their kind run in long straight runs. The other forms stay {@link BlockOp#INTERPRETED}.
 * The block executor runs them through {@link #run}, the same {@link SseLanes} calls the compiled code makes, without
 * the interpreter's dispatch and the state it saves to restart an instruction (an SSE op changes no general register
 * or flag before it faults).
 */
final class SseForms {
    private SseForms() {
    }

    /**
     * An op's kind ({@code sub}), and what its {@code size} and {@code imm} hold: {@link #MOVE}, all 128 bits to
     * XMM {@code reg} (from memory: imm 1 when it must be 16-byte aligned, MOVAPS and MOVDQA); {@link #STORE}, all 128
     * bits of XMM reg to memory (imm as MOVE's);
     * {@link #LOGIC}, imm the operation ({@link Sse#logicKind}); {@link #LANES}, size the lane, imm 0 add, 1 subtract,
     * 2 equal, 3 greater; {@link #SHIFT} of register {@code reg}, size the lane, imm the operation (2, 4, 6) << 8 | the
     * count; {@link #PSHUFD}, imm the order; {@link #PSHUFB}; {@link #UNPACK}, imm the opcode; {@link #TO_XMM}, XMM
     * {@code reg} from general register {@code rm} of size bytes, zero-extended; {@link #FROM_XMM}, general register
     * {@code rm} (or memory) from XMM {@code reg}'s low size bytes; {@link #MOVQ}, XMM reg from rm's (or memory's) low
     * quadword, its high one 0. A memory operand is {@code rm} {@link BlockOp#MEMORY} with its address parts; the 16
     * bytes a LOGIC, LANES, PSHUFD, PSHUFB or UNPACK op reads must be aligned as {@link Sse#misaligned} says.
     */
    static final int MOVE = 0, LOGIC = 1, LANES = 2, SHIFT = 3, PSHUFD = 4, PSHUFB = 5, UNPACK = 6, TO_XMM = 7,
            FROM_XMM = 8, MOVQ = 9, STORE = 10;

    /** The op of {@code insn} (LEGACY or REX, no LOCK or 67), or null when it is not one of these forms. */
    static BlockOp of(Instruction insn) {
        if (insn.modrm() == null) {
            return null;
        }
        Prefixes p = insn.prefixes();
        boolean p66 = p.operandSize(), only66 = p66 && p.rep() == 0, memory = insn.modrm().mod() != 3;
        int op = insn.opcode(), modrm = insn.modrmByte();
        int reg = (modrm >>> 3 & 7) | (insn.rexR() & 8), rm = memory ? BlockOp.MEMORY : (modrm & 7) | (insn.rexB() & 8);
        if (insn.map() == 2) {
            return op == 0x00 && only66 ? sse(insn, PSHUFB, 16, reg, rm, 0) : null;
        }
        if (insn.map() != 1) {
            return null;
        }
        return switch (op) {
            case 0x10, 0x28 -> p.rep() == 0 ? sse(insn, MOVE, 16, reg, rm, op == 0x28 ? 1 : 0) : null; // MOVUPS, MOVAPS
            case 0x11, 0x29 -> p.rep() == 0 ? stored(insn, reg, rm, op == 0x29) : null;
            case 0x6F -> only66 || !p66 && p.rep() == 0xF3 ? sse(insn, MOVE, 16, reg, rm, p66 ? 1 : 0) : null; // MOVDQA/U
            case 0x7F -> only66 || !p66 && p.rep() == 0xF3 ? stored(insn, reg, rm, p66) : null;
            case 0x54, 0x55, 0x56, 0x57 -> p.rep() == 0 ? sse(insn, LOGIC, 16, reg, rm, Sse.logicKind(op)) : null;
            case 0xDB, 0xDF, 0xEB, 0xEF -> only66 ? sse(insn, LOGIC, 16, reg, rm, Sse.logicKind(op)) : null;
            case 0xFC, 0xFD, 0xFE, 0xD4, 0xF8, 0xF9, 0xFA, 0xFB ->
                    only66 ? sse(insn, LANES, Sse.addLane(op), reg, rm, op >= 0xF8 && op <= 0xFB ? 1 : 0) : null;
            case 0x74, 0x75, 0x76, 0x64, 0x65, 0x66 ->
                    only66 ? sse(insn, LANES, 1 << (op & 3), reg, rm, op >= 0x74 ? 2 : 3) : null;
            case 0x60, 0x61, 0x62, 0x6C, 0x6D -> only66 ? sse(insn, UNPACK, 16, reg, rm, op) : null;
            case 0x70 -> only66 ? sse(insn, PSHUFD, 16, reg, rm, insn.immediate()) : null;
            case 0x71, 0x72, 0x73 -> {
                int kind = modrm >>> 3 & 7, lane = op == 0x71 ? 2 : op == 0x72 ? 4 : 8;
                boolean shift = kind == 2 || kind == 6 || kind == 4 && lane != 8; // not 73 /3, /7: whole bytes
                yield only66 && shift && !memory ? sse(insn, SHIFT, lane, rm, rm, kind << 8 | insn.immediate()) : null;
            }
            case 0x6E -> only66 ? sse(insn, TO_XMM, insn.rexW() ? 8 : 4, reg, rm, 0) : null;
            case 0x7E -> only66 ? sse(insn, FROM_XMM, insn.rexW() ? 8 : 4, reg, rm, 0)
                    : !p66 && p.rep() == 0xF3 ? sse(insn, MOVQ, 8, reg, rm, 0) : null;
            case 0xD6 -> !only66 ? null : memory ? sse(insn, FROM_XMM, 8, reg, rm, 0) : sse(insn, MOVQ, 8, rm, reg, 0);
            default -> null;
        };
    }

    /** MOVUPS, MOVAPS, MOVDQU or MOVDQA from XMM {@code reg} to r/m: a register move, or a store. */
    private static BlockOp stored(Instruction insn, int reg, int rm, boolean aligned) {
        return rm == BlockOp.MEMORY ? sse(insn, STORE, 16, reg, rm, aligned ? 1 : 0) : sse(insn, MOVE, 16, rm, reg, 0);
    }

    private static BlockOp sse(Instruction insn, int kind, int size, int reg, int rm, long imm) {
        if (rm != BlockOp.MEMORY) {
            return BlockOp.of(BlockOp.SSE, insn.length(), size, kind, reg, rm, BlockOp.NONE, BlockOp.NONE, 0, 0, imm, 0);
        }
        ModRm f = insn.modrm();
        return BlockOp.of(BlockOp.SSE, insn.length(), size, kind, reg, rm, f.base(), f.index(), f.scale(), f.disp(), imm,
                BlockDecoder.segment(insn));
    }

    /**
     * Runs {@code d} on {@code c} as its compiled code does ({@link CompiledSse}): the interpreter's checks (SSE
     * enabled, SSSE3 for PSHUFB) first, then, for a memory operand at {@code address}, the alignment check and every
     * read before the XMM register changes, a 16-byte store as two 8-byte ones in order.
     */
    static void run(Core c, BlockOp d, long address) {
        if (!SseLanes.ready(c)) {
            Sse.requireSseEnabled(c);
            if (d.sub() == PSHUFB) {
                SseLanes.requireSsse3(c);
            }
        }
        long[] xmm = c.xmm;
        int x = 2 * d.reg();
        if (d.rm() != BlockOp.MEMORY) {
            int y = 2 * d.rm();
            switch (d.sub()) {
                case SHIFT -> SseLanes.shift(xmm, x, d.size(), (int) (d.imm() >>> 8), (int) (d.imm() & 0xFF));
                case TO_XMM -> {
                    xmm[x] = c.regOf(d.rm(), d.size());
                    xmm[x + 1] = 0;
                }
                case FROM_XMM -> c.setRegOf(d.rm(), d.size(), xmm[x]); // a 4-byte write zero-extends, as MOVD r32 does
                case MOVQ -> {
                    xmm[x] = xmm[y];
                    xmm[x + 1] = 0;
                }
                default -> binary(d, xmm, x, xmm, y);
            }
            return;
        }
        switch (d.sub()) {
            case STORE -> {
                if (d.imm() != 0) {
                    aligned(c, address, true);
                }
                c.write(address, 8, xmm[x]);
                c.write(address + 8, 8, xmm[x + 1]);
            }
            case FROM_XMM -> c.write(address, d.size(), xmm[x]); // the low bytes of the quadword
            case TO_XMM, MOVQ -> {
                long v = c.read(address, d.size());
                xmm[x] = v;
                xmm[x + 1] = 0;
            }
            default -> {
                if (d.sub() != MOVE || d.imm() != 0) {
                    aligned(c, address, d.sub() == MOVE);
                } // MOVUPS and MOVDQU take any address
                long[] operand = c.sseOperand;
                operand[0] = c.read(address, 8);
                operand[1] = c.read(address + 8, 8);
                binary(d, xmm, x, operand, 0);
            }
        }
    }

    /** The SseLanes method of a two-operand op on XMM quadwords {@code x} of {@code xmm}, its source at {@code y} of {@code source}. */
    private static void binary(BlockOp d, long[] xmm, int x, long[] source, int y) {
        switch (d.sub()) {
            case MOVE -> SseLanes.move(xmm, x, source, y);
            case PSHUFB -> SseLanes.pshufb(xmm, x, source, y);
            case LANES -> SseLanes.lanes(d.size(), (int) d.imm(), xmm, x, source, y);
            case LOGIC -> SseLanes.logic((int) d.imm(), xmm, x, source, y);
            case PSHUFD -> SseLanes.pshufd((int) d.imm(), xmm, x, source, y);
            case UNPACK -> SseLanes.unpack((int) d.imm(), xmm, x, source, y);
            default -> throw new IllegalStateException("no SSE form " + d.sub());
        }
    }

    /** The interpreter's check of a 16-byte operand's alignment ({@link Sse#misaligned}). */
    private static void aligned(Core c, long address, boolean strict) {
        if ((address & 15) != 0) {
            Sse.misaligned(c, strict);
        }
    }
}

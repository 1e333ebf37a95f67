package io.jkvm.emu;

import static io.jkvm.emu.OpcodeTable.*;

/**
 * The core's one instruction decoder: legacy prefixes, REX, REX2, VEX and EVEX, the opcode maps, ModRM/SIB and
 * the immediates, read in a CPU's order with {@link OpcodeTable} saying what follows each opcode. It produces the
 * {@link Instruction} both the interpreter and the block decoder run from. The #UDs and the #GP it raises are the
 * ones a CPU raises while decoding (a prefix where none may be, an instruction past 15 bytes); everything an
 * instruction's meaning decides is its handler's.
 *
 * @param code64        64-bit mode
 * @param defaultSize   outside 64-bit mode, CS.D's operand and address size: 2 or 4
 * @param protectedMode outside 64-bit mode, whether C4/C5 with a register ModRM are VEX (not in real or VM86 mode)
 * @param apx           XCR0 enables APX: REX2 and EVEX decode
 * @param apmBranches   the model's vendor is AMD: a 66-prefixed near branch in 64-bit mode has a rel16
 */
record InstructionDecoder(boolean code64, int defaultSize, boolean protectedMode, boolean apx, boolean apmBranches) {

    /** 64-bit mode as a block sees it: its forms decode the same whatever the vendor and XCR0 (see {@link BlockDecoder}). */
    static final InstructionDecoder BLOCKS = new InstructionDecoder(true, 4, true, false, false);

    /** Counts the bytes read: the 16th byte of one instruction is #GP(0). */
    private static final class Reader implements InstructionBytes {
        private final InstructionBytes source;
        private int count;

        Reader(InstructionBytes source) {
            this.source = source;
        }

        @Override
        public int next() {
            if (count == Prefixes.MAX_LENGTH) {
                throw GuestFault.withCode(GuestFault.GP, 0);
            }
            count++;
            return source.next();
        }
    }

    private static GuestFault ud() {
        return GuestFault.of(GuestFault.UD);
    }

    /** Reads one instruction from {@code source}. */
    Instruction decode(InstructionBytes source) {
        Reader in = new Reader(source);
        Prefixes p = Prefixes.scan(in);
        if (p.tooLong()) {
            throw GuestFault.withCode(GuestFault.GP, 0);
        }
        boolean o16 = p.operandSize();
        boolean prefixesForbidVex = o16 || p.rep() != 0 || p.lock();
        int addressSize = code64 ? (p.addressSize() ? 4 : 8) : p.addressSize() ? defaultSize ^ 6 : defaultSize;
        int b = p.next();
        int encoding = Instruction.LEGACY, payload = 0, map = 0, rexR = 0, rexX = 0, rexB = 0;
        boolean w = false;
        if (code64 && b >= 0x40 && b <= 0x4F) {
            encoding = Instruction.REX;
            payload = b;
            w = (b & 8) != 0;
            rexR = (b & 4) << 1;
            rexX = (b & 2) << 2;
            rexB = (b & 1) << 3;
            b = in.next();
            if (b == 0xD5 || (b >= 0x40 && b <= 0x4F)) {
                throw ud(); // REX2 after REX, or REX after REX
            }
        } else if (code64 && b == 0xD5) {
            if (!apx) {
                throw ud();
            }
            int q = in.next();
            encoding = Instruction.REX2;
            payload = q;
            map = q >>> 7;
            rexR = ((q & 0x40) >>> 2) | ((q & 0x04) << 1);
            rexX = ((q & 0x20) >>> 1) | ((q & 0x02) << 2);
            rexB = (q & 0x10) | ((q & 0x01) << 3);
            w = (q & 0x08) != 0;
            b = in.next();
            if (map == 0 && b == 0xA1 && !w) { // JMPABS: REX2 with M0 = 0, W = 0, then A1 imm64
                if (o16 || p.addressSize() || p.rep() != 0 || p.lock()) {
                    throw ud();
                }
                long target = in.nextUnsigned(8);
                return new Instruction(p, encoding, payload, 0, b, rexR, rexX, rexB, false, 8, 8, null, 0xC0, target,
                        8, in.count);
            }
            if (map == 0 && Rex2.forbiddenMap0(b) || map == 1 && Rex2.forbiddenMap1(b)) {
                throw ud();
            }
        }
        int operandSize = w ? 8 : code64 ? (o16 ? 2 : 4) : o16 ? defaultSize ^ 6 : defaultSize;
        if (map == 0 && (b == 0xC4 || b == 0xC5 || b == 0x62) && code64) {
            if (encoding != Instruction.LEGACY || prefixesForbidVex) {
                throw ud(); // VEX or EVEX after REX or a 66/F2/F3/F0 prefix
            }
            return b == 0x62 ? evex(in, p, addressSize) : vex(in, p, b, in.next(), addressSize);
        }
        int firstModrm = -1; // outside 64-bit mode C4/C5 are VEX or LES/LDS by the byte after them
        if (map == 0 && (b == 0xC4 || b == 0xC5)) {
            firstModrm = in.next();
            if ((firstModrm & 0xC0) == 0xC0) {
                if (!protectedMode || prefixesForbidVex) {
                    throw ud();
                }
                return vex(in, p, b, firstModrm, addressSize);
            }
        }
        if (map == 0 && b == 0x0F) {
            map = 1;
            b = in.next();
            if (b == 0x38 || b == 0x3A) {
                map = b == 0x38 ? 2 : 3;
                b = in.next();
            }
        }
        byte[] table = map == 0 ? ONE_BYTE : map == 1 ? TWO_BYTE : map == 2 ? THREE_BYTE_38 : THREE_BYTE_3A;
        int shape = table[b];
        if (code64 && (shape & NOT_IN_64) != 0) {
            shape = NO_IMM;
        }
        return operands(in, p, encoding, payload, map, b, shape, firstModrm, rexR, rexX, rexB, w, operandSize,
                addressSize);
    }

    /** The ModRM and immediate of an opcode of {@code shape}; the opcode is the last byte read. */
    private Instruction operands(Reader in, Prefixes p, int encoding, int payload, int map, int opcode, int shape,
                                 int firstModrm, int rexR, int rexX, int rexB, boolean w, int operandSize,
                                 int addressSize) {
        ModRm modrm = null;
        int modrmByte = 0xC0;
        if ((shape & MODRM_REGISTER) != 0) {
            modrmByte = in.next();
            modrm = new ModRm(3, ((modrmByte >>> 3) & 7) | rexR, (modrmByte & 7) | rexB, BlockOp.NONE, BlockOp.NONE, 0, 0);
        } else if ((shape & MODRM) != 0) {
            modrmByte = firstModrm >= 0 ? firstModrm : in.next();
            modrm = addressSize == 2 ? ModRm.decode16(modrmByte, in)
                    : ModRm.decode(modrmByte, in, rexR, rexX, rexB);
        }
        int size = switch (shape & 0xF) {
            case IB -> 1;
            case IW -> 2;
            case IZ -> operandSize == 2 ? 2 : 4;
            case IV -> operandSize;
            case MOFFS -> addressSize;
            case IW_IB -> 3;
            case FAR_POINTER -> (operandSize == 2 ? 2 : 4) + 2;
            case GROUP3 -> ((modrmByte >>> 3) & 7) > 1 ? 0 : opcode == 0xF6 ? 1 : operandSize == 2 ? 2 : 4;
            case REL -> operandSize == 2 && (!code64 || apmBranches) ? 2 : 4;
            default -> 0;
        };
        long immediate = in.nextUnsigned(size);
        return new Instruction(p, encoding, payload, map, opcode, rexR, rexX, rexB, w, operandSize, addressSize, modrm,
                modrmByte, immediate, size, in.count);
    }

    /**
     * VEX: C5 with one payload byte or C4 with two, then the opcode (maps 0F, 0F38, 0F3A), a ModRM but for VZEROUPPER
     * and VZEROALL, and the imm8 of map 3 and of the 0F forms that have one. The payload is kept in C4's form
     * (P1 | P2 << 8) either way.
     */
    private Instruction vex(Reader in, Prefixes p, int escape, int p1, int addressSize) {
        int rexR = (p1 & 0x80) == 0 ? 8 : 0, rexX = 0, rexB = 0, map = 1, p2;
        if (escape == 0xC5) {
            p2 = p1 & 0x7F; // W0, vvvv, L, pp
            p1 = (p1 & 0x80) | 0x61; // R, X and B not set (inverted), map 0F
        } else {
            p2 = in.next();
            rexX = (p1 & 0x40) == 0 ? 8 : 0;
            rexB = (p1 & 0x20) == 0 ? 8 : 0;
            map = p1 & 0x1F;
        }
        boolean w = (p2 & 0x80) != 0;
        if (!code64) { // outside 64-bit mode VEX.R, X and B are ignored
            rexR = rexX = rexB = 0;
            w = false;
        }
        int opcode = in.next();
        if (map < 1 || map > 3) {
            throw ud();
        }
        int shape = map == 3 || map == 1 && (TWO_BYTE[opcode] & 0xF) == IB ? MODRM | IB
                : map == 1 && opcode == 0x77 ? NO_IMM : MODRM;
        return operands(in, p, Instruction.VEX, p1 | p2 << 8, map, opcode, shape, -1, rexR, rexX, rexB, w,
                w ? 8 : 4, addressSize);
    }

    /** EVEX (64-bit mode, APX): P0 P1 P2, the opcode, a ModRM, and the immediates {@link OpcodeTable#EVEX_MAP4} gives. */
    private Instruction evex(Reader in, Prefixes p, int addressSize) {
        if (!apx) {
            throw ud(); // no AVX-512 in the core, and APX's forms need XCR0[APX]
        }
        int p0 = in.next(), p1 = in.next(), p2 = in.next();
        int rexR = ((~p0 >>> 4) & 8) | (~p0 & 0x10);
        int rexX = ((~p0 >>> 3) & 8) | ((~p1 & 4) << 2);
        int rexB = ((~p0 >>> 2) & 8) | ((p0 & 8) << 1);
        int map = p0 & 7;
        if (map < 2 || map > 4) {
            throw ud();
        }
        boolean w = (p1 & 0x80) != 0;
        int operandSize = w ? 8 : (p1 & 3) == 1 ? 2 : 4;
        int opcode = in.next();
        int shape = map == 4 ? EVEX_MAP4[opcode] : map == 3 ? MODRM | IB : MODRM;
        return operands(in, p, Instruction.EVEX, p0 | p1 << 8 | p2 << 16, map, opcode, shape, -1, rexR, rexX, rexB,
                w, operandSize, addressSize);
    }
}

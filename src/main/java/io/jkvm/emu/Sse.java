package io.jkvm.emu;

import io.jkvm.x86.ControlBits;

/**
 * The SSE/SSE2 integer and move instructions of the baseline x86-64 user space needs: MOVD/MOVQ, MOVAPS/MOVUPS,
 * MOVDQA/MOVDQU, MOVSS/MOVSD moves, the non-temporal stores, the bitwise ops, packed add/sub/compare, unpacks, PSHUFD, shifts by an
 * immediate, PMOVMSKB. XMM registers are Core.xmm[2n] (low quadword) and [2n+1]; REX2's R4/X4/B4 do not reach
 * XMM registers, only REX's R/B bits do.
 */
final class Sse {
    private Sse() {
    }

    /** SSE needs CR4.OSFXSR and CR0.EM clear (else #UD), and CR0.TS clear (else #NM, for lazy FPU switching). */
    static void requireSseEnabled(Core c) {
        if ((c.cr4 & ControlBits.CR4_OSFXSR) == 0 || (c.cr0 & ControlBits.CR0_EM) != 0) {
            throw GuestFault.of(GuestFault.UD);
        }
        if ((c.cr0 & ControlBits.CR0_TS) != 0) {
            throw GuestFault.of(GuestFault.NM);
        }
    }

    static void execute(Core c, int op) {
        if (!c.p66 && c.rep == 0 && Mmx.form(op)) {
            Mmx.execute(c, op);
            return;
        }
        requireSseEnabled(c);
        boolean p66 = c.p66;
        int rep = c.rep;
        c.takeModrm();
        int x = c.regField & 15;
        switch (op) {
            case 0x10, 0x11 -> { // MOVUPS/MOVUPD, MOVSS (F3), MOVSD (F2)
                boolean store = op == 0x11;
                if (rep == 0xF3 || rep == 0xF2) {
                    int size = rep == 0xF3 ? 4 : 8;
                    long mask = size == 4 ? 0xFFFFFFFFL : -1L;
                    if (store) {
                        if (c.mod == 3) {
                            int d = c.rmField & 15;
                            c.xmm[2 * d] = (c.xmm[2 * d] & ~mask) | (c.xmm[2 * x] & mask);
                        } else {
                            c.write(c.ea(), size, c.xmm[2 * x] & mask);
                        }
                    } else if (c.mod == 3) {
                        int sreg = c.rmField & 15;
                        c.xmm[2 * x] = (c.xmm[2 * x] & ~mask) | (c.xmm[2 * sreg] & mask);
                    } else {
                        c.xmm[2 * x] = c.read(c.ea(), size);
                        c.xmm[2 * x + 1] = 0; // a load from memory zeroes the rest
                    }
                } else {
                    move128(c, x, store, false);
                }
            }
            case 0x28, 0x29 -> move128(c, x, op == 0x29, true); // MOVAPS/MOVAPD
            case 0x2B -> { // MOVNTPS, MOVNTPD (66): a store like MOVAPS's, the cache hint has no meaning here
                if (c.mod == 3 || rep != 0) {
                    throw GuestFault.of(GuestFault.UD);
                }
                move128(c, x, true, true);
            }
            case 0xE7 -> { // MOVNTDQ (66)
                requireP66(p66);
                if (c.mod == 3 || rep != 0) {
                    throw GuestFault.of(GuestFault.UD);
                }
                move128(c, x, true, true);
            }
            case 0x6F, 0x7F -> {
                if (!p66 && rep != 0xF3) {
                    throw GuestFault.of(GuestFault.UD); // MMX forms are not implemented
                }
                move128(c, x, op == 0x7F, p66); // MOVDQA (66) / MOVDQU (F3)
            }
            case 0x6E -> { // MOVD/MOVQ xmm, r/m
                requireP66(p66);
                int size = c.opSize == 8 ? 8 : 4;
                long v = c.readRm(size);
                c.xmm[2 * x] = v;
                c.xmm[2 * x + 1] = 0;
            }
            case 0x7E -> {
                if (rep == 0xF3) { // MOVQ xmm, xmm/m64
                    long v = c.mod == 3 ? c.xmm[2 * (c.rmField & 15)] : c.read(c.ea(), 8);
                    c.xmm[2 * x] = v;
                    c.xmm[2 * x + 1] = 0;
                } else { // MOVD/MOVQ r/m, xmm
                    requireP66(p66);
                    int size = c.opSize == 8 ? 8 : 4;
                    c.writeRm(size, c.xmm[2 * x]);
                }
            }
            case 0xD6 -> { // MOVQ xmm/m64, xmm; MOVQ2DQ xmm, mm (F3); MOVDQ2Q mm, xmm (F2)
                if ((rep == 0xF3 || rep == 0xF2) && c.mod == 3) {
                    X87.checkPending(c);
                    if (rep == 0xF3) {
                        c.xmm[2 * x] = c.fpu.mmx(c.rmField & 7);
                        c.xmm[2 * x + 1] = 0;
                    } else {
                        c.fpu.setMmx(c.regField & 7, c.xmm[2 * (c.rmField & 15)]);
                    }
                    c.fpu.enterMmx();
                    break;
                }
                requireP66(p66);
                if (c.mod == 3) {
                    int d = c.rmField & 15;
                    c.xmm[2 * d] = c.xmm[2 * x];
                    c.xmm[2 * d + 1] = 0;
                } else {
                    c.write(c.ea(), 8, c.xmm[2 * x]);
                }
            }
            case 0x54, 0x55, 0x56, 0x57, 0xDB, 0xDF, 0xEB, 0xEF -> { // ANDPS ANDNPS ORPS XORPS / PAND PANDN POR PXOR
                if (op >= 0xDB) {
                    requireP66(p66);
                }
                SseLanes.logic(logicKind(op), c.xmm, 2 * x, source(c), 0);
            }
            case 0xFC, 0xFD, 0xFE, 0xD4, 0xF8, 0xF9, 0xFA, 0xFB -> { // PADDB/W/D/Q, PSUBB/W/D/Q
                requireP66(p66);
                SseLanes.lanes(addLane(op), op >= 0xF8 && op <= 0xFB ? 1 : 0, c.xmm, 2 * x, source(c), 0);
            }
            case 0x74, 0x75, 0x76, 0x64, 0x65, 0x66 -> { // PCMPEQB/W/D, PCMPGTB/W/D
                requireP66(p66);
                SseLanes.lanes(1 << (op & 3), op >= 0x74 ? 2 : 3, c.xmm, 2 * x, source(c), 0);
            }
            case 0x60, 0x61, 0x62, 0x6C, 0x6D -> { // PUNPCKLBW/WD/DQ, PUNPCKLQDQ, PUNPCKHQDQ
                requireP66(p66);
                SseLanes.unpack(op, c.xmm, 2 * x, source(c), 0);
            }
            case 0x70 -> { // PSHUFD (66), PSHUFLW (F2), PSHUFHW (F3)
                long[] s = source(c);
                int order = (int) c.insn.immediate();
                if (rep == 0xF2 || rep == 0xF3) {
                    long[] r = SsePacked.pshufw(s, order, rep == 0xF3);
                    c.xmm[2 * x] = r[0];
                    c.xmm[2 * x + 1] = r[1];
                    break;
                }
                requireP66(p66);
                SseLanes.pshufd(order, c.xmm, 2 * x, s, 0);
            }
            case 0x71, 0x72, 0x73 -> shiftImmediate(c, op, p66);
            case 0x68, 0x69, 0x6A, 0x63, 0x67, 0x6B, 0xD5, 0xE5, 0xE4, 0xF4, 0xF5, 0xDA, 0xDE, 0xEA, 0xEE, 0xE0, 0xE3, 0xF6,
                 0xEC, 0xED, 0xDC, 0xDD, 0xE8, 0xE9, 0xD8, 0xD9, 0xD1, 0xD2, 0xD3, 0xE1, 0xE2, 0xF1, 0xF2, 0xF3 -> {
                requireP66(p66);
                long[] r = SsePacked.binary(op, new long[]{c.xmm[2 * x], c.xmm[2 * x + 1]}, source(c));
                c.xmm[2 * x] = r[0];
                c.xmm[2 * x + 1] = r[1];
            }
            case 0xC6 -> { // SHUFPS / SHUFPD
                long[] s = source(c);
                int imm = (int) c.insn.immediate();
                long[] d = {c.xmm[2 * x], c.xmm[2 * x + 1]};
                long[] r = p66 ? new long[]{d[imm & 1], s[(imm >>> 1) & 1]} : SsePacked.shufps(d, s, imm);
                c.xmm[2 * x] = r[0];
                c.xmm[2 * x + 1] = r[1];
            }
            case 0x14, 0x15 -> { // UNPCKLPS/UNPCKHPS (PD with 66)
                long[] s = source(c);
                long[] d = {c.xmm[2 * x], c.xmm[2 * x + 1]};
                long[] r = SsePacked.unpackFloat(d, s, op == 0x15, p66);
                c.xmm[2 * x] = r[0];
                c.xmm[2 * x + 1] = r[1];
            }
            case 0x50 -> { // MOVMSKPS / MOVMSKPD
                if (c.mod != 3) {
                    throw GuestFault.of(GuestFault.UD);
                }
                int sreg = c.rmField & 15;
                long lo = c.xmm[2 * sreg], hi = c.xmm[2 * sreg + 1];
                long m = p66 ? (lo >>> 63) | ((hi >>> 63) << 1)
                        : ((lo >>> 31) & 1) | ((lo >>> 63) << 1) | (((hi >>> 31) & 1) << 2) | ((hi >>> 63) << 3);
                c.setReg(c.regField, 4, m);
            }
            case 0xC4 -> { // PINSRW xmm, r32/m16, imm8
                requireP66(p66);
                long v = c.readRm(2);
                int i = (int) c.insn.immediate() & 7;
                int half = i / 4, shift = 16 * (i % 4);
                c.xmm[2 * x + half] = (c.xmm[2 * x + half] & ~(0xFFFFL << shift)) | ((v & 0xFFFF) << shift);
            }
            case 0xC5 -> { // PEXTRW r32, xmm, imm8
                requireP66(p66);
                if (c.mod != 3) {
                    throw GuestFault.of(GuestFault.UD);
                }
                int i = (int) c.insn.immediate() & 7;
                int sreg = c.rmField & 15;
                c.setReg(c.regField, 4, (c.xmm[2 * sreg + i / 4] >>> (16 * (i % 4))) & 0xFFFF);
            }
            case 0x12, 0x16 -> { // MOVHLPS/MOVLPS (12), MOVLHPS/MOVHPS (16): register forms move one quadword
                if (rep != 0) {
                    Sse3.duplicate(c, op, x);
                } else if (c.mod == 3) {
                    int sreg = c.rmField & 15;
                    if (op == 0x12) {
                        c.xmm[2 * x] = c.xmm[2 * sreg + 1];
                    } else {
                        c.xmm[2 * x + 1] = c.xmm[2 * sreg];
                    }
                } else {
                    c.xmm[2 * x + (op == 0x16 ? 1 : 0)] = c.read(c.ea(), 8);
                }
            }
            case 0x13, 0x17 -> { // MOVLPS/MOVHPS m64, xmm
                if (c.mod == 3) {
                    throw GuestFault.of(GuestFault.UD);
                }
                c.write(c.ea(), 8, c.xmm[2 * x + (op == 0x17 ? 1 : 0)]);
            }
            case 0xF7 -> { // MASKMOVDQU xmm, xmm
                requireP66(p66);
                if (c.mod != 3) {
                    throw GuestFault.of(GuestFault.UD);
                }
                int mask = c.rmField & 15;
                Mmx.maskedStore(c, c.xmm[2 * x], c.xmm[2 * mask], 0);
                Mmx.maskedStore(c, c.xmm[2 * x + 1], c.xmm[2 * mask + 1], 8);
            }
            case 0xD7 -> { // PMOVMSKB r32, xmm
                requireP66(p66);
                if (c.mod != 3) {
                    throw GuestFault.of(GuestFault.UD);
                }
                int sreg = c.rmField & 15;
                long mask = 0;
                for (int i = 0; i < 16; i++) {
                    long half = c.xmm[2 * sreg + i / 8];
                    mask |= ((half >>> (8 * (i % 8) + 7)) & 1) << i;
                }
                c.setReg(c.regField, 4, mask);
            }
            default -> throw GuestFault.of(GuestFault.UD);
        }
        c.done();
    }

    private static void requireP66(boolean p66) {
        if (!p66) {
            throw GuestFault.of(GuestFault.UD); // the MMX (no 66) form: not implemented
        }
    }

    /** The 128-bit source operand: an XMM register or 16 aligned bytes of memory. */
    static long[] source(Core c) {
        return SseFloat.source(c, 16);
    }

    private static void move128(Core c, int x, boolean store, boolean aligned) {
        if (c.mod == 3) {
            int other = c.rmField & 15;
            int from = store ? x : other, to = store ? other : x;
            SseLanes.move(c.xmm, 2 * to, c.xmm, 2 * from);
            return;
        }
        long a = c.ea();
        if (aligned && (a & 15) != 0) {
            misaligned(c, true);
        }
        if (store) {
            c.write(a, 8, c.xmm[2 * x]);
            c.write(a + 8, 8, c.xmm[2 * x + 1]);
        } else {
            long lo = c.read(a, 8), hi = c.read(a + 8, 8);
            c.xmm[2 * x] = lo;
            c.xmm[2 * x + 1] = hi;
        }
    }

    /**
     * A 16-byte operand not 16-byte aligned: #GP(0) for the moves that require it ({@code strict}: MOVAPS, MOVDQA and
     * the like), else as {@link MemoryAccess#misaligned128} decides for a legacy SSE operand.
     */
    static void misaligned(Core c, boolean strict) {
        if (strict) {
            throw GuestFault.withCode(GuestFault.GP, 0);
        }
        c.misaligned128();
    }

    /** PAND (kind 0), PANDN (1), POR (2), PXOR (3) and the PS forms, on one quadword. */
    static long logic(int kind, long d, long s) {
        return switch (kind) {
            case 0 -> d & s;
            case 1 -> ~d & s;
            case 2 -> d | s;
            default -> d ^ s;
        };
    }

    /** The logic operation of ANDPS..XORPS (54-57) and PAND, PANDN, POR, PXOR (DB, DF, EB, EF): 0 AND .. 3 XOR. */
    static int logicKind(int op) {
        return switch (op) {
            case 0x54, 0xDB -> 0;
            case 0x55, 0xDF -> 1;
            case 0x56, 0xEB -> 2;
            default -> 3;
        };
    }

    /** The lane size in bytes of PADDB/W/D/Q (FC, FD, FE, D4) and PSUBB/W/D/Q (F8-FB). */
    static int addLane(int op) {
        return switch (op) {
            case 0xFC, 0xF8 -> 1;
            case 0xFD, 0xF9 -> 2;
            case 0xFE, 0xFA -> 4;
            default -> 8;
        };
    }

    private static long laneOf(long v, int i, int lane) {
        return lane == 8 ? v : (v >>> (8 * lane * i)) & ((1L << (8 * lane)) - 1);
    }

    /**
     * Lane-wise on one quadword: kind 0 add, 1 sub, 2 compare-equal, 3 compare-greater (signed). Add and subtract
     * work on all lanes at once: each lane's top bit is set aside so no carry or borrow crosses into the next lane,
     * then put back as the sum's or difference's top bit.
     */
    static long lanes(long d, long s, int lane, int kind) {
        if (kind <= 1) {
            if (lane == 8) {
                return kind == 0 ? d + s : d - s;
            }
            long top = topBits(lane);
            return kind == 0 ? addLanes(d, s, top) : subtractLanes(d, s, top);
        }
        long out = 0;
        int bits = 8 * lane;
        long m = lane == 8 ? -1L : (1L << bits) - 1;
        for (int i = 0; i < 8 / lane; i++) {
            long a = laneOf(d, i, lane), b = laneOf(s, i, lane);
            long r = switch (kind) {
                case 0 -> a + b;
                case 1 -> a - b;
                case 2 -> a == b ? m : 0;
                default -> ((a << (64 - bits)) >> (64 - bits)) > ((b << (64 - bits)) >> (64 - bits)) ? m : 0;
            };
            out |= (r & m) << (bits * i);
        }
        return out;
    }

    /** 66 0F 71/72/73 /2 /4 /6 ib: PSRLW/D/Q, PSRAW/D, PSLLW/D/Q; 73 /3 /7: PSRLDQ/PSLLDQ (bytes). */
    private static void shiftImmediate(Core c, int op, boolean p66) {
        requireP66(p66);
        if (c.mod != 3) {
            throw GuestFault.of(GuestFault.UD);
        }
        int kind = c.regField & 7;
        int d = c.rmField & 15;
        int count = (int) c.insn.immediate();
        if (op == 0x73 && (kind == 3 || kind == 7)) {
            java.math.BigInteger v = new java.math.BigInteger(1, be(c.xmm[2 * d + 1], c.xmm[2 * d]));
            int bytes = Math.min(count, 16);
            v = kind == 3 ? v.shiftRight(8 * bytes) : v.shiftLeft(8 * bytes);
            c.xmm[2 * d] = v.longValue();
            c.xmm[2 * d + 1] = v.shiftRight(64).longValue();
            return;
        }
        int lane = op == 0x71 ? 2 : op == 0x72 ? 4 : 8;
        if (!(kind == 2 || kind == 6 || (kind == 4 && lane != 8))) {
            throw GuestFault.of(GuestFault.UD);
        }
        SseLanes.shift(c.xmm, 2 * d, lane, kind, count);
    }

    /** The top bit of each {@code lane}-byte lane of a quadword (lanes of 1, 2 or 4 bytes). */
    /** PADD of the lanes whose top bits {@code top} marks ({@link #topBits}): small, so a compiled block inlines it. */
    static long addLanes(long d, long s, long top) {
        return ((d & ~top) + (s & ~top)) ^ ((d ^ s) & top);
    }

    /** PSUB of the lanes whose top bits {@code top} marks. */
    static long subtractLanes(long d, long s, long top) {
        return ((d | top) - (s & ~top)) ^ ((d ^ ~s) & top);
    }

    static long topBits(int lane) {
        return switch (lane) {
            case 1 -> 0x8080_8080_8080_8080L;
            case 2 -> 0x8000_8000_8000_8000L;
            default -> 0x8000_0000_8000_0000L;
        };
    }

    /**
     * The lanes of one quadword shifted by {@code count}: kind 2 right logical, 4 right arithmetic, 6 left. A logical
     * shift moves the whole quadword and clears the bits that crossed from one lane into the next.
     */
    static long shiftLanes(long v, int lane, int kind, int count) {
        int bits = 8 * lane;
        long m = lane == 8 ? -1L : (1L << bits) - 1;
        if (kind != 4) {
            if (count >= bits) {
                return 0;
            }
            return (kind == 2 ? v >>> count : v << count) & logicalShiftMask(lane, kind, count);
        }
        long out = 0;
        for (int i = 0; i < 8 / lane; i++) { // PSRA: each lane sign-extended, then shifted
            long a = laneOf(v, i, lane);
            long r = ((a << (64 - bits)) >> (64 - bits)) >> Math.min(count, bits - 1);
            out |= (r & m) << (bits * i);
        }
        return out;
    }

    /**
     * The bits of a quadword PSRL (kind 2) or PSLL (6) by {@code count}, below the lane's width, leaves of each
     * {@code lane}-byte lane once the whole quadword is shifted: what stays inside its own lane.
     */
    static long logicalShiftMask(int lane, int kind, int count) {
        long m = lane == 8 ? -1L : (1L << 8 * lane) - 1;
        long each = switch (lane) { // 1 in each lane
            case 1 -> 0x0101_0101_0101_0101L;
            case 2 -> 0x0001_0001_0001_0001L;
            case 4 -> 0x0000_0001_0000_0001L;
            default -> 1;
        };
        return (kind == 2 ? m >>> count : m << count & m) * each;
    }

    private static byte[] be(long hi, long lo) {
        byte[] b = new byte[16];
        for (int i = 0; i < 8; i++) {
            b[i] = (byte) (hi >>> (56 - 8 * i));
            b[8 + i] = (byte) (lo >>> (56 - 8 * i));
        }
        return b;
    }
}

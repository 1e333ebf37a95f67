package io.jkvm.emu;

import io.jkvm.x86.ControlBits;

/**
 * The SSE2/SSSE3 integer operations decoded blocks compile, each on 128-bit values held as two quadwords in an array
 * (an XMM register at {@code Core.xmm[2n]}, or a memory operand as the interpreter read it): the interpreter runs
 * these same methods, and a compiled block calls them with its operands' indexes as constants.
 * {@code d}/{@code di} is the destination (and first source), {@code s}/{@code si} the source; a source is read whole
 * before the destination is written, so they may be the same register.
 */
final class SseLanes {
    private SseLanes() {
    }

    /** MOVDQA, MOVDQU, MOVAPS, MOVUPS and the PD forms between registers. */
    static void move(long[] d, int di, long[] s, int si) {
        long lo = s[si], hi = s[si + 1];
        d[di] = lo;
        d[di + 1] = hi;
    }

    /** PAND (kind 0), PANDN (1), POR (2), PXOR (3), and ANDPS, ANDNPS, ORPS, XORPS and their PD forms. */
    static void logic(int kind, long[] d, int di, long[] s, int si) {
        long lo = s[si], hi = s[si + 1];
        d[di] = Sse.logic(kind, d[di], lo);
        d[di + 1] = Sse.logic(kind, d[di + 1], hi);
    }

    /** PADD (kind 0), PSUB (1), PCMPEQ (2) and PCMPGT (3) of {@code lane}-byte lanes. */
    static void lanes(int lane, int kind, long[] d, int di, long[] s, int si) {
        long lo = s[si], hi = s[si + 1];
        d[di] = Sse.lanes(d[di], lo, lane, kind);
        d[di + 1] = Sse.lanes(d[di + 1], hi, lane, kind);
    }

    /** PSRL (kind 2), PSRA (4) and PSLL (6) of {@code lane}-byte lanes by an immediate {@code count}. */
    static void shift(long[] d, int di, int lane, int kind, int count) {
        d[di] = Sse.shiftLanes(d[di], lane, kind, count);
        d[di + 1] = Sse.shiftLanes(d[di + 1], lane, kind, count);
    }

    /** PSHUFD: dword {@code i} of the result is the source's dword {@code order >> 2i & 3}. */
    static void pshufd(int order, long[] d, int di, long[] s, int si) {
        long lo = s[si], hi = s[si + 1];
        d[di] = dword(lo, hi, order) | dword(lo, hi, order >>> 2) << 32;
        d[di + 1] = dword(lo, hi, order >>> 4) | dword(lo, hi, order >>> 6) << 32;
    }

    private static long dword(long lo, long hi, int which) {
        return ((which & 2) == 0 ? lo : hi) >>> (32 * (which & 1)) & 0xFFFF_FFFFL;
    }

    /** PSHUFB: byte {@code i} of the result is 0 when the source's byte i has its top bit set, else d's byte (s[i] & 15). */
    static void pshufb(long[] d, int di, long[] s, int si) {
        long lo = d[di], hi = d[di + 1], sLo = s[si], sHi = s[si + 1];
        d[di] = shuffled(lo, hi, sLo);
        d[di + 1] = shuffled(lo, hi, sHi);
    }

    /**
     * The selectors of a quadword whose 32-bit lanes are each rotated left by one, two or three bytes (byte 0 first):
     * ChaCha20's rotations by 8 and 16 bits as Linux's and OpenSSL's SSSE3 code make them with PSHUFB.
     */
    private static final long LANES_LEFT_8 = 0x0605040702010003L, LANES_LEFT_16 = 0x0504070601000302L,
            LANES_LEFT_24 = 0x0407060500030201L;

    /** PSHUFB on one quadword of selectors over the 16 bytes {@code lo}, {@code hi} (the MMX form passes its 8 twice). */
    static long shuffled(long lo, long hi, long selectors) {
        long from = selectors & 0x8888888888888888L; // each byte's bit 7 (zero it) and bit 3 (the high quadword)
        if (from == 0 || from == 0x0808080808080808L) { // every byte from one quadword: maybe a rotation of its lanes
            long order = selectors & 0x0707070707070707L, source = from == 0 ? lo : hi;
            if (order == LANES_LEFT_16) {
                return lanesRotated(source, 16);
            } else if (order == LANES_LEFT_8) {
                return lanesRotated(source, 8);
            } else if (order == LANES_LEFT_24) {
                return lanesRotated(source, 24);
            }
        }
        long out = 0;
        for (int i = 0; i < 8; i++) {
            int b = (int) (selectors >>> (8 * i)) & 0xFF;
            if ((b & 0x80) == 0) {
                out |= (((b & 8) == 0 ? lo : hi) >>> (8 * (b & 7)) & 0xFF) << (8 * i);
            }
        }
        return out;
    }

    /** The two 32-bit lanes of {@code quadword}, each rotated left by {@code bits}. */
    private static long lanesRotated(long quadword, int bits) {
        return Integer.rotateLeft((int) quadword, bits) & 0xFFFF_FFFFL
                | (long) Integer.rotateLeft((int) (quadword >>> 32), bits) << 32;
    }

    /** PUNPCKLBW/WD/DQ (60-62): the low halves' lanes interleaved; PUNPCKLQDQ (6C) and PUNPCKHQDQ (6D). */
    static void unpack(int op, long[] d, int di, long[] s, int si) {
        long dLo = d[di], dHi = d[di + 1], sLo = s[si], sHi = s[si + 1];
        switch (op) {
            case 0x6C -> d[di + 1] = sLo;
            case 0x6D -> {
                d[di] = dHi;
                d[di + 1] = sHi;
            }
            default -> {
                int bits = 8 << (op - 0x60);
                d[di] = interleaved(dLo, sLo, bits);
                d[di + 1] = interleaved(dLo >>> 32, sLo >>> 32, bits);
            }
        }
    }

    /** The low 32 bits' lanes of {@code a} and {@code b} ({@code bits} wide), a's first, in turn. */
    static long interleaved(long a, long b, int bits) {
        long m = bits == 32 ? 0xFFFF_FFFFL : (1L << bits) - 1, out = 0;
        for (int i = 0; i < 32 / bits; i++) {
            out |= (a >>> (bits * i) & m) << (2 * bits * i) | (b >>> (bits * i) & m) << (2 * bits * i + bits);
        }
        return out;
    }

    /**
     * Whether every SSE and SSSE3 form runs without a fault now: SSE enabled ({@link Sse#requireSseEnabled}) and SSSE3
     * in the model.
     */
    static boolean ready(Core c) {
        return ready(c, true);
    }

    /**
     * Whether every SSE form, and SSSE3's too when {@code ssse3}, runs without a fault now. runDecoded asks before it
     * enters a compiled region with SSE ops: CR0 and CR4 do not change while it runs (MOV to a control register, CLTS,
     * XRSTOR and task switches are no op of a block, and interrupts are taken once it has left).
     */
    static boolean ready(Core c, boolean ssse3) {
        return (c.cr4 & ControlBits.CR4_OSFXSR) != 0 && (c.cr0 & (ControlBits.CR0_EM | ControlBits.CR0_TS)) == 0
                && (c.ssse3 || !ssse3);
    }

    /** SSSE3's forms are #UD on a model without it (CPUID.1:ECX[9]). */
    static void requireSsse3(Core c) {
        if (!c.ssse3) {
            throw GuestFault.of(GuestFault.UD);
        }
    }
}

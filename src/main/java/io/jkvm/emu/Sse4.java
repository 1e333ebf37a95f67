package io.jkvm.emu;

/**
 * The SSSE3 and SSE4.1/4.2 integer instructions (66 0F 38 and 66 0F 3A) compilers and C libraries emit: PSHUFB,
 * PALIGNR, PABSB/W/D, the PMIN and PMAX forms, PMULLD, PCMPEQQ, PCMPGTQ, PACKUSDW, PMOVSX/PMOVZX, PTEST, PBLENDW,
 * PINSRB/D/Q and PEXTRB/D/Q. Each is #UD where the CPU model lacks its feature. Lanes are worked on as 16 bytes, low
 * byte first.
 */
final class Sse4 {
    private Sse4() {
    }

    private static final int SSSE3 = 9, SSE4_1 = 19, SSE4_2 = 20; // CPUID.1:ECX bits

    /** Whether 66 0F 38 {@code op} is one of these (the rest of the 0F 38 map stays with Bmi). */
    static boolean in0F38(int op) {
        return switch (op) {
            case 0x00, 0x1C, 0x1D, 0x1E, 0x17, 0x29, 0x2B, 0x37, 0x40, 0x20, 0x21, 0x22, 0x23, 0x24, 0x25,
                 0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x38, 0x39, 0x3A, 0x3B, 0x3C, 0x3D, 0x3E, 0x3F -> true;
            default -> false;
        };
    }

    static void execute0F38(Core c, int op) {
        Sse.requireSseEnabled(c);
        require(c, op == 0x00 || (op >= 0x1C && op <= 0x1E) ? SSSE3 : op == 0x37 ? SSE4_2 : SSE4_1);
        c.decodeModrm();
        int x = c.regField & 15;
        if (op >= 0x20 && op <= 0x35 && (op & 0xF) <= 5) {
            extend(c, x, op);
            return;
        }
        byte[] d = bytes(c.xmm[2 * x], c.xmm[2 * x + 1]);
        long[] sl = Sse.source(c);
        byte[] s = bytes(sl[0], sl[1]);
        byte[] out = new byte[16];
        switch (op) {
            case 0x00 -> { // PSHUFB
                for (int i = 0; i < 16; i++) {
                    out[i] = (s[i] & 0x80) != 0 ? 0 : d[s[i] & 15];
                }
            }
            case 0x1C, 0x1D, 0x1E -> { // PABSB, PABSW, PABSD
                int size = 1 << (op - 0x1C);
                for (int i = 0; i < 16 / size; i++) {
                    put(out, i, size, Math.abs(lane(s, i, size, true)));
                }
            }
            case 0x17 -> { // PTEST: ZF when d AND s is zero, CF when (NOT d) AND s is; the other arithmetic flags clear
                boolean and = false, andNot = false;
                for (int i = 0; i < 16; i++) {
                    and |= (d[i] & s[i]) != 0;
                    andNot |= (~d[i] & s[i]) != 0;
                }
                c.setArith((and ? 0 : Core.ZF) | (andNot ? 0 : Core.CF));
                c.done();
                return;
            }
            case 0x29, 0x37 -> { // PCMPEQQ, PCMPGTQ (signed)
                for (int i = 0; i < 2; i++) {
                    long a = lane(d, i, 8, true), b = lane(s, i, 8, true);
                    put(out, i, 8, (op == 0x29 ? a == b : a > b) ? -1 : 0);
                }
            }
            case 0x2B -> { // PACKUSDW: signed dwords to unsigned-saturated words, d's then s's
                for (int i = 0; i < 4; i++) {
                    put(out, i, 2, Math.clamp(lane(d, i, 4, true), 0, 0xFFFF));
                    put(out, i + 4, 2, Math.clamp(lane(s, i, 4, true), 0, 0xFFFF));
                }
            }
            case 0x40 -> { // PMULLD
                for (int i = 0; i < 4; i++) {
                    put(out, i, 4, lane(d, i, 4, true) * lane(s, i, 4, true));
                }
            }
            default -> { // 38-3F: PMINSB PMINSD PMINUW PMINUD PMAXSB PMAXSD PMAXUW PMAXUD
                int kind = op & 3;
                int size = kind == 0 ? 1 : kind == 2 ? 2 : 4;
                boolean signed = kind <= 1, max = op >= 0x3C;
                for (int i = 0; i < 16 / size; i++) {
                    long a = lane(d, i, size, signed), b = lane(s, i, size, signed);
                    put(out, i, size, max ? Math.max(a, b) : Math.min(a, b));
                }
            }
        }
        store(c, x, out);
        c.done();
    }

    /** PMOVSX (20-25) and PMOVZX (30-35): the low lanes of the source widened; a memory source is only as wide as they are. */
    private static void extend(Core c, int x, int op) {
        int[][] widths = {{1, 2}, {1, 4}, {1, 8}, {2, 4}, {2, 8}, {4, 8}}; // BW BD BQ WD WQ DQ
        int from = widths[op & 0xF][0], to = widths[op & 0xF][1];
        int count = 16 / to;
        byte[] s;
        if (c.mod == 3) {
            int r = c.rmField & 15;
            s = bytes(c.xmm[2 * r], c.xmm[2 * r + 1]);
        } else {
            int n = count * from;
            long v = c.read(c.ea(), n);
            s = bytes(v, 0);
        }
        byte[] out = new byte[16];
        for (int i = 0; i < count; i++) {
            put(out, i, to, lane(s, i, from, op < 0x30));
        }
        store(c, x, out);
        c.done();
    }

    static void execute0F3A(Core c, int op) {
        if (!c.p66 || c.rep != 0) {
            throw GuestFault.of(GuestFault.UD);
        }
        Sse.requireSseEnabled(c);
        switch (op) {
            case 0x0F, 0x0E -> { // PALIGNR, PBLENDW
                require(c, op == 0x0F ? SSSE3 : SSE4_1);
                c.decodeModrm();
                int x = c.regField & 15;
                int imm = c.fetch8(); // before the operand: a RIP-relative address counts from the instruction's end
                long[] sl = Sse.source(c);
                byte[] d = bytes(c.xmm[2 * x], c.xmm[2 * x + 1]), s = bytes(sl[0], sl[1]), out = new byte[16];
                for (int i = 0; i < 16; i++) {
                    if (op == 0x0F) {
                        int at = i + imm; // s is the low 16 bytes of the 32 shifted right, d the high ones
                        out[i] = at < 16 ? s[at] : at < 32 ? d[at - 16] : 0;
                    } else {
                        out[i] = ((imm >>> (i / 2)) & 1) != 0 ? s[i] : d[i];
                    }
                }
                store(c, x, out);
            }
            case 0x14, 0x16 -> { // PEXTRB, PEXTRD/PEXTRQ: an XMM lane to r/m
                require(c, SSE4_1);
                c.decodeModrm();
                int x = c.regField & 15;
                int size = op == 0x14 ? 1 : c.rexW ? 8 : 4;
                int imm = c.fetch8();
                long v = lane(bytes(c.xmm[2 * x], c.xmm[2 * x + 1]), imm & (16 / size - 1), size, false);
                if (c.mod == 3) {
                    c.setReg(c.rmField, size == 8 ? 8 : 4, v); // a register gets the lane zero-extended
                } else {
                    c.write(c.ea(), size, v);
                }
            }
            case 0x20, 0x22 -> { // PINSRB, PINSRD/PINSRQ: r/m into an XMM lane
                require(c, SSE4_1);
                c.decodeModrm();
                int x = c.regField & 15;
                int size = op == 0x20 ? 1 : c.rexW ? 8 : 4;
                int imm = c.fetch8();
                long v = c.mod == 3 ? c.reg(c.rmField, size == 8 ? 8 : 4) : c.read(c.ea(), size);
                byte[] d = bytes(c.xmm[2 * x], c.xmm[2 * x + 1]);
                put(d, imm & (16 / size - 1), size, v);
                store(c, x, d);
            }
            default -> throw GuestFault.of(GuestFault.UD);
        }
        c.done();
    }

    private static void require(Core c, int ecxBit) {
        if (!c.cpuidHas(1, 0, 2, ecxBit)) {
            throw GuestFault.of(GuestFault.UD);
        }
    }

    private static byte[] bytes(long lo, long hi) {
        byte[] b = new byte[16];
        for (int i = 0; i < 8; i++) {
            b[i] = (byte) (lo >>> (8 * i));
            b[i + 8] = (byte) (hi >>> (8 * i));
        }
        return b;
    }

    private static void store(Core c, int x, byte[] b) {
        c.xmm[2 * x] = lane(b, 0, 8, false);
        c.xmm[2 * x + 1] = lane(b, 1, 8, false);
    }

    /** Lane {@code i} of {@code size} bytes, sign- or zero-extended (an 8-byte lane is the long itself). */
    private static long lane(byte[] b, int i, int size, boolean signed) {
        long v = 0;
        for (int k = size - 1; k >= 0; k--) {
            v = (v << 8) | (b[i * size + k] & 0xFF);
        }
        if (signed && size < 8) {
            int shift = 64 - 8 * size;
            v = (v << shift) >> shift;
        }
        return v;
    }

    private static void put(byte[] b, int i, int size, long v) {
        for (int k = 0; k < size; k++) {
            b[i * size + k] = (byte) (v >>> (8 * k));
        }
    }
}

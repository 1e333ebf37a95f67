package io.jkvm.emu;

/**
 * The SSSE3 and SSE4.1/4.2 instructions (66 0F 38 and 66 0F 3A): PSHUFB, PALIGNR, PHADD/PHSUB, PMADDUBSW, PMULHRSW,
 * PSIGN, PABS, the PMIN and PMAX forms, PMULLD, PMULDQ, PCMPEQQ, PCMPGTQ, PACKUSDW, PMOVSX/PMOVZX, PTEST, the
 * blends, PINSR/PEXTR, INSERTPS, EXTRACTPS, MOVNTDQA and ROUNDPS/PD/SS/SD (soft float, as the other SSE arithmetic);
 * MPSADBW, PHMINPOSUW and DPPS/DPPD; not yet PCMPxSTRx. Each is #UD where the CPU model lacks its feature. Lanes
 * are worked on as 16 bytes, low byte first.
 */
final class Sse4 {
    private Sse4() {
    }

    private static final int SSSE3 = 9, SSE4_1 = 19, SSE4_2 = 20; // CPUID.1:ECX bits

    /** Whether 66 0F 38 {@code op} is one of these (the rest of the 0F 38 map stays with Bmi). */
    static boolean in0F38(int op) {
        return switch (op) {
            case 0x00, 0x1C, 0x1D, 0x1E, 0x17, 0x29, 0x2B, 0x37, 0x40, 0x20, 0x21, 0x22, 0x23, 0x24, 0x25,
                 0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x38, 0x39, 0x3A, 0x3B, 0x3C, 0x3D, 0x3E, 0x3F,
                 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0A, 0x0B, 0x10, 0x14, 0x15, 0x28, 0x2A, 0x41 -> true;
            default -> false;
        };
    }

    static void execute0F38(Core c, int op) {
        Sse.requireSseEnabled(c);
        require(c, op <= 0x0B || (op >= 0x1C && op <= 0x1E) ? SSSE3 : op == 0x37 ? SSE4_2 : SSE4_1);
        c.takeModrm();
        int x = c.regField & 15;
        if (op == 0x2A) { // MOVNTDQA: an aligned 16-byte load
            if (c.mod == 3) {
                throw GuestFault.of(GuestFault.UD);
            }
            long[] v = Sse.source(c);
            c.xmm[2 * x] = v[0];
            c.xmm[2 * x + 1] = v[1];
            c.done();
            return;
        }
        if (op >= 0x20 && op <= 0x35 && (op & 0xF) <= 5) {
            extend(c, x, op);
            return;
        }
        if (op == 0x00) { // PSHUFB
            SseLanes.pshufb(c.xmm, 2 * x, Sse.source(c), 0);
            c.done();
            return;
        }
        byte[] d = bytes(c.xmm[2 * x], c.xmm[2 * x + 1]);
        long[] sl = Sse.source(c);
        byte[] s = bytes(sl[0], sl[1]);
        byte[] out = new byte[16];
        switch (op) {
            case 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0A, 0x0B, 0x1C, 0x1D, 0x1E -> out = ssse3(op, d, s);
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
            case 0x10, 0x14, 0x15 -> { // PBLENDVB, BLENDVPS, BLENDVPD: s where XMM0's lane has its top bit set
                int size = op == 0x10 ? 1 : op == 0x14 ? 4 : 8;
                byte[] mask = bytes(c.xmm[0], c.xmm[1]);
                for (int i = 0; i < 16; i++) {
                    out[i] = mask[(i / size) * size + size - 1] < 0 ? s[i] : d[i];
                }
            }
            case 0x41 -> { // PHMINPOSUW: the smallest unsigned word of s and (bits 18:16) its first index; the rest zero
                int at = 0;
                for (int i = 1; i < 8; i++) {
                    if (lane(s, i, 2, false) < lane(s, at, 2, false)) {
                        at = i;
                    }
                }
                put(out, 0, 4, lane(s, at, 2, false) | ((long) at << 16));
            }
            case 0x28 -> { // PMULDQ: signed dwords 0 and 2 to signed quadwords
                for (int i = 0; i < 2; i++) {
                    put(out, i, 8, lane(d, 2 * i, 4, true) * lane(s, 2 * i, 4, true));
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
        if (!c.p66 && c.rep == 0 && op == 0x0F) {
            Mmx.palignr(c);
            return;
        }
        if (!c.p66 || c.rep != 0) {
            throw GuestFault.of(GuestFault.UD);
        }
        Sse.requireSseEnabled(c);
        switch (op) {
            case 0x60, 0x61, 0x62, 0x63 -> { // PCMPESTRM, PCMPESTRI, PCMPISTRM, PCMPISTRI
                require(c, SSE4_2);
                StringCompares.execute(c, op);
            }
            case 0x0C, 0x0D -> { // BLENDPS, BLENDPD: dwords or quadwords of s where the immediate's bit is set
                require(c, SSE4_1);
                c.takeModrm();
                int x = c.regField & 15;
                int imm = (int) c.insn.immediate();
                long[] sl = Sse.source(c);
                int size = op == 0x0C ? 4 : 8;
                byte[] d = bytes(c.xmm[2 * x], c.xmm[2 * x + 1]), s = bytes(sl[0], sl[1]);
                for (int i = 0; i < 16 / size; i++) {
                    if (((imm >>> i) & 1) != 0) {
                        put(d, i, size, lane(s, i, size, false));
                    }
                }
                store(c, x, d);
            }
            case 0x08, 0x09, 0x0A, 0x0B -> { // ROUNDPS, ROUNDPD, ROUNDSS, ROUNDSD
                require(c, SSE4_1);
                c.takeModrm();
                int x = c.regField & 15;
                int imm = (int) c.insn.immediate();
                boolean dbl = (op & 1) != 0, scalar = op >= 0x0A;
                SoftFloat.Format f = dbl ? SoftFloat.DOUBLE : SoftFloat.SINGLE;
                int bits = dbl ? 64 : 32;
                long[] src = SseFloat.source(c, scalar ? bits / 8 : 16);
                long[] out = scalar ? new long[]{c.xmm[2 * x], c.xmm[2 * x + 1]} : new long[2];
                SoftFloat.Mode mode = SoftFloat.Mode.of(c.mxcsr);
                int rounding = (imm & 4) != 0 ? mode.rounding() : imm & 3; // imm[2]: MXCSR.RC instead of imm[1:0]
                int flags = 0;
                for (int i = 0; i < (scalar ? 1 : 128 / bits); i++) {
                    SoftFloat.Result r = SoftFloat.roundToIntegral(SseFloat.lane(src, i, bits), f, mode, rounding, (imm & 8) != 0);
                    flags |= r.flags();
                    SseFloat.setLane(out, i, bits, r.bits());
                }
                SseFloat.raise(c, flags); // an unmasked exception faults before the destination changes
                c.xmm[2 * x] = out[0];
                c.xmm[2 * x + 1] = out[1];
            }
            case 0x40, 0x41 -> { // DPPS, DPPD: the products imm[7:4] selects, summed in pairs, into the lanes imm[3:0] selects
                require(c, SSE4_1);
                c.takeModrm();
                int x = c.regField & 15;
                int imm = (int) c.insn.immediate();
                long[] src = Sse.source(c);
                boolean dbl = op == 0x41;
                SoftFloat.Format f = dbl ? SoftFloat.DOUBLE : SoftFloat.SINGLE;
                int bits = dbl ? 64 : 32, lanes = 128 / bits;
                SoftFloat.Mode mode = SoftFloat.Mode.of(c.mxcsr);
                long[] dst = {c.xmm[2 * x], c.xmm[2 * x + 1]};
                long[] product = new long[lanes];
                int flags = 0;
                for (int i = 0; i < lanes; i++) {
                    if (((imm >>> (4 + i)) & 1) != 0) {
                        SoftFloat.Result r = SoftFloat.arithmetic(SoftFloat.MUL, SseFloat.lane(dst, i, bits), SseFloat.lane(src, i, bits), f, mode);
                        flags |= r.flags();
                        product[i] = r.bits();
                    }
                }
                SoftFloat.Result sum = SoftFloat.arithmetic(SoftFloat.ADD, product[0], product[1], f, mode);
                flags |= sum.flags();
                if (!dbl) {
                    SoftFloat.Result high = SoftFloat.arithmetic(SoftFloat.ADD, product[2], product[3], f, mode);
                    sum = SoftFloat.arithmetic(SoftFloat.ADD, sum.bits(), high.bits(), f, mode);
                    flags |= high.flags() | sum.flags();
                }
                long[] out = new long[2];
                for (int i = 0; i < lanes; i++) {
                    SseFloat.setLane(out, i, bits, ((imm >>> i) & 1) != 0 ? sum.bits() : 0);
                }
                SseFloat.raise(c, flags);
                c.xmm[2 * x] = out[0];
                c.xmm[2 * x + 1] = out[1];
            }
            case 0x42 -> { // MPSADBW: eight sums of absolute differences of 4 bytes, d sliding from imm[2]*4 against s at imm[1:0]*4
                require(c, SSE4_1);
                c.takeModrm();
                int x = c.regField & 15;
                int imm = (int) c.insn.immediate();
                long[] sl = Sse.source(c);
                byte[] d = bytes(c.xmm[2 * x], c.xmm[2 * x + 1]), s = bytes(sl[0], sl[1]), out = new byte[16];
                int from = ((imm >>> 2) & 1) * 4, block = (imm & 3) * 4;
                for (int i = 0; i < 8; i++) {
                    long sum = 0;
                    for (int j = 0; j < 4; j++) {
                        sum += Math.abs((d[from + i + j] & 0xFF) - (s[block + j] & 0xFF));
                    }
                    put(out, i, 2, sum);
                }
                store(c, x, out);
            }
            case 0x21 -> { // INSERTPS: one dword (a register's lane, or 4 bytes of memory) into a lane, then zeroing
                require(c, SSE4_1);
                c.takeModrm();
                int x = c.regField & 15;
                int imm = (int) c.insn.immediate();
                long v;
                if (c.mod == 3) {
                    int r = c.rmField & 15;
                    v = lane(bytes(c.xmm[2 * r], c.xmm[2 * r + 1]), (imm >>> 6) & 3, 4, false);
                } else {
                    v = c.read(c.ea(), 4);
                }
                byte[] d = bytes(c.xmm[2 * x], c.xmm[2 * x + 1]);
                put(d, (imm >>> 4) & 3, 4, v);
                for (int i = 0; i < 4; i++) {
                    if (((imm >>> i) & 1) != 0) {
                        put(d, i, 4, 0);
                    }
                }
                store(c, x, d);
            }
            case 0x0F, 0x0E -> { // PALIGNR, PBLENDW
                require(c, op == 0x0F ? SSSE3 : SSE4_1);
                c.takeModrm();
                int x = c.regField & 15;
                int imm = (int) c.insn.immediate();
                long[] sl = Sse.source(c);
                byte[] d = bytes(c.xmm[2 * x], c.xmm[2 * x + 1]), s = bytes(sl[0], sl[1]), out = new byte[16];
                if (op == 0x0F) {
                    out = palignr(d, s, imm);
                } else {
                    for (int i = 0; i < 16; i++) {
                        out[i] = ((imm >>> (i / 2)) & 1) != 0 ? s[i] : d[i];
                    }
                }
                store(c, x, out);
            }
            case 0x14, 0x15, 0x16, 0x17 -> { // PEXTRB, PEXTRW, PEXTRD/PEXTRQ, EXTRACTPS: an XMM lane to r/m
                require(c, SSE4_1);
                c.takeModrm();
                int x = c.regField & 15;
                int size = op == 0x14 ? 1 : op == 0x15 ? 2 : op == 0x16 && c.rexW ? 8 : 4;
                int imm = (int) c.insn.immediate();
                long v = lane(bytes(c.xmm[2 * x], c.xmm[2 * x + 1]), imm & (16 / size - 1), size, false);
                if (c.mod == 3) {
                    c.setReg(c.rmField, size == 8 ? 8 : 4, v); // a register gets the lane zero-extended
                } else {
                    c.write(c.ea(), size, v);
                }
            }
            case 0x20, 0x22 -> { // PINSRB, PINSRD/PINSRQ: r/m into an XMM lane
                require(c, SSE4_1);
                c.takeModrm();
                int x = c.regField & 15;
                int size = op == 0x20 ? 1 : c.rexW ? 8 : 4;
                int imm = (int) c.insn.immediate();
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

    /**
     * The SSSE3 integer operations of 0F 38 on 16-byte operands but PSHUFB ({@link SseLanes#pshufb}): PHADD/PHSUB(S),
     * PMADDUBSW, PSIGN, PMULHRSW, PABS. The MMX forms ({@link Mmx}) run through here with their 8-byte operands placed as
     * these expect.
     */
    static byte[] ssse3(int op, byte[] d, byte[] s) {
        byte[] out = new byte[16];
        switch (op) {
            case 0x1C, 0x1D, 0x1E -> { // PABSB, PABSW, PABSD
                int size = 1 << (op - 0x1C);
                for (int i = 0; i < 16 / size; i++) {
                    put(out, i, size, Math.abs(lane(s, i, size, true)));
                }
            }
            case 0x01, 0x02, 0x03, 0x05, 0x06, 0x07 -> { // PHADDW/D/SW, PHSUBW/D/SW: pairs of d, then pairs of s
                int size = (op & 3) == 2 ? 4 : 2;
                boolean subtract = op >= 0x05, saturate = (op & 3) == 3;
                int half = 8 / size;
                for (int i = 0; i < half; i++) {
                    for (int k = 0; k < 2; k++) {
                        byte[] from = k == 0 ? d : s;
                        long a = lane(from, 2 * i, size, true), b = lane(from, 2 * i + 1, size, true);
                        long v = subtract ? a - b : a + b;
                        put(out, k * half + i, size, saturate ? Math.clamp(v, -32768, 32767) : v);
                    }
                }
            }
            case 0x04 -> { // PMADDUBSW: unsigned bytes of d times signed bytes of s, adjacent pairs summed, saturated
                for (int i = 0; i < 8; i++) {
                    long v = lane(d, 2 * i, 1, false) * lane(s, 2 * i, 1, true) + lane(d, 2 * i + 1, 1, false) * lane(s, 2 * i + 1, 1, true);
                    put(out, i, 2, Math.clamp(v, -32768, 32767));
                }
            }
            case 0x08, 0x09, 0x0A -> { // PSIGNB/W/D: d negated, zeroed or kept by the sign of s
                int size = 1 << (op - 0x08);
                for (int i = 0; i < 16 / size; i++) {
                    long sign = lane(s, i, size, true);
                    put(out, i, size, sign < 0 ? -lane(d, i, size, true) : sign == 0 ? 0 : lane(d, i, size, true));
                }
            }
            case 0x0B -> { // PMULHRSW: signed words multiplied, rounded and scaled: ((a * b >> 14) + 1) >> 1
                for (int i = 0; i < 8; i++) {
                    put(out, i, 2, ((lane(d, i, 2, true) * lane(s, i, 2, true) >> 14) + 1) >> 1);
                }
            }
            default -> throw new IllegalArgumentException("not an SSSE3 0F 38 operation: " + op);
        }
        return out;
    }

    /** PALIGNR: d:s (32 bytes, s low) shifted right by imm bytes, the low 16. */
    static byte[] palignr(byte[] d, byte[] s, int imm) {
        byte[] out = new byte[16];
        for (int i = 0; i < 16; i++) {
            int at = i + imm;
            out[i] = at < 16 ? s[at] : at < 32 ? d[at - 16] : 0;
        }
        return out;
    }

    static byte[] bytes(long lo, long hi) {
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
    static long lane(byte[] b, int i, int size, boolean signed) {
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

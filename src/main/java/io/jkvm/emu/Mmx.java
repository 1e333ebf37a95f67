package io.jkvm.emu;

import io.jkvm.x86.ControlBits;

/**
 * MMX and the 64-bit forms SSE, SSE2 and SSSE3 added to it, on MM0-MM7 (the x87 registers' significands). The
 * arithmetic is the 128-bit forms' own ({@link Sse}, {@link SsePacked}, {@link Sse4}): the 8-byte operands are placed
 * in 16-byte ones so that the low half of the result is the MMX result (element-wise operations as they are, the
 * high unpacks from the upper dwords, packs and horizontal operations with the source as the destination's high half).
 * Every MMX instruction is #UD under CR0.EM, #NM under CR0.TS and #MF with an x87 exception pending, and leaves TOP 0
 * with every register tagged valid (EMMS: every register empty).
 */
final class Mmx {
    private Mmx() {
    }

    /** The 0F opcodes that, with no 66, F2 or F3 prefix, work on MMX registers. */
    static boolean form(int op) {
        return (op >= 0x60 && op <= 0x6B) || op == 0x6E || op == 0x6F || (op >= 0x70 && op <= 0x77) || op == 0x7E
                || op == 0x7F || op == 0xC4 || op == 0xC5 || (op >= 0xD1 && op <= 0xD5) || (op >= 0xD7 && op <= 0xEF && op != 0xE6)
                || (op >= 0xF1 && op <= 0xFE);
    }

    private static void enter(Core c) {
        if ((c.cr0 & ControlBits.CR0_EM) != 0) {
            throw GuestFault.of(GuestFault.UD);
        }
        if ((c.cr0 & ControlBits.CR0_TS) != 0) {
            throw GuestFault.of(GuestFault.NM);
        }
        X87.checkPending(c);
    }

    private static long source(Core c) {
        return c.mod == 3 ? c.fpu.mmx(c.rmField & 7) : c.read(X87.address(c, 8, false), 8);
    }

    private static void set(Core c, int n, long v) {
        c.fpu.setMmx(n & 7, v);
    }

    /** 0F 77 EMMS: every x87 register empty, and TOP 0 as after any MMX instruction (SDM Vol. 1, Table 9-2). */
    static void emms(Core c) {
        enter(c);
        c.fpu.valid = 0;
        c.fpu.top = 0;
        c.done();
    }

    static void execute(Core c, int op) {
        enter(c);
        c.takeModrm();
        int m = c.regField & 7;
        X87State f = c.fpu;
        switch (op) {
            case 0x6E -> set(c, m, c.readRm(c.rexW ? 8 : 4)); // MOVD/MOVQ mm, r/m
            case 0x7E -> c.writeRm(c.rexW ? 8 : 4, f.mmx(m)); // MOVD/MOVQ r/m, mm
            case 0x6F -> set(c, m, source(c)); // MOVQ mm, mm/m64
            case 0x7F, 0xE7 -> { // MOVQ mm/m64, mm; MOVNTQ m64, mm
                if (c.mod == 3) {
                    if (op == 0xE7) {
                        throw GuestFault.of(GuestFault.UD);
                    }
                    set(c, c.rmField, f.mmx(m));
                } else {
                    c.write(X87.address(c, 8, true), 8, f.mmx(m));
                }
            }
            case 0x70 -> { // PSHUFW mm, mm/m64, imm8
                int order = (int) c.insn.immediate();
                set(c, m, SsePacked.pshufw(new long[]{source(c), 0}, order, false)[0]);
            }
            case 0x71, 0x72, 0x73 -> { // shifts by an immediate: /2 PSRL, /4 PSRA, /6 PSLL
                int kind = c.regField & 7;
                int lane = op == 0x71 ? 2 : op == 0x72 ? 4 : 8;
                if (c.mod != 3 || !(kind == 2 || kind == 6 || (kind == 4 && lane != 8))) {
                    throw GuestFault.of(GuestFault.UD);
                }
                int count = (int) c.insn.immediate();
                set(c, c.rmField, Sse.shiftLanes(f.mmx(c.rmField & 7), lane, kind, count));
            }
            case 0xC4 -> { // PINSRW mm, r32/m16, imm8
                int i = (int) c.insn.immediate() & 3;
                long v = c.readRm(2);
                set(c, m, (f.mmx(m) & ~(0xFFFFL << (16 * i))) | (v & 0xFFFF) << (16 * i));
            }
            case 0xC5, 0xD7 -> { // PEXTRW r32, mm, imm8; PMOVMSKB r32, mm
                if (c.mod != 3) {
                    throw GuestFault.of(GuestFault.UD);
                }
                long s = f.mmx(c.rmField & 7);
                long v;
                if (op == 0xC5) {
                    v = (s >>> (16 * ((int) c.insn.immediate() & 3))) & 0xFFFF;
                } else {
                    v = 0;
                    for (int i = 0; i < 8; i++) {
                        v |= ((s >>> (8 * i + 7)) & 1) << i;
                    }
                }
                c.setReg(c.regField, 4, v);
            }
            case 0xF7 -> { // MASKMOVQ mm, mm: the bytes whose mask byte has its top bit set, to DS:rDI
                if (c.mod != 3) {
                    throw GuestFault.of(GuestFault.UD);
                }
                maskedStore(c, f.mmx(m), f.mmx(c.rmField & 7), 0);
            }
            default -> set(c, m, arithmetic(op, f.mmx(m), source(c)));
        }
        f.enterMmx();
        c.done();
    }

    /**
     * MASKMOVQ and MASKMOVDQU: each byte of the quadword {@code data} whose byte in {@code mask} has bit 7 set, stored
     * at DS:rDI + {@code first} (a segment prefix may replace DS).
     */
    static void maskedStore(Core c, long data, long mask, int first) {
        long base = c.r[7] & c.offsetMask();
        for (int i = 0; i < 8; i++) {
            if (((mask >>> (8 * i + 7)) & 1) != 0) {
                c.write(c.dataLinear((base + first + i) & c.offsetMask(), 1, true), 1, data >>> (8 * i));
            }
        }
    }

    /**
     * The conversions between MMX and XMM registers (0F 2A/2C/2D without F2/F3): CVTPI2PS, CVTPI2PD (66), CVTPS2PI,
     * CVTTPS2PI, CVTPD2PI (66), CVTTPD2PI (66). The SSE checks are done; an MMX register operand adds the MMX ones.
     */
    static void convert(Core c, int op, int x) {
        SoftFloat.Mode mode = SoftFloat.Mode.of(c.mxcsr);
        boolean pd = c.p66;
        SoftFloat.Format f = pd ? SoftFloat.DOUBLE : SoftFloat.SINGLE;
        int flags = 0;
        if (op == 0x2A) { // two signed dwords from mm/m64
            long v;
            if (c.mod == 3) {
                X87.checkPending(c);
                v = c.fpu.mmx(c.rmField & 7);
                c.fpu.enterMmx();
            } else {
                v = c.read(c.ea(), 8);
            }
            long[] out = {c.xmm[2 * x], pd ? 0 : c.xmm[2 * x + 1]};
            for (int i = 0; i < 2; i++) {
                SoftFloat.Result r = SoftFloat.fromInteger((int) (v >>> (32 * i)), f, mode);
                flags |= r.flags();
                SseFloat.setLane(out, i, pd ? 64 : 32, r.bits());
            }
            SseFloat.raise(c, flags);
            c.xmm[2 * x] = out[0];
            c.xmm[2 * x + 1] = out[1];
            return;
        }
        long[] src = SseFloat.source(c, pd ? 16 : 8); // CVT(T)PS2PI, CVT(T)PD2PI: two lanes to two dwords in mm
        X87.checkPending(c);
        long result = 0;
        for (int i = 0; i < 2; i++) {
            SoftFloat.Result r = SoftFloat.toInteger(SseFloat.lane(src, i, pd ? 64 : 32), f, mode, 32, op == 0x2C);
            flags |= r.flags();
            result |= (r.bits() & 0xFFFFFFFFL) << (32 * i);
        }
        SseFloat.raise(c, flags);
        c.fpu.setMmx(c.regField & 7, result);
        c.fpu.enterMmx();
    }

    /** The two-operand MMX arithmetic, through the 128-bit forms. */
    private static long arithmetic(int op, long d, long s) {
        return switch (op) {
            case 0xDB, 0xDF, 0xEB, 0xEF -> Sse.logic(op == 0xDB ? 0 : op == 0xDF ? 1 : op == 0xEB ? 2 : 3, d, s);
            case 0xFC, 0xFD, 0xFE, 0xD4, 0xF8, 0xF9, 0xFA, 0xFB -> {
                int lane = switch (op) {
                    case 0xFC, 0xF8 -> 1;
                    case 0xFD, 0xF9 -> 2;
                    case 0xFE, 0xFA -> 4;
                    default -> 8;
                };
                yield Sse.lanes(d, s, lane, op >= 0xF8 && op <= 0xFB ? 1 : 0);
            }
            case 0x74, 0x75, 0x76, 0x64, 0x65, 0x66 -> Sse.lanes(d, s, 1 << (op & 3), op >= 0x74 ? 2 : 3);
            case 0x60, 0x61, 0x62 -> SseLanes.interleaved(d, s, 8 << (op - 0x60));
            case 0x68, 0x69, 0x6A -> SsePacked.binary(op, new long[]{0, d >>> 32}, new long[]{0, s >>> 32})[0];
            case 0x63, 0x67, 0x6B -> SsePacked.binary(op, new long[]{d, s}, new long[2])[0];
            case 0xD5, 0xE5, 0xE4, 0xF4, 0xF5, 0xDA, 0xDE, 0xEA, 0xEE, 0xE0, 0xE3, 0xF6, 0xEC, 0xED, 0xDC, 0xDD, 0xE8,
                 0xE9, 0xD8, 0xD9, 0xD1, 0xD2, 0xD3, 0xE1, 0xE2, 0xF1, 0xF2, 0xF3 ->
                    SsePacked.binary(op, new long[]{d, 0}, new long[]{s, 0})[0];
            default -> throw GuestFault.of(GuestFault.UD);
        };
    }

    /** 0F 38 00-0B and 1C-1E without 66: the SSSE3 operations on MMX registers. */
    static void execute38(Core c, int op) {
        if (!(op <= 0x0B || (op >= 0x1C && op <= 0x1E))) {
            throw GuestFault.of(GuestFault.UD);
        }
        requireSsse3(c);
        enter(c);
        c.takeModrm();
        int m = c.regField & 7;
        long d = c.fpu.mmx(m), s = source(c);
        boolean horizontal = (op >= 0x01 && op <= 0x03) || (op >= 0x05 && op <= 0x07);
        if (op == 0x00) { // PSHUFB: each selector's low three bits pick one of the 8 bytes (d given twice, as 16)
            set(c, m, SseLanes.shuffled(d, d, s));
        } else {
            byte[] out = Sse4.ssse3(op, Sse4.bytes(d, horizontal ? s : 0), Sse4.bytes(s, 0));
            set(c, m, Sse4.lane(out, 0, 8, false));
        }
        c.fpu.enterMmx();
        c.done();
    }

    /** 0F 3A 0F without 66: PALIGNR mm, mm/m64, imm8 (d:s shifted right by imm bytes, the low eight). */
    static void palignr(Core c) {
        requireSsse3(c);
        enter(c);
        c.takeModrm();
        int m = c.regField & 7;
        int imm = (int) c.insn.immediate();
        long d = c.fpu.mmx(m), s = source(c);
        byte[] out = Sse4.palignr(new byte[16], Sse4.bytes(s, d), imm);
        set(c, m, Sse4.lane(out, 0, 8, false));
        c.fpu.enterMmx();
        c.done();
    }

    private static void requireSsse3(Core c) {
        if (!c.cpuidHas(1, 0, 2, 9)) {
            throw GuestFault.of(GuestFault.UD);
        }
    }
}

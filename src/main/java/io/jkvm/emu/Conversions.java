package io.jkvm.emu;

/**
 * SSE conversions: CVTSI2SS/SD, CVT(T)SS2SI/SD2SI, CVTSS2SD/CVTSD2SS, CVTPS2PD/CVTPD2PS, CVTDQ2PS/CVT(T)PS2DQ,
 * CVTDQ2PD/CVT(T)PD2DQ, by {@link SoftFloat} under MXCSR.
 */
final class Conversions {
    private Conversions() {
    }

    static void execute(Core c, int op, int x) {
        SoftFloat.Mode mode = SoftFloat.Mode.of(c.mxcsr);
        SoftFloat.Format s = SoftFloat.SINGLE, d = SoftFloat.DOUBLE;
        int rep = c.rep;
        boolean p66 = c.p66;
        int flags = 0;
        long[] dst = {c.xmm[2 * x], c.xmm[2 * x + 1]};
        switch (op) {
            case 0x2A -> { // CVTSI2SS/SD xmm, r/m32/64
                if (rep == 0) {
                    Mmx.convert(c, op, x); // CVTPI2PS/PD
                    return;
                }
                int size = c.rexW ? 8 : 4;
                long v = c.readRm(size);
                long n = size == 4 ? (int) v : v;
                SoftFloat.Result r = SoftFloat.fromInteger(n, rep == 0xF3 ? s : d, mode);
                SseFloat.raise(c, r.flags());
                SseFloat.setLane(dst, 0, rep == 0xF3 ? 32 : 64, r.bits());
            }
            case 0x2C, 0x2D -> { // CVTTSS2SI/CVTSS2SI/CVTTSD2SI/CVTSD2SI r, xmm/m
                if (rep == 0) {
                    Mmx.convert(c, op, x); // CVT(T)PS2PI, CVT(T)PD2PI
                    return;
                }
                boolean single = rep == 0xF3;
                long[] src = SseFloat.source(c, single ? 4 : 8);
                int bits = c.rexW ? 64 : 32;
                SoftFloat.Result r = SoftFloat.toInteger(SseFloat.lane(src, 0, single ? 32 : 64), single ? s : d, mode, bits, op == 0x2C);
                SseFloat.raise(c, r.flags());
                c.setReg(c.regField, bits / 8, r.bits());
                return;
            }
            case 0x5A -> {
                if (rep == 0xF3 || rep == 0xF2) { // CVTSS2SD / CVTSD2SS
                    boolean up = rep == 0xF3;
                    long[] src = SseFloat.source(c, up ? 4 : 8);
                    SoftFloat.Result r = SoftFloat.convert(SseFloat.lane(src, 0, up ? 32 : 64), up ? s : d, up ? d : s, mode);
                    SseFloat.raise(c, r.flags());
                    SseFloat.setLane(dst, 0, up ? 64 : 32, r.bits());
                } else if (p66) { // CVTPD2PS: two doubles to two singles, upper half zeroed
                    long[] src = SseFloat.source(c, 16);
                    long[] out = new long[2];
                    for (int i = 0; i < 2; i++) {
                        SoftFloat.Result r = SoftFloat.convert(src[i], d, s, mode);
                        flags |= r.flags();
                        SseFloat.setLane(out, i, 32, r.bits());
                    }
                    SseFloat.raise(c, flags);
                    dst = out;
                } else { // CVTPS2PD: the two low singles widened
                    long[] src = SseFloat.source(c, 8);
                    long[] out = new long[2];
                    for (int i = 0; i < 2; i++) {
                        SoftFloat.Result r = SoftFloat.convert(SseFloat.lane(src, i, 32), s, d, mode);
                        flags |= r.flags();
                        out[i] = r.bits();
                    }
                    SseFloat.raise(c, flags);
                    dst = out;
                }
            }
            case 0x5B -> { // CVTDQ2PS (none), CVTPS2DQ (66), CVTTPS2DQ (F3)
                long[] src = SseFloat.source(c, 16);
                long[] out = new long[2];
                for (int i = 0; i < 4; i++) {
                    long lane = SseFloat.lane(src, i, 32);
                    SoftFloat.Result r = (!p66 && rep == 0)
                            ? SoftFloat.fromInteger((int) lane, s, mode)
                            : SoftFloat.toInteger(lane, s, mode, 32, rep == 0xF3);
                    flags |= r.flags();
                    SseFloat.setLane(out, i, 32, r.bits());
                }
                SseFloat.raise(c, flags);
                dst = out;
            }
            case 0xE6 -> { // CVTDQ2PD (F3), CVTPD2DQ (F2), CVTTPD2DQ (66)
                long[] out = new long[2];
                if (rep == 0xF3) {
                    long[] src = SseFloat.source(c, 8);
                    for (int i = 0; i < 2; i++) {
                        out[i] = SoftFloat.fromInteger((int) SseFloat.lane(src, i, 32), d, mode).bits(); // exact
                    }
                } else if (rep == 0xF2 || p66) {
                    long[] src = SseFloat.source(c, 16);
                    for (int i = 0; i < 2; i++) {
                        SoftFloat.Result r = SoftFloat.toInteger(src[i], d, mode, 32, p66 && rep == 0);
                        flags |= r.flags();
                        SseFloat.setLane(out, i, 32, r.bits());
                    }
                    SseFloat.raise(c, flags);
                } else {
                    throw GuestFault.of(GuestFault.UD);
                }
                dst = out;
            }
            default -> throw GuestFault.of(GuestFault.UD);
        }
        c.xmm[2 * x] = dst[0];
        c.xmm[2 * x + 1] = dst[1];
    }
}

package io.jkvm.emu;

/**
 * SSE3: ADDSUBPS/PD, HADDPS/PD, HSUBPS/PD (computed by {@link SoftFloat} under MXCSR, with its exception flags and
 * #XM), MOVSLDUP, MOVSHDUP, MOVDDUP and LDDQU. FISTTP is x87's ({@link X87}); MONITOR/MWAIT have their own CPUID bit,
 * which the core does not set.
 */
final class Sse3 {
    private Sse3() {
    }

    static final int CPUID_BIT = 0; // CPUID.1:ECX[0]

    static void require(Core c) {
        Sse.requireSseEnabled(c);
        if (!c.cpuidHas(1, 0, 2, CPUID_BIT)) {
            throw GuestFault.of(GuestFault.UD);
        }
    }

    /** 0F D0 (ADDSUB), 0F 7C (HADD), 0F 7D (HSUB) with 66 (packed doubles) or F2 (packed singles). */
    static void arithmetic(Core c, int op) {
        boolean dbl = c.p66 && c.rep == 0;
        if (!dbl && c.rep != 0xF2) {
            throw GuestFault.of(GuestFault.UD);
        }
        require(c);
        c.takeModrm();
        int x = c.regField & 15;
        long[] src = SseFloat.source(c, 16);
        long[] dst = {c.xmm[2 * x], c.xmm[2 * x + 1]};
        SoftFloat.Format f = dbl ? SoftFloat.DOUBLE : SoftFloat.SINGLE;
        SoftFloat.Mode mode = SoftFloat.Mode.of(c.mxcsr);
        int bits = dbl ? 64 : 32, lanes = 128 / bits;
        long[] out = new long[2];
        int flags = 0;
        for (int i = 0; i < lanes; i++) {
            SoftFloat.Result r;
            if (op == 0xD0) { // even lanes subtract, odd lanes add
                r = SoftFloat.arithmetic((i & 1) == 0 ? SoftFloat.SUB : SoftFloat.ADD,
                        SseFloat.lane(dst, i, bits), SseFloat.lane(src, i, bits), f, mode);
            } else { // the low half of the result from pairs of the destination, the high half from the source's
                long[] from = i < lanes / 2 ? dst : src;
                int pair = 2 * (i % (lanes / 2));
                r = SoftFloat.arithmetic(op == 0x7C ? SoftFloat.ADD : SoftFloat.SUB,
                        SseFloat.lane(from, pair, bits), SseFloat.lane(from, pair + 1, bits), f, mode);
            }
            flags |= r.flags();
            SseFloat.setLane(out, i, bits, r.bits());
        }
        SseFloat.raise(c, flags);
        c.xmm[2 * x] = out[0];
        c.xmm[2 * x + 1] = out[1];
        c.done();
    }

    /** F3 0F 12 MOVSLDUP, F3 0F 16 MOVSHDUP, F2 0F 12 MOVDDUP (a 64-bit memory source). */
    static void duplicate(Core c, int op, int x) {
        if (c.rep == 0xF2 && op == 0x16) {
            throw GuestFault.of(GuestFault.UD);
        }
        require(c);
        if (c.rep == 0xF2) {
            long v = c.mod == 3 ? c.xmm[2 * (c.rmField & 15)] : c.read(c.ea(), 8);
            c.xmm[2 * x] = v;
            c.xmm[2 * x + 1] = v;
            return;
        }
        long[] s = SseFloat.source(c, 16);
        for (int h = 0; h < 2; h++) {
            long dword = op == 0x12 ? s[h] & 0xFFFFFFFFL : s[h] >>> 32;
            c.xmm[2 * x + h] = dword | dword << 32;
        }
    }

    /** F2 0F F0 LDDQU: an unaligned 16-byte load. */
    static void loadUnaligned(Core c) {
        if (c.rep != 0xF2) {
            throw GuestFault.of(GuestFault.UD);
        }
        require(c);
        c.takeModrm();
        if (c.mod == 3) {
            throw GuestFault.of(GuestFault.UD);
        }
        int x = c.regField & 15;
        long a = c.ea();
        long lo = c.read(a, 8), hi = c.read(a + 8, 8);
        c.xmm[2 * x] = lo;
        c.xmm[2 * x + 1] = hi;
        c.done();
    }
}

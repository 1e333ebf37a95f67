package io.jkvm.emu;

import io.jkvm.x86.ControlBits;

/**
 * SSE/SSE2 floating point: ADD, SUB, MUL, DIV, SQRT, MIN, MAX in the PS/PD/SS/SD forms, and UCOMISS/COMISS/
 * UCOMISD/COMISD, computed by {@link SoftFloat} under MXCSR's rounding mode, DAZ and FTZ, with its exception
 * flags; an unmasked exception raises #XM (or #UD without CR4.OSXMMEXCPT) and leaves the destination alone.
 */
final class SseFloat {
    private SseFloat() {
    }

    static void execute(Core c, int op) {
        if ((c.cr4 & ControlBits.CR4_OSFXSR) == 0 || (c.cr0 & ControlBits.CR0_EM) != 0) {
            throw GuestFault.of(GuestFault.UD);
        }
        if ((c.cr0 & ControlBits.CR0_TS) != 0) {
            throw GuestFault.of(GuestFault.NM);
        }
        boolean dbl = c.p66 || c.rep == 0xF2;
        boolean scalar = c.rep == 0xF3 || c.rep == 0xF2;
        SoftFloat.Format f = dbl ? SoftFloat.DOUBLE : SoftFloat.SINGLE;
        int laneBits = dbl ? 64 : 32;
        c.takeModrm();
        int x = c.regField & 15;
        if (op == 0x2E || op == 0x2F) {
            compareScalar(c, op == 0x2F, c.p66 ? SoftFloat.DOUBLE : SoftFloat.SINGLE, x);
            c.done();
            return;
        }
        if (op == 0x2A || op == 0x2C || op == 0x2D || op == 0x5A || op == 0x5B || op == 0xE6) {
            Conversions.execute(c, op, x);
            c.done();
            return;
        }
        int predicate = op == 0xC2 ? -1 : 0;
        int lanes = scalar ? 1 : 128 / laneBits;
        if (op == 0xC2) { // CMPccPS/PD/SS/SD: the predicate is the imm8
            predicate = (int) c.insn.immediate();
            if (predicate > 7) {
                throw GuestFault.of(GuestFault.UD); // the 32 AVX predicates need VEX
            }
        }
        long[] src = source(c, scalar ? laneBits / 8 : 16);
        long[] dst = {c.xmm[2 * x], c.xmm[2 * x + 1]};
        SoftFloat.Mode mode = SoftFloat.Mode.of(c.mxcsr);
        int flags = 0;
        long[] out = dst.clone();
        for (int i = 0; i < lanes; i++) {
            long a = lane(dst, i, laneBits), b = lane(src, i, laneBits);
            SoftFloat.Result r = switch (op) {
                case 0x58 -> SoftFloat.arithmetic(SoftFloat.ADD, a, b, f, mode);
                case 0x5C -> SoftFloat.arithmetic(SoftFloat.SUB, a, b, f, mode);
                case 0x59 -> SoftFloat.arithmetic(SoftFloat.MUL, a, b, f, mode);
                case 0x5E -> SoftFloat.arithmetic(SoftFloat.DIV, a, b, f, mode);
                case 0x51 -> SoftFloat.sqrt(b, f, mode);
                case 0x5D -> SoftFloat.minMax(false, a, b, f, mode);
                case 0x5F -> SoftFloat.minMax(true, a, b, f, mode);
                case 0xC2 -> SoftFloat.comparePredicate(predicate, a, b, f, mode);
                default -> throw GuestFault.of(GuestFault.UD);
            };
            flags |= r.flags();
            setLane(out, i, laneBits, r.bits());
        }
        raise(c, flags);
        c.xmm[2 * x] = out[0];
        c.xmm[2 * x + 1] = out[1];
        c.done();
    }

    /** Sets MXCSR flags; any unmasked one faults (#XM, or #UD without OSXMMEXCPT) before the destination changes. */
    static void raise(Core c, int flags) {
        c.mxcsr |= flags;
        int masks = (c.mxcsr >>> 7) & 0x3F;
        if ((flags & ~masks) != 0) {
            throw GuestFault.of((c.cr4 & ControlBits.CR4_OSXMMEXCPT) != 0 ? GuestFault.XM : GuestFault.UD);
        }
    }

    private static void compareScalar(Core c, boolean signaling, SoftFloat.Format f, int x) {
        int bits = f == SoftFloat.DOUBLE ? 64 : 32;
        long[] src = source(c, bits / 8);
        SoftFloat.Mode mode = SoftFloat.Mode.of(c.mxcsr);
        int[] fl = {0};
        long a = SoftFloat.input(lane(new long[]{c.xmm[2 * x], c.xmm[2 * x + 1]}, 0, bits), f, mode, fl);
        long b = SoftFloat.input(lane(src, 0, bits), f, mode, fl);
        long zf = Core.ZF, pf = Core.PF, cf = Core.CF;
        long result;
        if (SoftFloat.isNaN(a, f) || SoftFloat.isNaN(b, f)) {
            boolean snan = SoftFloat.isSNaN(a, f) || SoftFloat.isSNaN(b, f);
            fl[0] = signaling || snan ? SoftFloat.IE : 0; // a NaN operand: no DE
            result = zf | pf | cf;
        } else {
            int cmp = SoftFloat.compare(a, b, f);
            result = cmp == 0 ? zf : cmp < 0 ? cf : 0;
        }
        raise(c, fl[0]);
        c.setArith(result);
    }

    static long[] source(Core c, int bytes) {
        if (c.mod == 3) {
            int s = c.rmField & 15;
            return new long[]{c.xmm[2 * s], c.xmm[2 * s + 1]};
        }
        long a = c.ea();
        if (bytes == 16) {
            if ((a & 15) != 0) {
                Sse.misaligned(c, false);
            }
            return new long[]{c.read(a, 8), c.read(a + 8, 8)};
        }
        return new long[]{c.read(a, bytes), 0};
    }

    static long lane(long[] v, int i, int bits) {
        if (bits == 64) {
            return v[i];
        }
        return (v[i / 2] >>> (32 * (i % 2))) & 0xFFFFFFFFL;
    }

    static void setLane(long[] v, int i, int bits, long value) {
        if (bits == 64) {
            v[i] = value;
            return;
        }
        int shift = 32 * (i % 2);
        v[i / 2] = (v[i / 2] & ~(0xFFFFFFFFL << shift)) | ((value & 0xFFFFFFFFL) << shift);
    }
}

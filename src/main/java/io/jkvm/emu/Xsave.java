package io.jkvm.emu;

import io.jkvm.x86.ApxState;
import io.jkvm.x86.ControlBits;
import io.jkvm.x86.XsaveArea;
import io.jkvm.x86.XsaveLayout;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.Map;

/**
 * FXSAVE/FXRSTOR, XSAVE/XRSTOR (both formats), XSAVEC, XSAVES/XRSTORS for the software core, at the offsets the guest CPU model's
 * leaf 0xD gives. R16..R31 are component 19; components the core does not execute (AVX, AVX-512, PKRU...) are
 * kept as bytes so they survive saves, restores and moves between backends.
 */
final class Xsave {
    private Xsave() {
    }

    private static final int X87 = 0, SSE = 1, AVX = 2, PKRU = 9;

    static void fxsave(Core c, long a) {
        if ((a & 15) != 0) {
            throw GuestFault.withCode(GuestFault.GP, 0);
        }
        byte[] image = new byte[512];
        legacy(c, image, true, true);
        writeBytes(c, a, image);
    }

    static void fxrstor(Core c, long a) {
        if ((a & 15) != 0) {
            throw GuestFault.withCode(GuestFault.GP, 0);
        }
        byte[] image = readBytes(c, a, 512);
        int mxcsr = le32(image, 24);
        if ((mxcsr & ~c.mxcsrMask) != 0) {
            throw GuestFault.withCode(GuestFault.GP, 0);
        }
        c.fpu.load(image);
        c.mxcsr = mxcsr;
        loadXmm(c, image);
    }

    static void xsave(Core c, long a, long mask) {
        requireXsave(c, a);
        long rfbm = mask & c.xcr0;
        XsaveLayout layout = c.xsaveLayout();
        byte[] image = readBytes(c, a, layout.standardSize());
        legacy(c, image, (rfbm & 1) != 0, (rfbm & 2) != 0);
        if ((rfbm & 6) != 0) {
            putLe32(image, 24, c.mxcsr);
            putLe32(image, 28, c.mxcsrMask);
        }
        for (XsaveLayout.Component comp : layout.components()) {
            int i = comp.number();
            if (i >= 2 && !comp.supervisor() && (rfbm & (1L << i)) != 0) {
                System.arraycopy(component(c, i, comp.size()), 0, image, comp.offset(), comp.size());
            }
        }
        long xstateBv = le64(image, 512);
        putLe64(image, 512, (xstateBv & ~rfbm) | rfbm); // every saved component reported in use
        writeBytes(c, a, image);
    }

    static void xrstor(Core c, long a, long mask) {
        requireXsave(c, a);
        if ((le64(readBytes(c, a + 512, 16), 8) & XsaveArea.COMPACTED) != 0) {
            if (!c.cpuidHas(0xD, 1, 0, 1)) {
                throw GuestFault.withCode(GuestFault.GP, 0); // the compacted form needs XSAVEC
            }
            restoreCompacted(c, a, mask, c.xcr0);
            return;
        }
        long rfbm = mask & c.xcr0;
        XsaveLayout layout = c.xsaveLayout();
        byte[] image = readBytes(c, a, layout.standardSize());
        long xstateBv = le64(image, 512);
        long xcompBv = le64(image, 520);
        if (xcompBv != 0 || (xstateBv & ~c.xcr0) != 0) {
            throw GuestFault.withCode(GuestFault.GP, 0); // compacted form or bits XCR0 does not enable
        }
        if ((rfbm & xstateBv & c.xfd) != 0) {
            c.xfdErr = rfbm & xstateBv & c.xfd;
            throw GuestFault.of(GuestFault.NM); // a component disarmed by IA32_XFD (AMX's XFD semantics)
        }
        if ((rfbm & 6) != 0) {
            int mxcsr = le32(image, 24);
            if ((mxcsr & ~c.mxcsrMask) != 0) {
                throw GuestFault.withCode(GuestFault.GP, 0);
            }
            c.mxcsr = mxcsr;
        }
        if ((rfbm & 1) != 0) {
            restoreX87(c, image, (xstateBv & 1) != 0);
        }
        if ((rfbm & 2) != 0) {
            if ((xstateBv & 2) != 0) {
                loadXmm(c, image);
            } else {
                Arrays.fill(c.xmm, 0);
            }
        }
        for (XsaveLayout.Component comp : layout.components()) {
            int i = comp.number();
            if (i >= 2 && !comp.supervisor() && (rfbm & (1L << i)) != 0) {
                boolean present = (xstateBv & (1L << i)) != 0;
                byte[] bytes = present ? Arrays.copyOfRange(image, comp.offset(), comp.offset() + comp.size()) : new byte[comp.size()];
                setComponent(c, i, bytes, present);
            }
        }
    }

    /**
     * 0F C7 /3 XRSTORS, /4 XSAVEC, /5 XSAVES, each #UD unless the CPU model has it (CPUID.(0xD,1).EAX bit 1 for
     * XSAVEC, bit 3 for the XSAVES pair); the supervisor pair runs at CPL0 only and adds IA32_XSS to XCR0.
     */
    static void compactedInstruction(Core c, int op, long a, long mask) {
        if (!c.cpuidHas(0xD, 1, 0, op == 4 ? 1 : 3) || c.rex2) {
            throw GuestFault.of(GuestFault.UD);
        }
        requireXsave(c, a);
        if (op != 4 && c.cpl != 0) {
            throw GuestFault.withCode(GuestFault.GP, 0);
        }
        long enabled = op == 4 ? c.xcr0 : c.xcr0 | c.xss;
        if (op == 3) {
            restoreCompacted(c, a, mask, enabled);
        } else {
            saveCompacted(c, a, mask & enabled);
        }
    }

    /**
     * XSAVEC/XSAVES: the components of RFBM in the compacted format (XCOMP_BV = RFBM | bit 63), the header's other
     * bytes zeroed; every saved component is reported in use (XSTATE_BV = RFBM), as XINUSE may. MXCSR goes with
     * RFBM[1] or RFBM[2], as for XSAVE.
     */
    private static void saveCompacted(Core c, long a, long rfbm) {
        XsaveLayout layout = c.xsaveLayout();
        Map<Integer, Integer> offsets = layout.compactedOffsets(rfbm);
        byte[] image = readBytes(c, a, (layout.compactedSize(rfbm) + 7) & ~7);
        int mxcsr = le32(image, 24), mxcsrMask = le32(image, 28);
        legacy(c, image, (rfbm & 1) != 0, (rfbm & 2) != 0);
        if ((rfbm & 6) == 0) {
            putLe32(image, 24, mxcsr); // legacy() always writes MXCSR: put back what was there
            putLe32(image, 28, mxcsrMask);
        }
        for (XsaveLayout.Component comp : layout.components()) {
            int i = comp.number();
            if (i >= 2 && (rfbm & (1L << i)) != 0) {
                System.arraycopy(component(c, i, comp.size()), 0, image, offsets.get(i), comp.size());
            }
        }
        Arrays.fill(image, 512, XsaveLayout.HEADER_END, (byte) 0);
        putLe64(image, 512, rfbm);
        putLe64(image, 520, rfbm | XsaveArea.COMPACTED);
        writeBytes(c, a, image);
    }

    /**
     * The compacted form of XRSTOR, and XRSTORS: #GP unless XCOMP_BV[63] is set, XCOMP_BV lists only enabled
     * components, XSTATE_BV only components XCOMP_BV has, and the rest of the header is zero. MXCSR is loaded only
     * with SSE state (XSTATE_BV[1]), else it is 1F80H; RFBM[2] does not matter here, unlike the standard form.
     */
    private static void restoreCompacted(Core c, long a, long mask, long enabled) {
        byte[] header = readBytes(c, a + 512, XsaveLayout.HEADER_SIZE);
        long xstateBv = le64(header, 0), xcompBv = le64(header, 8);
        long components = xcompBv & ~XsaveArea.COMPACTED;
        boolean reservedClear = true;
        for (int i = 16; i < XsaveLayout.HEADER_SIZE; i++) {
            reservedClear &= header[i] == 0;
        }
        if ((xcompBv & XsaveArea.COMPACTED) == 0 || (components & ~enabled) != 0 || (xstateBv & ~components) != 0 || !reservedClear) {
            throw GuestFault.withCode(GuestFault.GP, 0);
        }
        long rfbm = mask & enabled;
        if ((rfbm & xstateBv & c.xfd) != 0) {
            c.xfdErr = rfbm & xstateBv & c.xfd;
            throw GuestFault.of(GuestFault.NM);
        }
        XsaveLayout layout = c.xsaveLayout();
        Map<Integer, Integer> offsets = layout.compactedOffsets(components);
        byte[] image = readBytes(c, a, (layout.compactedSize(components) + 7) & ~7);
        boolean sse = (rfbm & 2) != 0, ssePresent = (xstateBv & 2) != 0;
        int mxcsr = sse && ssePresent ? le32(image, 24) : 0x1F80;
        if ((mxcsr & ~c.mxcsrMask) != 0) {
            throw GuestFault.withCode(GuestFault.GP, 0); // before any state changes
        }
        if ((rfbm & 1) != 0) {
            restoreX87(c, image, (xstateBv & 1) != 0);
        }
        if (sse) {
            c.mxcsr = mxcsr;
            if (ssePresent) {
                loadXmm(c, image);
            } else {
                Arrays.fill(c.xmm, 0);
            }
        }
        for (XsaveLayout.Component comp : layout.components()) {
            int i = comp.number();
            if (i >= 2 && (rfbm & (1L << i)) != 0) {
                boolean present = (xstateBv & (1L << i)) != 0;
                byte[] bytes = present
                        ? Arrays.copyOfRange(image, offsets.get(i), offsets.get(i) + comp.size()) : new byte[comp.size()];
                setComponent(c, i, bytes, present);
            }
        }
    }

    /** The whole state as a standard-format image of the model's layout (what the state record carries). */
    static byte[] image(Core c, boolean withApx) {
        XsaveLayout layout = c.xsaveLayout();
        byte[] image = new byte[layout.standardSize()];
        legacy(c, image, true, true);
        putLe32(image, 24, c.mxcsr);
        putLe32(image, 28, c.mxcsrMask);
        long xstateBv = 0x3;
        for (XsaveLayout.Component comp : layout.components()) {
            int i = comp.number();
            if (i < 2 || comp.supervisor()) {
                continue;
            }
            boolean inUse = i == ApxState.COMPONENT ? withApx : i == PKRU ? c.pkru != 0 : c.extended.containsKey(i);
            if (inUse) {
                System.arraycopy(component(c, i, comp.size()), 0, image, comp.offset(), comp.size());
                xstateBv |= 1L << i;
            }
        }
        putLe64(image, 512, xstateBv);
        return image;
    }

    /** Loads a standard-format image of the model's layout; components with XSTATE_BV clear: init, but R16..R31 stay. */
    static void load(Core c, byte[] image) {
        long xstateBv = le64(image, 512);
        if ((xstateBv & 1) != 0) {
            c.fpu.load(image);
        } else {
            c.fpu.clear();
        }
        c.mxcsr = le32(image, 24);
        if ((xstateBv & 2) != 0) {
            loadXmm(c, image);
        } else {
            Arrays.fill(c.xmm, 0);
        }
        XsaveLayout layout = c.xsaveLayout();
        for (XsaveLayout.Component comp : layout.components()) {
            int i = comp.number();
            if (i < 2 || comp.supervisor()) {
                continue;
            }
            boolean present = (xstateBv & (1L << i)) != 0;
            if (i == ApxState.COMPONENT && !present) {
                continue; // patch 07: XSTATE_BV[19] clear leaves R16..R31 as they are
            }
            byte[] bytes = present ? Arrays.copyOfRange(image, comp.offset(), comp.offset() + comp.size()) : new byte[comp.size()];
            setComponent(c, i, bytes, present);
        }
    }

    private static void requireXsave(Core c, long a) {
        if ((c.cr4 & ControlBits.CR4_OSXSAVE) == 0) {
            throw GuestFault.of(GuestFault.UD);
        }
        if ((a & 63) != 0) {
            throw GuestFault.withCode(GuestFault.GP, 0);
        }
    }

    /** The x87 part of the legacy region from an XSAVE image, or its init state when XSTATE_BV[0] is clear. */
    private static void restoreX87(Core c, byte[] image, boolean present) {
        if (present) {
            c.fpu.load(image);
        } else {
            c.fpu.clear();
        }
    }

    private static void legacy(Core c, byte[] image, boolean x87, boolean sse) {
        if (x87) {
            c.fpu.save(image);
        }
        if (sse) {
            for (int i = 0; i < 32; i++) {
                putLe64(image, 160 + 8 * i, c.xmm[i]);
            }
        }
        putLe32(image, 24, c.mxcsr);
        putLe32(image, 28, c.mxcsrMask);
    }

    private static void loadXmm(Core c, byte[] image) {
        for (int i = 0; i < 32; i++) {
            c.xmm[i] = le64(image, 160 + 8 * i);
        }
    }

    private static byte[] component(Core c, int i, int size) {
        if (i == ApxState.COMPONENT) {
            byte[] b = new byte[size];
            long[] src = c.apxEnabled() ? Arrays.copyOfRange(c.r, 16, 32) : c.egprsSaved;
            for (int k = 0; k < 16; k++) {
                putLe64(b, 8 * k, src[k]);
            }
            return b;
        }
        if (i == PKRU) {
            byte[] b = new byte[size];
            putLe64(b, 0, c.pkru & 0xFFFFFFFFL);
            return b;
        }
        byte[] kept = c.extended.get(i);
        return kept != null ? kept.clone() : new byte[size];
    }

    private static void setComponent(Core c, int i, byte[] bytes, boolean present) {
        if (i == ApxState.COMPONENT) {
            long[] dst = new long[16];
            for (int k = 0; k < 16; k++) {
                dst[k] = le64(bytes, 8 * k);
            }
            System.arraycopy(dst, 0, c.apxEnabled() ? c.r : c.egprsSaved, c.apxEnabled() ? 16 : 0, 16);
        } else if (i == PKRU) {
            c.setPkru(present ? le32(bytes, 0) : 0); // its init state is 0
        } else if (present) {
            c.extended.put(i, bytes);
        } else {
            c.extended.remove(i);
        }
    }

    private static byte[] readBytes(Core c, long a, int n) {
        byte[] b = new byte[n];
        for (int i = 0; i < n; i += 8) {
            putLe64(b, i, c.read(a + i, 8));
        }
        return b;
    }

    private static void writeBytes(Core c, long a, byte[] b) {
        for (int i = 0; i < b.length; i += 8) {
            c.write(a + i, 8, le64(b, i));
        }
    }

    static long le64(byte[] b, int at) {
        return ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).getLong(at);
    }

    static int le32(byte[] b, int at) {
        return ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).getInt(at);
    }

    static void putLe64(byte[] b, int at, long v) {
        ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).putLong(at, v);
    }

    static void putLe32(byte[] b, int at, int v) {
        ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).putInt(at, v);
    }
}

package io.jkvm.x86;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.Map;

/**
 * A standard-format XSAVE image (what KVM_GET_XSAVE2 returns) read through the layout of the CPU that made it:
 * the legacy region, the header, and every component at the offset CPUID leaf 0xD gives. A component whose
 * XSTATE_BV bit is clear is in its init state, whatever bytes the buffer holds for it.
 */
public final class XsaveArea {
    public static final int FCW = 0;
    public static final int FSW = 2;
    public static final int FTW = 4;
    public static final int MXCSR = 24;
    public static final int MXCSR_MASK = 28;
    public static final int ST0 = 32;
    public static final int XMM0 = 160;
    public static final int XSTATE_BV = 512;
    public static final int XCOMP_BV = 520;
    /** XCOMP_BV bit 63: the image is in the compacted format. */
    public static final long COMPACTED = 1L << 63;

    private final XsaveLayout layout;
    private final byte[] bytes;
    private final ByteBuffer view;

    private XsaveArea(XsaveLayout layout, byte[] bytes) {
        this.layout = layout;
        this.bytes = bytes;
        this.view = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
    }

    /** The init state: FCW 0x37F, MXCSR 0x1F80, every component clear in XSTATE_BV. */
    public static XsaveArea blank(XsaveLayout layout, int size) {
        XsaveArea a = new XsaveArea(layout, new byte[Math.max(size, layout.standardSize())]);
        a.view.putShort(FCW, (short) 0x37F);
        a.view.putInt(MXCSR, 0x1F80);
        return a;
    }

    public static XsaveArea blank(XsaveLayout layout) {
        return blank(layout, layout.standardSize());
    }

    /** Wraps a standard-format image (copied); it must be large enough for every component its XSTATE_BV marks. */
    public static XsaveArea of(XsaveLayout layout, byte[] image) {
        if (image.length < XsaveLayout.HEADER_END) {
            throw new XsaveException("an XSAVE image of " + image.length + " bytes has no header: it needs at least 576");
        }
        XsaveArea a = new XsaveArea(layout, image.clone());
        if ((a.xcompBv() & COMPACTED) != 0) {
            throw new XsaveException("the XSAVE image is in the compacted format (XCOMP_BV bit 63): convert it with fromCompacted");
        }
        for (int i = 2; i < 63; i++) {
            if ((a.xstateBv() & (1L << i)) != 0) {
                XsaveLayout.Component c = layout.require(i);
                if (c.offset() + c.size() > image.length) {
                    throw new XsaveException("the XSAVE image of " + image.length + " bytes ends before component " + i
                            + " (" + c.name() + ") at " + c.offset() + "+" + c.size() + ": it is truncated");
                }
            }
        }
        return a;
    }

    public XsaveLayout layout() {
        return layout;
    }

    public int size() {
        return bytes.length;
    }

    /** A copy of the image. */
    public byte[] toBytes() {
        return bytes.clone();
    }

    // ---- legacy region and header ----------------------------------------------------------------------------

    public int fcw() {
        return Short.toUnsignedInt(view.getShort(FCW));
    }

    public int fsw() {
        return Short.toUnsignedInt(view.getShort(FSW));
    }

    /** The abridged tag word FXSAVE stores: one bit per ST register, 1 = valid. */
    public int ftw() {
        return Byte.toUnsignedInt(bytes[FTW]);
    }

    public int mxcsr() {
        return view.getInt(MXCSR);
    }

    public XsaveArea setFcw(int v) {
        view.putShort(FCW, (short) v);
        markPresent(0);
        return this;
    }

    public XsaveArea setMxcsr(int v) {
        view.putInt(MXCSR, v);
        markPresent(1);
        return this;
    }

    /** ST{@code i} (or MM{@code i}): 10 significant bytes in a 16-byte slot. */
    public byte[] st(int i) {
        return Arrays.copyOfRange(bytes, ST0 + 16 * i, ST0 + 16 * i + 16);
    }

    public XsaveArea setSt(int i, byte[] value) {
        System.arraycopy(value, 0, bytes, ST0 + 16 * i, 16);
        markPresent(0);
        return this;
    }

    public byte[] xmm(int i) {
        return Arrays.copyOfRange(bytes, XMM0 + 16 * i, XMM0 + 16 * i + 16);
    }

    public XsaveArea setXmm(int i, byte[] value) {
        System.arraycopy(value, 0, bytes, XMM0 + 16 * i, 16);
        markPresent(1);
        return this;
    }

    public long xstateBv() {
        return view.getLong(XSTATE_BV);
    }

    public XsaveArea setXstateBv(long v) {
        view.putLong(XSTATE_BV, v);
        return this;
    }

    public long xcompBv() {
        return view.getLong(XCOMP_BV);
    }

    public boolean present(int component) {
        return (xstateBv() & (1L << component)) != 0;
    }

    private void markPresent(int component) {
        setXstateBv(xstateBv() | (1L << component));
    }

    // ---- components --------------------------------------------------------------------------------------------

    /** The bytes of component {@code number} (2 and up); zeros, its init state, when XSTATE_BV has it clear. */
    public byte[] component(int number) {
        XsaveLayout.Component c = userComponent(number);
        if (!present(number)) {
            return new byte[c.size()];
        }
        return Arrays.copyOfRange(bytes, c.offset(), c.offset() + c.size());
    }

    /** Writes component {@code number} at its layout offset and sets its XSTATE_BV bit. */
    public XsaveArea setComponent(int number, byte[] value) {
        XsaveLayout.Component c = userComponent(number);
        if (value.length != c.size()) {
            throw new XsaveException("component " + number + " (" + c.name() + ") is " + c.size() + " bytes, not " + value.length);
        }
        if (c.offset() + c.size() > bytes.length) {
            throw new XsaveException("component " + number + " (" + c.name() + ") at " + c.offset() + " does not fit in an XSAVE image of "
                    + bytes.length + " bytes");
        }
        System.arraycopy(value, 0, bytes, c.offset(), c.size());
        markPresent(number);
        return this;
    }

    /** Puts component {@code number} in its init state: XSTATE_BV bit cleared, bytes zeroed. */
    public XsaveArea clearComponent(int number) {
        XsaveLayout.Component c = userComponent(number);
        Arrays.fill(bytes, c.offset(), Math.min(bytes.length, c.offset() + c.size()), (byte) 0);
        setXstateBv(xstateBv() & ~(1L << number));
        return this;
    }

    private XsaveLayout.Component userComponent(int number) {
        if (number < 2) {
            throw new XsaveException("components 0 and 1 live in the legacy region: use the x87/SSE accessors");
        }
        XsaveLayout.Component c = layout.require(number);
        if (c.supervisor()) {
            throw new XsaveException("component " + number + " (" + c.name() + ") is supervisor state, absent from the standard format");
        }
        return c;
    }

    /** R16..R31, from component 19 at the offset CPUID.(0xD,19).EBX gives; all zero (init) on a CPU without APX. */
    public ApxState apx() {
        if (!layout.has(ApxState.COMPONENT)) {
            return ApxState.zero();
        }
        byte[] raw = component(ApxState.COMPONENT);
        ByteBuffer b = ByteBuffer.wrap(raw).order(ByteOrder.LITTLE_ENDIAN);
        long[] r = new long[16];
        for (int i = 0; i < 16; i++) {
            r[i] = b.getLong(8 * i);
        }
        return new ApxState(r);
    }

    public XsaveArea setApx(ApxState state) {
        ByteBuffer b = ByteBuffer.allocate(ApxState.SIZE).order(ByteOrder.LITTLE_ENDIAN);
        for (long v : state.registers()) {
            b.putLong(v);
        }
        return setComponent(ApxState.COMPONENT, b.array());
    }

    // ---- formats and layouts -----------------------------------------------------------------------------------

    /**
     * This image in the compacted format (what XSAVEC/XSAVES write) for the components in {@code xcompBv}:
     * the legacy region and header stay, XCOMP_BV gets bit 63, components move to their compacted offsets.
     */
    public byte[] toCompacted(long xcompBv) {
        long components = xcompBv & ~COMPACTED;
        if ((xstateBv() & ~components) != 0) {
            throw new XsaveException(String.format("XSTATE_BV 0x%x has components outside XCOMP_BV 0x%x: they would be lost",
                    xstateBv(), components));
        }
        Map<Integer, Integer> offsets = layout.compactedOffsets(components);
        byte[] out = new byte[layout.compactedSize(components)];
        System.arraycopy(bytes, 0, out, 0, XsaveLayout.HEADER_END);
        ByteBuffer.wrap(out).order(ByteOrder.LITTLE_ENDIAN).putLong(XCOMP_BV, components | COMPACTED);
        for (Map.Entry<Integer, Integer> e : offsets.entrySet()) {
            int i = e.getKey();
            if (i >= 2 && present(i)) {
                XsaveLayout.Component c = layout.require(i);
                System.arraycopy(bytes, c.offset(), out, e.getValue(), c.size());
            }
        }
        return out;
    }

    /** Reads a compacted-format image back into the standard format of {@code layout}. */
    public static XsaveArea fromCompacted(XsaveLayout layout, byte[] compacted, int standardSize) {
        ByteBuffer in = ByteBuffer.wrap(compacted).order(ByteOrder.LITTLE_ENDIAN);
        long xcompBv = in.getLong(XCOMP_BV);
        if ((xcompBv & COMPACTED) == 0) {
            throw new XsaveException("the XSAVE image is not compacted (XCOMP_BV bit 63 clear)");
        }
        long components = xcompBv & ~COMPACTED;
        XsaveArea out = blank(layout, standardSize);
        System.arraycopy(compacted, 0, out.bytes, 0, XsaveLayout.LEGACY_SIZE);
        out.setXstateBv(in.getLong(XSTATE_BV));
        Map<Integer, Integer> offsets = layout.compactedOffsets(components);
        for (Map.Entry<Integer, Integer> e : offsets.entrySet()) {
            int i = e.getKey();
            if (i >= 2 && out.present(i)) {
                XsaveLayout.Component c = layout.require(i);
                if (e.getValue() + c.size() > compacted.length) {
                    throw new XsaveException("the compacted XSAVE image ends before component " + i + " (" + c.name() + ")");
                }
                System.arraycopy(compacted, e.getValue(), out.bytes, c.offset(), c.size());
            }
        }
        return out;
    }

    /**
     * This state in another CPU's layout (saved on a host with one leaf 0xD, loaded on a host with another): the
     * legacy region and header carry over, every component present in XSTATE_BV moves to its offset in
     * {@code target}. A present component {@code target} lacks is an error naming it; nothing is returned half-moved.
     */
    public XsaveArea relayout(XsaveLayout target, int targetSize) {
        for (int i = 2; i < 63; i++) {
            if (present(i) && !target.has(i)) {
                throw new XsaveException("the saved XSAVE state has component " + i + " (" + XsaveComponent.nameOf(i)
                        + ") in use, but the target CPU has none: run it on a host (or CPU model) with "
                        + XsaveComponent.nameOf(i));
            }
        }
        XsaveArea out = blank(target, targetSize);
        System.arraycopy(bytes, 0, out.bytes, 0, XsaveLayout.HEADER_END);
        out.view.putLong(XCOMP_BV, 0);
        for (int i = 2; i < 63; i++) {
            if (present(i)) {
                out.setComponent(i, component(i));
            }
        }
        return out;
    }

    public XsaveArea relayout(XsaveLayout target) {
        return relayout(target, target.standardSize());
    }

    /**
     * The same state in one form whichever CPU saved it: a component marked in XSTATE_BV exactly when it is out of
     * its init configuration (x87: FCW 0x37F, all else 0; SSE: XMM0-15 zero and MXCSR 0x1F80; the others: all
     * zero), the bytes of unmarked components at their init values, and the bytes no processor state lives in
     * (legacy 416-511, header 528-575) zero. XINUSE is the CPU's choice: KVM's kernel marks SSE after reset and
     * writes its own software bytes at 464, the software core marks x87 and SSE always. APX (19) is left as it is:
     * XSTATE_BV[19] clear on a load means "keep R16-R31", not "zero them".
     */
    public XsaveArea canonical() {
        XsaveArea c = new XsaveArea(layout, bytes.clone());
        long bv = c.xstateBv();
        if ((bv & 1) == 0) {
            Arrays.fill(c.bytes, 0, MXCSR, (byte) 0);
            Arrays.fill(c.bytes, ST0, XMM0, (byte) 0);
            c.view.putShort(FCW, (short) 0x37F);
        }
        if ((bv & 2) == 0) {
            Arrays.fill(c.bytes, XMM0, XMM0 + 256, (byte) 0);
        }
        boolean x87Init = c.fcw() == 0x37F && allZero(c.bytes, FSW, MXCSR) && allZero(c.bytes, ST0, XMM0);
        boolean sseInit = c.mxcsr() == 0x1F80 && allZero(c.bytes, XMM0, XMM0 + 256);
        bv = (bv & ~3L) | (x87Init ? 0 : 1) | (sseInit ? 0 : 2);
        Arrays.fill(c.bytes, XMM0 + 256, XsaveLayout.LEGACY_SIZE, (byte) 0);
        Arrays.fill(c.bytes, XCOMP_BV + 8, XsaveLayout.HEADER_END, (byte) 0);
        for (XsaveLayout.Component k : layout.components()) {
            int i = k.number();
            if (i < 2 || k.supervisor() || i == ApxState.COMPONENT || k.offset() + k.size() > c.bytes.length) {
                continue;
            }
            if ((bv & k.mask()) == 0 || allZero(c.bytes, k.offset(), k.offset() + k.size())) {
                Arrays.fill(c.bytes, k.offset(), k.offset() + k.size(), (byte) 0);
                bv &= ~k.mask();
            }
        }
        c.setXstateBv(bv);
        return c;
    }

    private static boolean allZero(byte[] b, int from, int to) {
        for (int i = from; i < to; i++) {
            if (b[i] != 0) {
                return false;
            }
        }
        return true;
    }

    /** Same components present with the same contents, and the same legacy region (layouts may differ). */
    public boolean sameState(XsaveArea other) {
        if (xstateBv() != other.xstateBv() || !Arrays.equals(bytes, 0, XsaveLayout.LEGACY_SIZE, other.bytes, 0, XsaveLayout.LEGACY_SIZE)) {
            return false;
        }
        for (int i = 2; i < 63; i++) {
            if (present(i) && !Arrays.equals(component(i), other.component(i))) {
                return false;
            }
        }
        return true;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof XsaveArea a && layout.equals(a.layout) && Arrays.equals(bytes, a.bytes);
    }

    @Override
    public int hashCode() {
        return Arrays.hashCode(bytes);
    }
}

package io.jkvm.x86;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.Random;
import java.util.stream.IntStream;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class XsaveAreaTest {
    private static final long SEED = 0x6A6B766DL; // "jkvm": fixed, so CI runs the same cases

    /** A standard-format area of {@code layout} with random contents in a random subset of its components. */
    static XsaveArea random(XsaveLayout layout, Random r) {
        XsaveArea a = XsaveArea.blank(layout);
        byte[] legacy = new byte[16];
        for (int i = 0; i < 8; i++) {
            r.nextBytes(legacy);
            a.setSt(i, legacy);
        }
        for (int i = 0; i < 16; i++) {
            r.nextBytes(legacy);
            a.setXmm(i, legacy);
        }
        a.setFcw(0x37F & r.nextInt()).setMxcsr(0x1F80 | (r.nextInt() & 0x3F));
        for (XsaveLayout.Component c : layout.components()) {
            if (c.number() >= 2 && !c.supervisor() && r.nextBoolean()) {
                byte[] bytes = new byte[c.size()];
                r.nextBytes(bytes);
                a.setComponent(c.number(), bytes);
            }
        }
        return a;
    }

    static Stream<Integer> seeds() {
        return IntStream.range(0, 64).boxed();
    }

    @ParameterizedTest
    @MethodSource("seeds")
    void standardToCompactedToStandardIsTheIdentity(int n) {
        Random r = new Random(SEED + n);
        for (CpuidTable t : new CpuidTable[]{CpuidFixtures.intel(), CpuidFixtures.zen(), CpuidFixtures.apx(), CpuidFixtures.apxElsewhere()}) {
            XsaveLayout l = XsaveLayout.fromCpuid(t);
            XsaveArea a = random(l, r);
            long xcompBv = l.userMask() | a.xstateBv();
            byte[] compacted = a.toCompacted(xcompBv);
            assertEquals(l.compactedSize(xcompBv), compacted.length);
            XsaveArea back = XsaveArea.fromCompacted(l, compacted, l.standardSize());
            assertArrayEquals(a.toBytes(), back.toBytes());
        }
    }

    @ParameterizedTest
    @MethodSource("seeds")
    void layoutAToBToAIsTheIdentity(int n) {
        Random r = new Random(SEED * 31 + n);
        XsaveLayout apx = XsaveLayout.fromCpuid(CpuidFixtures.apx());
        XsaveLayout elsewhere = XsaveLayout.fromCpuid(CpuidFixtures.apxElsewhere());
        XsaveArea a = random(apx, r);
        XsaveArea b = a.relayout(elsewhere);
        assertTrue(a.sameState(b));
        assertEquals(a.apx(), b.apx());
        XsaveArea back = b.relayout(apx);
        assertArrayEquals(a.toBytes(), back.toBytes());
    }

    @Test
    void relayoutMovesApxToTheTargetOffset() {
        XsaveLayout apx = XsaveLayout.fromCpuid(CpuidFixtures.apx());
        XsaveLayout elsewhere = XsaveLayout.fromCpuid(CpuidFixtures.apxElsewhere());
        ApxState regs = new ApxState(sequence(0x1600));
        XsaveArea moved = XsaveArea.blank(apx).setApx(regs).relayout(elsewhere);
        assertEquals(regs, moved.apx());
        byte[] b = moved.toBytes();
        assertEquals(0x00, b[3072], "R16 = 0x1600, little-endian at the target's offset");
        assertEquals(0x16, b[3073]);
        assertEquals(0x01, b[3072 + 8], "R17 = 0x1601");
        assertEquals(0x00, b[961], "nothing left at the source offset");
    }

    private static long[] sequence(long base) {
        long[] r = new long[16];
        for (int i = 0; i < 16; i++) {
            r[i] = base + i;
        }
        return r;
    }

    @Test
    void relayoutToALayoutLackingAComponentInUseNamesIt() {
        XsaveArea a = XsaveArea.blank(XsaveLayout.fromCpuid(CpuidFixtures.apx())).setApx(ApxState.zero().withR(31, 1));
        XsaveException e = assertThrows(XsaveException.class, () -> a.relayout(XsaveLayout.fromCpuid(CpuidFixtures.zen())));
        assertEquals("the saved XSAVE state has component 19 (APX (R16-R31)) in use, but the target CPU has none: "
                + "run it on a host (or CPU model) with APX (R16-R31)", e.getMessage());
        XsaveArea init = XsaveArea.blank(XsaveLayout.fromCpuid(CpuidFixtures.apx()));
        assertFalse(init.relayout(XsaveLayout.fromCpuid(CpuidFixtures.zen())).present(19), "an APX component in init state moves fine");
    }

    @Test
    void legacyFieldsAndHeaderAreAtTheirArchitecturalOffsets() {
        XsaveArea a = XsaveArea.blank(XsaveLayout.fromCpuid(CpuidFixtures.zen()));
        assertEquals(0x37F, a.fcw());
        assertEquals(0x1F80, a.mxcsr());
        assertEquals(0, a.xstateBv());
        a.setXmm(15, new byte[]{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16});
        assertEquals(16, a.toBytes()[160 + 15 * 16 + 15]);
        assertEquals(0x2, a.xstateBv());
        a.setComponent(9, new byte[]{0x55, 0, 0, 0, 0, 0, 0, 0});
        assertEquals(0x55, a.toBytes()[0x980]);
        assertEquals(0x202, a.xstateBv());
        a.clearComponent(9);
        assertEquals(0x2, a.xstateBv());
        assertArrayEquals(new byte[8], a.component(9));
    }

    @Test
    void anImageMarkingAComponentBeyondItsEndIsTruncated() {
        XsaveLayout l = XsaveLayout.fromCpuid(CpuidFixtures.intel());
        byte[] image = new byte[4096];
        image[512 + 2] = 0x04; // XSTATE_BV bit 18: tile data at 2816 + 8192
        XsaveException e = assertThrows(XsaveException.class, () -> XsaveArea.of(l, image));
        assertTrue(e.getMessage().contains("ends before component 18 (AMX TILEDATA)"), e.getMessage());
    }

    @Test
    void apxComponentIsR16ToR31InOrder() {
        XsaveArea a = XsaveArea.blank(XsaveLayout.fromCpuid(CpuidFixtures.apx()));
        assertTrue(a.apx().isInit());
        a.setApx(new ApxState(sequence(0xA000)));
        assertTrue(a.present(19));
        byte[] b = a.toBytes();
        for (int i = 0; i < 16; i++) {
            assertEquals((byte) (i), b[960 + 8 * i], "low byte of R" + (16 + i));
            assertEquals((byte) 0xA0, b[960 + 8 * i + 1]);
        }
        assertEquals(0xA00F, a.apx().r(31));
    }
}

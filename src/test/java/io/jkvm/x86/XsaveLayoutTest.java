package io.jkvm.x86;

import org.junit.jupiter.api.Test;

import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class XsaveLayoutTest {

    private static void assertComponent(XsaveLayout l, int number, int size, int offset) {
        XsaveLayout.Component c = l.require(number);
        assertEquals(size, c.size(), "size of component " + number);
        assertEquals(offset, c.offset(), "offset of component " + number);
    }

    @Test
    void intelLikePartWithPkruAt0xA80AndAmx() {
        XsaveLayout l = XsaveLayout.fromCpuid(CpuidFixtures.intel());
        assertEquals(0x602E7L, l.userMask());
        assertComponent(l, 2, 256, 576);
        assertComponent(l, 5, 64, 1088);
        assertComponent(l, 6, 512, 1152);
        assertComponent(l, 7, 1024, 1664);
        assertComponent(l, 9, 8, 0xA80);
        assertComponent(l, 17, 64, 2752);
        assertComponent(l, 18, 8192, 2816);
        assertTrue(l.require(18).xfd(), "tile data is XFD-controlled");
        assertTrue(l.require(18).aligned64());
        assertFalse(l.has(19));
        assertEquals(2816 + 8192, l.standardSize());
    }

    @Test
    void zenLikePartWithPkruAt0x980() {
        XsaveLayout l = XsaveLayout.fromCpuid(CpuidFixtures.zen());
        assertComponent(l, 5, 64, 832);
        assertComponent(l, 6, 512, 896);
        assertComponent(l, 7, 1024, 1408);
        assertComponent(l, 9, 8, 0x980);
        assertEquals(0x980 + 8, l.standardSize());
    }

    @Test
    void apxPartHasR16ToR31At960BelowAvx512AndTheSizeIsTheLargestEnd() {
        XsaveLayout l = XsaveLayout.fromCpuid(CpuidFixtures.apx());
        assertComponent(l, 19, 128, 960);
        assertTrue(l.offset(19) < l.offset(5), "offsets are not ascending by component number");
        assertEquals(1664 + 1024, l.standardSize(), "max(offset + size), not the highest component's end (1088)");
        assertEquals(960 + 128, l.standardSize(0x80007L), "with only x87/SSE/AVX/APX enabled");
    }

    @Test
    void anInventedLayoutIsFollowedNot960() {
        XsaveLayout l = XsaveLayout.fromCpuid(CpuidFixtures.apxElsewhere());
        assertComponent(l, 19, 128, 3072);
        assertEquals(3200, l.standardSize());
        XsaveArea a = XsaveArea.blank(l).setApx(ApxState.zero().withR(16, 0x1122334455667788L));
        byte[] b = a.toBytes();
        assertEquals(0x88, b[3072] & 0xFF, "R16 is at CPUID.(0xD,19).EBX");
        assertEquals(0, b[960], "nothing at 960");
    }

    @Test
    void compactedOffsetsFollowXcompBvWithAlignment() {
        XsaveLayout l = XsaveLayout.fromCpuid(CpuidFixtures.intel());
        Map<Integer, Integer> all = l.compactedOffsets(0x602E7L);
        assertEquals(576, all.get(2));
        assertEquals(832, all.get(5));
        assertEquals(896, all.get(6));
        assertEquals(1408, all.get(7));
        assertEquals(2432, all.get(9));
        assertEquals(2496, all.get(17), "2440 rounded up to 64");
        assertEquals(2560, all.get(18));
        assertEquals(2560 + 8192, l.compactedSize(0x602E7L));
        Map<Integer, Integer> some = l.compactedOffsets(0x60203L);
        assertEquals(576, some.get(9), "PKRU first when AVX-512 is not in XCOMP_BV");
        assertEquals(640, some.get(17));
        assertFalse(some.containsKey(2));
    }

    @Test
    void askingForAComponentTheLayoutLacksNamesIt() {
        XsaveLayout l = XsaveLayout.fromCpuid(CpuidFixtures.zen());
        XsaveException e = assertThrows(XsaveException.class, () -> l.require(19));
        assertEquals("the XSAVE layout has no component 19 (APX (R16-R31)): its CPUID leaf 0xD does not enumerate it", e.getMessage());
    }
}

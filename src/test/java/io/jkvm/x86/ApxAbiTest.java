package io.jkvm.x86;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The kernel's apx_test.c cases at the ABI level, through the state record and the XSAVE area at the offset
 * CPUID.(0xD,19).EBX gives (960 on the APX part, 3072 on the invented one). The guest-program versions come
 * with the software core, which reuses these expectations.
 */
class ApxAbiTest {
    private static final CpuidTable[] PARTS = {CpuidFixtures.apx(), CpuidFixtures.apxElsewhere()};

    private static VcpuState state(CpuidTable cpuid, XsaveArea xsave, long xcr0) {
        return new VcpuState(cpuid, Registers.zero(), dummySregs(), xcr0, xsave,
                new java.util.LinkedHashMap<>(), PendingEvents.none(), DebugRegisters.initial(), Activity.ACTIVE);
    }

    private static SpecialRegisters dummySregs() {
        Segment s = Segment.flatData(0x10);
        return new SpecialRegisters(Segment.flatCode64(8), s, s, s, s, s, Segment.tss64(0x18, 0, 0x67), Segment.unusableLdt(),
                new DescriptorTable(0, 0), new DescriptorTable(0, 0), 0, 0, 0, 0, 0, 0, 0, new long[4]);
    }

    private static ApxState pattern(long base) {
        long[] r = new long[16];
        for (int i = 0; i < 16; i++) {
            r[i] = base ^ ((16L + i) * 0x0101010101010101L);
        }
        return new ApxState(r);
    }

    @Test
    void caseAGuestWrittenEgprsAreVisibleToTheHostAndRestored() {
        for (CpuidTable part : PARTS) {
            XsaveLayout layout = XsaveLayout.fromCpuid(part);
            // What KVM_GET_XSAVE2 hands back after the guest wrote R16..R31: the component at its CPUID offset, bit 19 set.
            XsaveArea fromKvm = XsaveArea.blank(layout).setApx(pattern(0xAAAA));
            byte[] image = fromKvm.toBytes();
            XsaveArea read = XsaveArea.of(layout, image);
            VcpuState s = state(part, read, 0x800E7L);
            for (int n = 16; n < 32; n++) {
                assertEquals(pattern(0xAAAA).r(n), s.gpr(n), "R" + n);
            }
            // Set back unchanged: the same bytes go to KVM_SET_XSAVE.
            assertEquals(java.util.Arrays.toString(image), java.util.Arrays.toString(s.xsave().toBytes()));
        }
    }

    @Test
    void caseBHostWrittenEgprsCarryXstateBv19AtTheCpuidOffset() {
        for (CpuidTable part : PARTS) {
            XsaveLayout layout = XsaveLayout.fromCpuid(part);
            XsaveArea a = XsaveArea.blank(layout).setApx(pattern(0xBBBB));
            assertTrue(a.present(19));
            assertEquals(1L << 19, a.xstateBv() & (1L << 19));
            java.nio.ByteBuffer b = java.nio.ByteBuffer.wrap(a.toBytes()).order(java.nio.ByteOrder.LITTLE_ENDIAN);
            assertEquals(pattern(0xBBBB).r(16), b.getLong(part.leaf(0xD, 19).ebx()));
            assertEquals(pattern(0xBBBB).r(31), b.getLong(part.leaf(0xD, 19).ebx() + 120));
        }
    }

    @Test
    void caseCValuesSurviveXcr0ApxOffAndOn() {
        XsaveLayout layout = XsaveLayout.fromCpuid(CpuidFixtures.apx());
        VcpuState on = state(CpuidFixtures.apx(), XsaveArea.blank(layout).setApx(pattern(0xCCCC)), 0x800E7L);
        VcpuState off = on.withXcr0(0xE7L);
        assertFalse(Xcr0Rules.violation(off.xcr0(), 0x800E7L).isPresent());
        assertEquals(pattern(0xCCCC), off.egprs(), "clearing XCR0[APX] keeps R16..R31 (patch 05)");
        VcpuState back = off.withXcr0(0x800E7L);
        assertEquals(pattern(0xCCCC), back.egprs());
        assertTrue(on.sameState(back));
    }

    @Test
    void anApxBitClearMeansInitStateNotTheBufferBytes() {
        XsaveLayout layout = XsaveLayout.fromCpuid(CpuidFixtures.apx());
        byte[] image = XsaveArea.blank(layout).setApx(pattern(0xDDDD)).toBytes();
        image[XsaveArea.XSTATE_BV + 2] &= ~0x08; // clear bit 19, bytes stay
        assertTrue(XsaveArea.of(layout, image).apx().isInit());
    }
}

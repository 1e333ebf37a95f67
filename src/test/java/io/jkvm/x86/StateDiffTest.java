package io.jkvm.x86;

import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The state comparison a handoff makes after each move, and the one XSAVE form both backends' records share. */
class StateDiffTest {
    private static final CpuidTable CPU = CpuidFixtures.intel();
    private static final XsaveLayout LAYOUT = XsaveLayout.fromCpuid(CPU);

    private static SpecialRegisters sregs(long trBase) {
        Segment d = Segment.flatData(0x10);
        return new SpecialRegisters(Segment.flatCode64(8), d, d, d, d, d, Segment.tss64(0x18, trBase, 0x67),
                Segment.unusableLdt(), new DescriptorTable(0x1000, 39), new DescriptorTable(0, 0),
                0x80050033L, 0, 0x2000, 0x620, 0, 0xD00, 0xFEE00900L, new long[4]);
    }

    private static VcpuState state(SpecialRegisters s, XsaveArea x, Map<Integer, Long> msrs) {
        return new VcpuState(CPU, Registers.zero().withRip(0x100000), s, 1, x, new LinkedHashMap<>(msrs), PendingEvents.none(),
                DebugRegisters.initial(), Activity.ACTIVE);
    }

    private static Map<Integer, Long> msrs(long tsc, long lstar) {
        Map<Integer, Long> m = new LinkedHashMap<>();
        m.put(Msrs.IA32_TSC, tsc);
        m.put(Msrs.IA32_LSTAR, lstar);
        return m;
    }

    @Test
    void equalRecordsHaveNoDifference() {
        VcpuState a = state(sregs(0x1800), XsaveArea.blank(LAYOUT), msrs(100, 0x1000));
        VcpuState b = state(sregs(0x1800), XsaveArea.blank(LAYOUT, 4096), msrs(100, 0x1000));
        assertEquals(Optional.empty(), a.firstDifference(b), "a bigger buffer of the same state is the same state");
    }

    @Test
    void theFirstDifferingFieldIsNamedWithBothValues() {
        VcpuState a = state(sregs(0x1800), XsaveArea.blank(LAYOUT), msrs(100, 0x1000));
        assertEquals(Optional.of("specialRegisters.tr.base: 0x1800 vs 0x0"),
                a.firstDifference(state(sregs(0), XsaveArea.blank(LAYOUT), msrs(100, 0x1000))));
        assertEquals(Optional.of("msrs[0xc0000082]: 0x1000 vs 0x2000"),
                a.firstDifference(state(sregs(0x1800), XsaveArea.blank(LAYOUT), msrs(100, 0x2000))));
        assertEquals(Optional.of("registers.rax: 0x0 vs 0x7"), a.firstDifference(a.withRegisters(a.registers().withGpr(0, 7))));
        Map<Integer, Long> fewer = new LinkedHashMap<>(Map.of(Msrs.IA32_TSC, 100L));
        assertEquals(Optional.of("msrs keys: [0x10, 0xc0000082] vs [0x10]"),
                a.firstDifference(state(sregs(0x1800), XsaveArea.blank(LAYOUT), fewer)));
    }

    @Test
    void xsaveDifferencesNameTheRegisterAndTheComponent() {
        VcpuState a = state(sregs(0), XsaveArea.blank(LAYOUT), msrs(1, 1));
        byte[] xmm = new byte[16];
        xmm[2] = 0x5A;
        assertEquals(Optional.of("xsave.XMM3 (byte 210): 0x0 vs 0x5a"),
                a.firstDifference(a.withXsave(XsaveArea.blank(LAYOUT).setXmm(3, xmm))));
        assertEquals(Optional.of("xsave.MXCSR (byte 25): 0x1f vs 0x3f"),
                a.firstDifference(a.withXsave(XsaveArea.blank(LAYOUT).setMxcsr(0x3F80))));
        byte[] ymm = new byte[256];
        ymm[0] = 1;
        VcpuState withAvx = a.withXsave(XsaveArea.blank(LAYOUT).setComponent(2, ymm));
        ymm[0] = 2;
        assertEquals(Optional.of("xsave.component 2 (AVX (YMM_Hi128))[0]: 0x1 vs 0x2"),
                withAvx.firstDifference(a.withXsave(XsaveArea.blank(LAYOUT).setComponent(2, ymm))));
    }

    @Test
    void theTscMayReadBackAheadButNotBehind() {
        VcpuState a = state(sregs(0), XsaveArea.blank(LAYOUT), msrs(1000, 1));
        assertEquals(Optional.empty(), a.firstDifference(state(sregs(0), XsaveArea.blank(LAYOUT), msrs(5000, 1))));
        assertEquals(Optional.of("msrs[0x10] (IA32_TSC) went back: 0x3e8 vs 0x3e7"),
                a.firstDifference(state(sregs(0), XsaveArea.blank(LAYOUT), msrs(999, 1))));
    }

    /** What KVM's kernel hands back after reset: SSE marked though in its init state, its own bytes at 464. */
    private static XsaveArea kvmStyleInit() {
        byte[] b = XsaveArea.blank(LAYOUT, 4096).toBytes();
        ByteBuffer v = ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN);
        v.putLong(XsaveArea.XSTATE_BV, 0x2);
        v.putInt(XsaveArea.MXCSR_MASK, 0xFFFF);
        v.putInt(464, 0x46505853); // FP_XSTATE_MAGIC1 in the software-available bytes
        return XsaveArea.of(LAYOUT, b);
    }

    /** What the software core exports: x87 and SSE always marked. */
    private static XsaveArea coreStyleInit() {
        byte[] b = XsaveArea.blank(LAYOUT).toBytes();
        ByteBuffer v = ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN);
        v.putLong(XsaveArea.XSTATE_BV, 0x3);
        v.putInt(XsaveArea.MXCSR_MASK, 0xFFFF);
        return XsaveArea.of(LAYOUT, b);
    }

    @Test
    void theInitStateReadsTheSameFromEitherBackend() {
        XsaveArea kvm = kvmStyleInit().canonical();
        XsaveArea core = coreStyleInit().canonical();
        assertEquals(0, kvm.xstateBv(), "x87 and SSE in their init state are not marked");
        assertEquals(0, core.xstateBv());
        VcpuState a = state(sregs(0), kvm, msrs(1, 1));
        assertEquals(Optional.empty(), a.firstDifference(a.withXsave(core)));
    }

    @Test
    void stateOutOfItsInitConfigurationStaysMarked() {
        XsaveArea x = XsaveArea.blank(LAYOUT).setFcw(0x27F).setMxcsr(0x3F80).canonical();
        assertEquals(0x3, x.xstateBv(), "x87 (FCW) and SSE (MXCSR) both out of init");
        assertEquals(0x27F, x.fcw());
        assertEquals(0x3F80, x.mxcsr());
        byte[] zeros = new byte[256];
        XsaveArea avxZero = XsaveArea.blank(LAYOUT).setComponent(2, zeros).canonical();
        assertFalse(avxZero.present(2), "an all-zero AVX component is its init state");
        byte[] one = new byte[256];
        one[255] = 1;
        assertTrue(XsaveArea.blank(LAYOUT).setComponent(2, one).canonical().present(2));
    }

    @Test
    void apxIsLeftMarkedEvenWhenZero() {
        XsaveLayout apx = XsaveLayout.fromCpuid(CpuidFixtures.apx());
        XsaveArea x = XsaveArea.blank(apx).setApx(ApxState.zero()).canonical();
        assertTrue(x.present(ApxState.COMPONENT), "XSTATE_BV[19] clear on a load would keep stale R16-R31");
    }

    @Test
    void unmarkedComponentsReadAsTheirInitValues() {
        byte[] b = XsaveArea.blank(LAYOUT).setXmm(0, new byte[]{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}).toBytes();
        ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).putLong(XsaveArea.XSTATE_BV, 0); // stale bytes, bit clear
        XsaveArea x = XsaveArea.of(LAYOUT, b).canonical();
        assertEquals(0, x.xstateBv());
        assertEquals(0, x.xmm(0)[0], "XMM0 of an unmarked SSE component is zero");
    }
}

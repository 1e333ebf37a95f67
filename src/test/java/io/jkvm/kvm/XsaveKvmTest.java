package io.jkvm.kvm;

import io.jkvm.linux.LinuxException;
import io.jkvm.testing.LongModeVm;
import io.jkvm.testing.RequiresKvm;
import io.jkvm.x86.ApxState;
import io.jkvm.x86.CpuModel;
import io.jkvm.x86.XsaveArea;
import io.jkvm.x86.XsaveLayout;
import io.jkvm.x86.VcpuStateException;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.Random;

import static io.jkvm.testing.LongModeVm.hex;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** KVM_GET_XSAVE2 / KVM_SET_XSAVE through the typed area, on the real /dev/kvm. */
@RequiresKvm
class XsaveKvmTest {

    /** x87, SSE and every extended user component the host has, filled with random bytes host-side. */
    static XsaveArea filled(XsaveLayout layout, int size, long seed) {
        Random r = new Random(seed);
        XsaveArea a = XsaveArea.blank(layout, size);
        byte[] sixteen = new byte[16];
        for (int i = 0; i < 8; i++) {
            r.nextBytes(sixteen);
            Arrays.fill(sixteen, 10, 16, (byte) 0); // ST registers are 80 bits: the rest of the slot is reserved
            a.setSt(i, sixteen);
        }
        for (int i = 0; i < 16; i++) {
            r.nextBytes(sixteen);
            a.setXmm(i, sixteen);
        }
        a.setFcw(0x27F).setMxcsr(0x1FA0);
        for (XsaveLayout.Component c : layout.components()) {
            if (c.number() >= 2 && !c.supervisor() && c.number() != ApxState.COMPONENT) {
                byte[] bytes = new byte[c.size()];
                r.nextBytes(bytes);
                if (c.number() == 9) {
                    Arrays.fill(bytes, 4, bytes.length, (byte) 0); // PKRU is 32 bits; KVM keeps no bytes past them
                }
                a.setComponent(c.number(), bytes);
            }
        }
        return a;
    }

    /** The refusals below are what a host whose KVM lacks APX does; an APX host accepts the same state. */
    private static void assumeHostKvmLacksApx(LongModeVm g) {
        assumeTrue((g.vm.hostCpuid().supportedXcr0() & (1L << ApxState.COMPONENT)) == 0,
                "this host's KVM supports XCR0 bit 19 (APX): it accepts APX state, so there is no refusal to check");
    }

    @Test
    void bufferSizeComesFromKvmCapXsave2() {
        try (LongModeVm g = new LongModeVm(hex("f4"))) {
            int cap = g.vm.checkExtension(Capability.XSAVE2);
            assertEquals(cap == 0 ? 4096 : cap, g.vcpu.xsaveSize());
            assertTrue(g.vcpu.xsaveSize() >= g.vm.hostLayout().standardSize());
        }
    }

    @Test
    void x87SseAvxAndAvx512StateRoundTrips() {
        try (LongModeVm g = new LongModeVm(hex("f4"))) {
            XsaveLayout host = g.vm.hostLayout();
            XsaveArea written = filled(host, g.vcpu.xsaveSize(), 1);
            g.vcpu.setXsave(written);
            XsaveArea read = g.vcpu.xsaveArea();
            assertEquals(0x27F, read.fcw());
            assertEquals(0x1FA0, read.mxcsr());
            for (int i = 0; i < 16; i++) {
                assertArrayEquals(written.xmm(i), read.xmm(i), "XMM" + i);
            }
            for (int i = 0; i < 8; i++) {
                assertArrayEquals(Arrays.copyOf(written.st(i), 10), Arrays.copyOf(read.st(i), 10), "ST" + i);
            }
            for (XsaveLayout.Component c : host.components()) {
                if (c.number() >= 2 && !c.supervisor()) {
                    assertTrue(read.present(c.number()), c.name() + " is in XSTATE_BV");
                    assertArrayEquals(written.component(c.number()), read.component(c.number()), c.name());
                }
            }
            assertTrue(host.has(2), "this host has AVX: the round trip covered YMM_Hi128");
        }
    }

    @Test
    void setXsaveWorksOnAVcpuWithNoCpuidSet() {
        try (Kvm kvm = Kvm.open(); Vm vm = kvm.createVm()) {
            KvmVcpu vcpu = vm.createVcpu(0);
            assertTrue(vcpu.model().isEmpty());
            XsaveArea a = XsaveArea.blank(vm.hostLayout(), vcpu.xsaveSize()).setXmm(3, new byte[]{9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9});
            vcpu.setXsave(a);
            assertArrayEquals(a.xmm(3), vcpu.xsaveArea().xmm(3));
        }
    }

    @Test
    void kvmItselfRejectsXstateBvBit19WithEinvalOnAHostWithoutApx() {
        try (LongModeVm g = new LongModeVm(hex("f4"))) {
            assumeHostKvmLacksApx(g);
            byte[] raw = g.vcpu.xsave();
            raw[XsaveArea.XSTATE_BV + 2] |= 0x08; // bit 19
            LinuxException e = assertThrows(LinuxException.class, () -> g.vcpu.setXsave(raw));
            assertEquals(22, e.errno(), "KVM validates XSTATE_BV against its supported mask: EINVAL");
            assertEquals("ioctl(KVM_SET_XSAVE) on KVM vCPU 0 fd: Invalid argument (errno 22)", e.getMessage());
        }
    }

    @Test
    void jkvmRefusesApxStateBeforeAnyIoctlAndChangesNothing() {
        try (LongModeVm g = new LongModeVm(hex("f4"))) {
            XsaveArea before = g.vcpu.xsaveArea();
            XsaveLayout apxLayout = CpuModel.parse("host,+apx", g.vm.hostCpuid(), io.jkvm.linux.HostCpu.mxcsrMask()).layout();
            XsaveArea withApx = XsaveArea.blank(apxLayout, g.vcpu.xsaveSize())
                    .setXmm(0, new byte[16]).setApx(ApxState.zero().withR(16, 0x1616));
            VcpuStateException e = assertThrows(VcpuStateException.class, () -> g.vcpu.setXsave(withApx));
            assertEquals("the XSAVE state carries APX registers R16-R31 (XSTATE_BV bit 19) but vCPU 0 cannot hold them: "
                    + "its CPU model has no APX (CPUID.(7,1):EDX[21]); run it on a host with APX or on the software core", e.getMessage());
            assertArrayEquals(before.toBytes(), g.vcpu.xsaveArea().toBytes(), "nothing was applied");
        }
    }

    @Test
    void anApxModelOnAHostWithoutApxIsRefusedForTheHostsReason() {
        try (LongModeVm g = new LongModeVm(hex("f4"))) {
            assumeHostKvmLacksApx(g);
            CpuModel apx = CpuModel.parse("host,+apx", g.vm.hostCpuid(), io.jkvm.linux.HostCpu.mxcsrMask());
            g.vcpu.setCpuid(apx.cpuid());
            XsaveArea withApx = XsaveArea.blank(apx.layout(), g.vcpu.xsaveSize()).setApx(ApxState.zero().withR(20, 20));
            VcpuStateException e = assertThrows(VcpuStateException.class, () -> g.vcpu.setXsave(withApx));
            assertTrue(e.getMessage().contains("this host's KVM does not support XCR0 bit 19 (APX)"), e.getMessage());
        }
    }

    @Test
    void apxBitClearLeavesStateAloneAndAnAreaFromAnotherLayoutIsMovedToTheHosts() {
        try (LongModeVm g = new LongModeVm(hex("f4"))) {
            // Saved under an APX model (component 19 at its own offset) but with APX in init state: loads fine here.
            XsaveLayout apxLayout = CpuModel.parse("host,+apx", g.vm.hostCpuid(), io.jkvm.linux.HostCpu.mxcsrMask()).layout();
            byte[] ymm = new byte[256];
            Arrays.fill(ymm, (byte) 0x5A);
            XsaveArea a = XsaveArea.blank(apxLayout, g.vcpu.xsaveSize()).setComponent(2, ymm);
            assertFalse(a.present(19));
            g.vcpu.setXsave(a);
            assertArrayEquals(ymm, g.vcpu.xsaveArea().component(2));
        }
    }

    @Test
    void aHostSideXcr0SetFollowsTheRules() {
        try (LongModeVm g = new LongModeVm(hex("f4"))) {
            long before = g.vcpu.xcrs().get(0);
            VcpuStateException bad = assertThrows(VcpuStateException.class, () -> g.vcpu.setXcr0(0x5));
            assertEquals("cannot set XCR0 on vCPU 0: XCR0 enables AVX (bit 2) without SSE (bit 1)", bad.getMessage());
            VcpuStateException apx = assertThrows(VcpuStateException.class, () -> g.vcpu.setXcr0(0x80003));
            assertTrue(apx.getMessage().contains("XCR0 bit 19 (APX (R16-R31)) is not supported"), apx.getMessage());
            assertEquals(before, g.vcpu.xcrs().get(0), "unchanged");
            g.vcpu.setXcr0(0x7);
            assertEquals(7L, g.vcpu.xcrs().get(0));
        }
    }
}

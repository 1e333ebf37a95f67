package io.jkvm.kvm;

import io.jkvm.linux.HostCpu;
import io.jkvm.testing.EmuVm;
import io.jkvm.testing.LongModeVm;
import io.jkvm.testing.RequiresKvm;
import io.jkvm.x86.CpuModel;
import io.jkvm.x86.CpuidFixtures;
import io.jkvm.x86.VcpuState;
import io.jkvm.x86.XsaveArea;
import io.jkvm.x86.VcpuStateException;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Optional;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The legacy XSAVE region of each vendor, MXCSR_MASK included, moves KVM -> core -> KVM exactly, and between the
 * vendors' fixtures on the core; a record whose MXCSR uses a bit the target's mask lacks is refused with one line,
 * the target untouched. The KVM side is at the ioctl level (no guest code runs on KVM: running would put this
 * host's own mask back, as hardware FXSAVE does), over this host's XSAVE layout with the fixture's vendor and mask.
 */
class VendorStateMoveTest {
    private static final byte[] HLT = LongModeVm.hex("f4");

    private static int mask(VcpuState s) {
        return ByteBuffer.wrap(s.xsave().toBytes()).order(ByteOrder.LITTLE_ENDIAN).getInt(XsaveArea.MXCSR_MASK);
    }

    /** The fixture's vendor string and MXCSR_MASK over this host's KVM CPUID (so KVM can hold the state). */
    private static CpuModel overHost(CpuModel fixture, LongModeVm k) {
        return new CpuModel(fixture.spec() + " over the host", CpuidFixtures.withVendor(k.cpuid, fixture.cpuid().vendor()), fixture.mxcsrMask());
    }

    /** x87, SSE and MXCSR out of their init state, with {@code mask} in the MXCSR_MASK field. */
    private static XsaveArea legacyState(XsaveArea from, int mxcsr, int mask) {
        XsaveArea a = XsaveArea.of(from.layout(), from.toBytes()).setFcw(0x027F).setMxcsr(mxcsr); // a copy: areas are mutable
        for (int i = 0; i < 16; i++) {
            byte[] v = new byte[16];
            java.util.Arrays.fill(v, (byte) (0x11 * (i + 1)));
            a.setXmm(i, v);
        }
        byte[] b = a.toBytes();
        ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).putInt(XsaveArea.MXCSR_MASK, mask);
        return XsaveArea.of(a.layout(), b);
    }

    @ParameterizedTest
    @ValueSource(strings = {"intel", "amd"})
    @RequiresKvm
    void kvmToCoreToKvmIsExactWithEachVendorsMxcsrMask(String vendor) {
        CpuModel fixture = vendor.equals("intel") ? CpuidFixtures.intelModel() : CpuidFixtures.amdModel();
        try (LongModeVm k1 = new LongModeVm(HLT); LongModeVm k2 = new LongModeVm(HLT)) {
            CpuModel model = overHost(fixture, k1);
            k1.vcpu.setCpuid(model.cpuid());
            k1.vcpu.setXsave(legacyState(k1.vcpu.xsaveArea(), 0x3F80, fixture.mxcsrMask()));
            VcpuState fromKvm = k1.vcpu.saveState();
            assertEquals(fixture.mxcsrMask(), mask(fromKvm), "KVM's record carries the vendor's mask");
            assertEquals(0x3F80, fromKvm.xsave().mxcsr());

            try (EmuVm core = new EmuVm(model, HLT)) {
                core.vcpu.restoreState(fromKvm);
                VcpuState fromCore = core.vcpu.saveState();
                assertEquals(Optional.empty(), fromKvm.firstDifference(fromCore), "KVM -> core");
                assertEquals(fixture.mxcsrMask(), mask(fromCore));

                k2.vcpu.restoreState(fromCore);
                VcpuState back = k2.vcpu.saveState();
                assertEquals(Optional.empty(), fromCore.firstDifference(back), "core -> KVM");
                assertEquals(fixture.mxcsrMask(), mask(back));
            }
        }
    }

    @Test
    @RequiresKvm
    void theHostModelsMaskIsWhatKvmReportsHere() {
        try (LongModeVm k = new LongModeVm(HLT)) {
            assertEquals(HostCpu.mxcsrMask(), mask(k.vcpu.saveState()), "a fresh KVM vCPU's XSAVE image carries the host's FXSAVE mask");
            assertTrue(HostCpu.mxcsrMask() == CpuModel.INTEL_MXCSR_MASK || HostCpu.mxcsrMask() == CpuModel.AMD_MXCSR_MASK,
                    String.format("MXCSR_MASK 0x%X: every x86-64 host jkvm supports reports one of the two", HostCpu.mxcsrMask()));
        }
    }

    @Test
    void anAmdRecordUsingMmMovesToAnAmdCoreAndIsRefusedByAnIntelOneUntouched() {
        CpuModel amd = CpuidFixtures.amdModel(), intel = CpuidFixtures.intelModel();
        try (EmuVm from = new EmuVm(amd, HLT); EmuVm toAmd = new EmuVm(amd, HLT); EmuVm toIntel = new EmuVm(intel, HLT)) {
            VcpuState s = from.vcpu.saveState();
            s = s.withXsave(legacyState(s.xsave(), 0x21F80, amd.mxcsrMask())); // MXCSR.MM set
            toAmd.vcpu.restoreState(s);
            assertEquals(Optional.empty(), s.firstDifference(toAmd.vcpu.saveState()));

            VcpuState before = toIntel.vcpu.saveState();
            VcpuState record = s;
            VcpuStateException e = assertThrows(VcpuStateException.class, () -> toIntel.vcpu.restoreState(record));
            assertEquals("cannot restore vCPU 0: the saved MXCSR 0x21F80 sets bit 17 (MM, AMD's misaligned-SSE mask), which this CPU model's"
                    + " MXCSR_MASK 0xFFFF lacks: restore it where the CPU model has that bit (an AMD host or model)", e.getMessage());
            assertEquals(Optional.empty(), before.firstDifference(toIntel.vcpu.saveState()), "nothing changed");
        }
    }

    @Test
    void anIntelRecordMovesToAnAmdCoreAcrossLayoutsAndTakesItsMask() {
        CpuModel amd = CpuidFixtures.amdModel(), intel = CpuidFixtures.intelModel();
        try (EmuVm from = new EmuVm(intel, HLT); EmuVm to = new EmuVm(amd, HLT)) {
            VcpuState s = from.vcpu.saveState();
            XsaveArea area = legacyState(s.xsave(), 0x3F80, intel.mxcsrMask()).setComponent(2, new byte[256]);
            byte[] ymm = new byte[256];
            ymm[0] = 0x5A;
            ymm[255] = (byte) 0xA5;
            s = s.withXsave(area.setComponent(2, ymm));
            assertEquals(576, s.xsave().layout().offset(2));
            to.vcpu.restoreState(s);
            VcpuState moved = to.vcpu.saveState();
            assertEquals(amd.mxcsrMask(), mask(moved), "the target CPU's own mask");
            assertEquals(0x3F80, moved.xsave().mxcsr());
            assertTrue(java.util.Arrays.equals(ymm, moved.xsave().component(2)), "AVX state at the AMD layout's offset");
            assertTrue(java.util.Arrays.equals(s.xsave().xmm(7), moved.xsave().xmm(7)));
        }
    }

    @Test
    @RequiresKvm
    void kvmRefusesAnMxcsrBitNoHostHasBeforeAnyIoctl() {
        try (LongModeVm k = new LongModeVm(HLT)) {
            VcpuState before = k.vcpu.saveState();
            VcpuState bad = before.withXsave(legacyState(before.xsave(), 0x41F80, HostCpu.mxcsrMask())); // bit 18: reserved
            VcpuStateException e = assertThrows(VcpuStateException.class, () -> k.vcpu.restoreState(bad));
            assertTrue(e.getMessage().startsWith("cannot restore vCPU 0: the saved MXCSR 0x41F80 sets bit 18 (reserved)"), e.getMessage());
            assertEquals(Optional.empty(), before.firstDifference(k.vcpu.saveState()), "nothing changed");
        }
    }
}

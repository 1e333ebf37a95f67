package io.jkvm.snapshot;

import io.jkvm.machine.Machine;
import io.jkvm.testing.EmuVm;
import io.jkvm.x86.ApxState;
import io.jkvm.x86.CpuModel;
import io.jkvm.x86.CpuidFixtures;
import io.jkvm.x86.VcpuState;
import io.jkvm.x86.XsaveComponent;
import org.junit.jupiter.api.Test;

import java.util.LinkedHashMap;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

/**
 * XSAVE state in a snapshot moves by component number, never by offset: APX's R16-R31, live in a vCPU whose layout
 * has them past the end (a host without the MPX hole, like Zen), go through the snapshot format and onto a core whose
 * layout has them at 960 (an APX part's), and back, the values intact.
 */
class SnapshotLayoutTest {
    private static final CpuModel PAST_THE_END = CpuModel.parse("host,+apx", CpuidFixtures.zen(), CpuModel.AMD_MXCSR_MASK);
    private static final CpuModel AT_960 = new CpuModel("apx fixture", CpuidFixtures.apx(), CpuModel.INTEL_MXCSR_MASK);
    private static final long XCR0_APX = 0x3 | XsaveComponent.APX.mask();

    private static ApxState pattern() {
        ApxState s = ApxState.zero();
        for (int r = 16; r < 32; r++) {
            s = s.withR(r, 0x1111_0000_0000_0000L * (r - 15) + r);
        }
        return s;
    }

    /** A vCPU of {@code model} with APX on and R16-R31 holding {@code egprs}, as that model's core saves it. */
    private static VcpuState withEgprs(CpuModel model, ApxState egprs) {
        try (EmuVm vm = new EmuVm(model, new byte[]{(byte) 0xF4})) {
            vm.vcpu.setXcr0(XCR0_APX);
            VcpuState s = vm.vcpu.saveState();
            vm.vcpu.restoreState(s.withXsave(s.xsave().setApx(egprs)));
            return vm.vcpu.saveState();
        }
    }

    private static VcpuState throughTheFormat(VcpuState s, CpuModel model) {
        byte[] bytes = SnapshotFile.encodeState(new MachineState(model, 16L << 20, List.of(s), new LinkedHashMap<>(), 1_000_000));
        MachineState decoded = SnapshotFile.decode("test", bytes, Machine.DEVICE_STATES).state();
        assertEquals(1_000_000, decoded.tscKhz(), "the TSC rate travels in the machine section");
        return decoded.vcpus().getFirst();
    }

    /** {@code s} loaded onto a core of {@code model} (its own layout) and saved again. */
    private static VcpuState onto(CpuModel model, VcpuState s) {
        try (EmuVm vm = new EmuVm(model, new byte[]{(byte) 0xF4})) {
            vm.vcpu.restoreState(s);
            return vm.vcpu.saveState();
        }
    }

    @Test
    void apxRegistersCrossBetweenLayoutsByComponentNumber() {
        int pastTheEnd = PAST_THE_END.layout().offset(19), at960 = AT_960.layout().offset(19);
        assertEquals(960, at960);
        assertNotEquals(960, pastTheEnd, "Zen's layout has no MPX hole: APX goes past the end");

        VcpuState saved = throughTheFormat(withEgprs(PAST_THE_END, pattern()), PAST_THE_END);
        assertEquals(pattern(), saved.egprs(), "through the snapshot format, in the layout with APX at " + pastTheEnd);
        assertEquals(pastTheEnd, saved.xsave().layout().offset(19));

        VcpuState moved = throughTheFormat(onto(AT_960, saved), AT_960);
        assertEquals(960, moved.xsave().layout().offset(19));
        assertEquals(pattern(), moved.egprs(), "on the layout with APX at 960");

        VcpuState back = onto(PAST_THE_END, moved);
        assertEquals(pattern(), back.egprs(), "and back");
        assertEquals(XCR0_APX, back.xcr0());
    }
}

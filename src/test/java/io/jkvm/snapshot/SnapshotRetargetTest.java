package io.jkvm.snapshot;

import io.jkvm.testing.EmuVm;
import io.jkvm.x86.CpuModel;
import io.jkvm.x86.CpuidFixtures;
import io.jkvm.x86.VcpuState;
import org.junit.jupiter.api.Test;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Optional;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A snapshot restored with another CPU model (restore --cpu): the state takes the model's CPUID where the guest loses
 * nothing it had, and is refused in one line naming what it would lose otherwise. CPU models come from fixtures.
 */
class SnapshotRetargetTest {
    private static final io.jkvm.x86.CpuidTable ZEN_WITH_AES = CpuidFixtures.zen().withFeature(io.jkvm.x86.CpuFeature.AES, true);
    private static final CpuModel ZEN = CpuModel.parse("host", ZEN_WITH_AES, CpuModel.AMD_MXCSR_MASK);
    private static final CpuModel ZEN_NO_AES = CpuModel.parse("host,-aes", ZEN_WITH_AES, CpuModel.AMD_MXCSR_MASK);

    private static MachineState twoVcpusOn(CpuModel model, int mxcsr) {
        try (EmuVm vm = new EmuVm(model, new byte[]{(byte) 0xF4})) {
            VcpuState s = vm.vcpu.saveState();
            s = s.withXsave(s.xsave().setMxcsr(mxcsr));
            return new MachineState(model, 16L << 20, List.of(s.withCpuid(model.cpuid().withApicId(0)),
                    s.withCpuid(model.cpuid().withApicId(1))), new LinkedHashMap<>(), 1_000_000);
        }
    }

    private static String refusal(MachineState state, CpuModel target) {
        SnapshotException e = assertThrows(SnapshotException.class, () -> SnapshotCompatibility.retarget(state, target));
        assertEquals(1, e.getMessage().lines().count(), e.getMessage());
        return e.getMessage();
    }

    @Test
    void aModelWithMoreFeaturesTakesTheStateWithItsOwnCpuidPerVcpu() {
        MachineState saved = twoVcpusOn(ZEN_NO_AES, 0x1F80);
        MachineState moved = SnapshotCompatibility.retarget(saved, ZEN);
        assertEquals(ZEN, moved.cpu());
        for (int id = 0; id < 2; id++) {
            VcpuState v = moved.vcpus().get(id);
            assertEquals(ZEN.cpuid().withApicId(id), v.cpuid(), "vCPU " + id + " sees the model's CPUID with its APIC ID");
            assertEquals(Optional.empty(), saved.vcpus().get(id).withCpuid(v.cpuid()).firstDifference(v), "all else as saved");
        }
        assertEquals(saved.tscKhz(), moved.tscKhz());
        assertEquals(saved.memorySize(), moved.memorySize());
    }

    @Test
    void aModelLackingAFeatureTheGuestHadIsRefused() {
        String why = refusal(twoVcpusOn(ZEN, 0x1F80), ZEN_NO_AES);
        assertTrue(why.startsWith("cannot restore with --cpu host,-aes: the model lacks aes ("), why);
        assertTrue(why.endsWith(": leave out --cpu to restore with the model it was saved with (host)"), why);
    }

    @Test
    void anotherVendorIsRefused() {
        String why = refusal(twoVcpusOn(CpuidFixtures.intelModel(), 0x1F80), CpuidFixtures.amdModel());
        assertTrue(why.contains("the guest ran on a GenuineIntel CPU and the model is AuthenticAMD"), why);
    }

    @Test
    void anMxcsrBitTheModelsMaskLacksIsRefused() {
        MachineState saved = twoVcpusOn(ZEN, 0x1F80 | CpuModel.MXCSR_MM);
        CpuModel intelMask = new CpuModel("host", ZEN.cpuid(), CpuModel.INTEL_MXCSR_MASK);
        assertEquals("cannot restore with --cpu host: the saved MXCSR uses bit 17, which the model's MXCSR_MASK 0xFFFF "
                + "lacks: leave out --cpu to restore with the model it was saved with (host)", refusal(saved, intelMask));
        assertEquals(intelMask, SnapshotCompatibility.retarget(twoVcpusOn(ZEN, 0x1F80), intelMask).cpu(),
                "without MXCSR.MM in use the narrower mask takes it");
    }
}

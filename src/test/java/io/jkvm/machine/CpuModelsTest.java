package io.jkvm.machine;

import io.jkvm.emu.CoreCpuid;
import io.jkvm.x86.CpuFeature;
import io.jkvm.x86.CpuModel;
import io.jkvm.x86.CpuidFixtures;
import io.jkvm.x86.CpuidTable;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** --cpu core: the host model narrowed to what the software core implements, with the same edits as host. */
class CpuModelsTest {
    private static final CpuidTable HOST = CpuidFixtures.amdModel().cpuid();
    private static final int MASK = CpuModel.AMD_MXCSR_MASK;

    @Test
    void coreIsTheHostModelNarrowedToTheCore() {
        CpuModel core = CpuModels.parse("core", HOST, MASK);
        assertEquals("core", core.spec());
        assertEquals(CoreCpuid.narrow(CpuModel.parse("host", HOST, MASK)).cpuid(), core.cpuid());
        assertEquals("", CpuModels.lackingOnCore(core), "nothing left that the core lacks");
        assertFalse(CpuModels.lackingOnCore(CpuModel.parse("host", HOST, MASK)).isEmpty(), "host has what the core lacks");
    }

    @Test
    void editsApplyAsOnHostThenTheCoreKeepsWhatItHas() {
        CpuModel apx = CpuModels.parse("core,+apx", HOST, MASK);
        assertTrue(apx.has(CpuFeature.APX), "the core implements APX: +apx stays");
        assertEquals(1L << 19, apx.cpuid().supportedXcr0() & (1L << 19), "with its XSAVE component");
        CpuModel noMovbe = CpuModels.parse("core,-movbe", HOST, MASK);
        assertFalse(noMovbe.has(CpuFeature.MOVBE));
        assertFalse(CpuModels.parse("core,+fma", HOST, MASK).has(CpuFeature.FMA), "what the core lacks goes again");
    }

    @Test
    void maxHasAutomaticIbrsOnAnAmdModelOnly() {
        CpuModel amd = CpuModels.parse("max", HOST, MASK);
        assertTrue(amd.has(CpuFeature.AUTO_IBRS), "AMD's automatic IBRS: the core has nothing to restrict");
        assertEquals(0x8000_0021, amd.cpuid().leaf(0x8000_0000, 0).eax(), "its leaf within the extended ones");
        assertFalse(CpuModels.parse("max,-auto-ibrs", HOST, MASK).has(CpuFeature.AUTO_IBRS));
        CpuModel intel = CpuModels.parse("max", CpuidFixtures.intelModel().cpuid(), CpuModel.INTEL_MXCSR_MASK);
        assertFalse(intel.has(CpuFeature.AUTO_IBRS), "an Intel model has no leaf 0x80000021");
        assertFalse(CpuModels.parse("max,vendor=GenuineIntel", HOST, MASK).has(CpuFeature.AUTO_IBRS), "nor one made Intel");
        assertTrue(intel.has(CpuFeature.ARCH_CAPABILITIES) && amd.has(CpuFeature.ARCH_CAPABILITIES),
                "IA32_ARCH_CAPABILITIES on both, as KVM offers it");
        assertTrue(CpuModels.parse("core", HOST, MASK).cpuid().find(0x8000_0021, 0).isEmpty(),
                "core adds nothing the host lacks: its VM can move to KVM");
    }
}

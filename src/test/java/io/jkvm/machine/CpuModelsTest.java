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
}

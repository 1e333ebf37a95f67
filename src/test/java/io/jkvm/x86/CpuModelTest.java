package io.jkvm.x86;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class CpuModelTest {

    @Test
    void hostIsTheHostTable() {
        CpuModel m = CpuModel.parse("host", CpuidFixtures.zen(), CpuModel.AMD_MXCSR_MASK);
        assertEquals(CpuidFixtures.zen(), m.cpuid());
    }

    @Test
    void plusApxPutsComponent19At960WhereThatRangeIsFree() {
        CpuModel m = CpuModel.parse("host,+apx", CpuidFixtures.intel(), CpuModel.INTEL_MXCSR_MASK);
        assertTrue(m.cpuid().hasApx());
        XsaveLayout l = m.layout();
        assertEquals(960, l.offset(19));
        assertEquals(128, l.require(19).size());
        assertEquals(0x602E7L | (1L << 19), m.cpuid().supportedXcr0());
        assertEquals(l.standardSize(), m.cpuid().leaf(0xD, 0).ebx());
        assertEquals(l.standardSize(), m.cpuid().leaf(0xD, 0).ecx());
        assertEquals(0, m.cpuid().leaf(0xD, 19).ecx(), "flags 0: user state, not aligned, not XFD");
        assertEquals(1, m.cpuid().leaf(0x29, 0).ebx() & 1, "leaf 0x29 enumerates the APX sub-features");
        assertTrue(Integer.compareUnsigned(m.cpuid().leaf(0, 0).eax(), 0x29) >= 0, "max basic leaf reaches 0x29");
    }

    @Test
    void plusApxGoesPastTheEndWhere960IsTaken() {
        // Zen-like: ZMM_Hi256 occupies 896..1408, so 960 is not free; the end is 0x988, next 64-byte boundary 0x9C0.
        CpuModel m = CpuModel.parse("host,+apx", CpuidFixtures.zen(), CpuModel.AMD_MXCSR_MASK);
        assertEquals(0x9C0, m.layout().offset(19));
        assertEquals(0x9C0 + 128, m.cpuid().leaf(0xD, 0).ebx());
    }

    @Test
    void plusApxRemovesMpxAndTakesItsArea() {
        CpuidTable mpx = CpuidFixtures.mpx();
        assertTrue(mpx.has(CpuFeature.MPX));
        CpuModel m = CpuModel.parse("host,+apx", mpx, CpuModel.INTEL_MXCSR_MASK);
        assertFalse(m.has(CpuFeature.MPX));
        assertFalse(m.layout().has(3));
        assertFalse(m.layout().has(4));
        assertEquals(960, m.layout().offset(19));
        assertEquals(0, m.cpuid().supportedXcr0() & 0x18);
    }

    @Test
    void minusAvx512fDropsItsComponentsAndShrinksTheSize() {
        CpuModel m = CpuModel.parse("host,-avx512f", CpuidFixtures.zen(), CpuModel.AMD_MXCSR_MASK);
        assertFalse(m.has(CpuFeature.AVX512F));
        assertEquals(0x207L, m.cpuid().supportedXcr0());
        assertFalse(m.layout().has(6));
        assertEquals(0x980 + 8, m.layout().standardSize(), "PKRU still ends the area");
    }

    @Test
    void unknownFeaturesAndBadSyntaxAreNamed() {
        XsaveException e = assertThrows(XsaveException.class, () -> CpuModel.parse("host,+warp-drive", CpuidFixtures.zen(), CpuModel.AMD_MXCSR_MASK));
        assertTrue(e.getMessage().startsWith("unknown CPU feature 'warp-drive': known features are "), e.getMessage());
        assertTrue(e.getMessage().contains("apx") && e.getMessage().contains("avx512f"), e.getMessage());
        assertTrue(assertThrows(XsaveException.class, () -> CpuModel.parse("skylake", CpuidFixtures.zen(), CpuModel.AMD_MXCSR_MASK))
                .getMessage().startsWith("unknown CPU model 'skylake'"));
        assertTrue(assertThrows(XsaveException.class, () -> CpuModel.parse("host,apx", CpuidFixtures.zen(), CpuModel.AMD_MXCSR_MASK))
                .getMessage().startsWith("CPU model edit 'apx' must be +feature, -feature or vendor=ID"));
    }

    /** vendor= sets leaf 0's string (and AMD's copy in 0x80000000), and with it the manual the model follows. */
    @Test
    void aVendorEditChangesTheVendorAndNothingElse() {
        CpuModel amd = CpuModel.parse("host,vendor=AuthenticAMD", CpuidFixtures.intel(), CpuModel.INTEL_MXCSR_MASK);
        assertEquals("AuthenticAMD", amd.cpuid().vendor());
        assertEquals(Vendor.AMD, Vendor.of(amd.cpuid()));
        assertEquals(CpuidFixtures.intel().leaf(7, 0), amd.cpuid().leaf(7, 0), "the features stay");
        CpuModel intel = CpuModel.parse("host,vendor=GenuineIntel", CpuidFixtures.zen(), CpuModel.AMD_MXCSR_MASK);
        assertEquals(Vendor.INTEL, Vendor.of(intel.cpuid()));
        assertEquals(0, intel.cpuid().leaf(0x8000_0000, 0).ebx(), "Intel leaves 0x80000000's EBX-EDX zero");
        CpuModel back = CpuModel.parse("host,vendor=GenuineIntel,vendor=AuthenticAMD", CpuidFixtures.zen(), CpuModel.AMD_MXCSR_MASK);
        assertEquals(0x68747541, back.cpuid().leaf(0x8000_0000, 0).ebx(), "AMD's copy of the string in 0x80000000: \"Auth\"");
        assertEquals(CpuidFixtures.zen().leaf(0x8000_0000, 0).eax(), back.cpuid().leaf(0x8000_0000, 0).eax(), "the highest leaf stays");
        assertTrue(assertThrows(XsaveException.class, () -> CpuModel.parse("host,vendor=AMD", CpuidFixtures.zen(), CpuModel.AMD_MXCSR_MASK))
                .getMessage().contains("12 ASCII characters"));
    }

    @Test
    void featureNamesAreMatchedLikeQemu() {
        assertEquals(CpuFeature.SSE4_1, CpuFeature.byName("sse4_1").orElseThrow());
        assertEquals(CpuFeature.SSE4_1, CpuFeature.byName("sse4.1").orElseThrow());
        assertEquals(CpuFeature.APX, CpuFeature.byName("apxf").orElseThrow());
        assertEquals("CPUID.(7,1):EDX[21]", CpuFeature.APX.cpuidBit());
    }

    @Test
    void missingOnTellsWhatTheHostLacks() {
        CpuModel m = CpuModel.parse("host,+apx", CpuidFixtures.zen(), CpuModel.AMD_MXCSR_MASK);
        assertEquals(List.of(CpuFeature.APX, CpuFeature.APX_NCI_NDD_NF), m.missingOn(CpuidFixtures.zen()),
                "+apx exposes the NDD/NF/conditional sub-feature too, which the host lacks as well");
        assertEquals(List.of(CpuFeature.APX), CpuModel.parse("host,+apx,-apx-nci-ndd-nf", CpuidFixtures.zen(), CpuModel.AMD_MXCSR_MASK).missingOn(CpuidFixtures.zen()));
        assertEquals(0, CpuModel.parse("host,+apx,-apx-nci-ndd-nf", CpuidFixtures.zen(), CpuModel.AMD_MXCSR_MASK).cpuid().leaf(0x29, 0).ebx(),
                "-apx-nci-ndd-nf clears CPUID.(0x29,0):EBX[0]");
        assertEquals(List.of(), CpuModel.parse("host,-avx", CpuidFixtures.zen(), CpuModel.AMD_MXCSR_MASK).missingOn(CpuidFixtures.zen()));
    }
}

package io.jkvm.x86;

import org.junit.jupiter.api.Test;

import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** How a feature's CPUID bit is written in messages: leaves above 9 in hex, the extended ones included. */
class CpuFeatureTest {
    private static final Pattern BIT = Pattern.compile("CPUID\\.\\(([0-9]|0x[0-9A-F]+),(\\d+)\\):(E[ABCD]X)\\[(\\d+)\\]");

    @Test
    void extendedLeavesArePrintedInHex() {
        assertEquals("CPUID.(0x80000001,0):EDX[29]", CpuFeature.LM.cpuidBit());
        assertEquals("CPUID.(0x80000001,0):ECX[0]", CpuFeature.LAHF_LM.cpuidBit());
        assertEquals("CPUID.(0xD,1):EAX[1]", CpuFeature.XSAVEC.cpuidBit());
        assertEquals("CPUID.(1,0):ECX[26]", CpuFeature.XSAVE.cpuidBit());
    }

    @Test
    void everyFeatureNamesItsOwnLeafSubleafRegisterAndBit() {
        for (CpuFeature f : CpuFeature.values()) {
            Matcher m = BIT.matcher(f.cpuidBit());
            assertTrue(m.matches(), f + ": " + f.cpuidBit());
            String leaf = m.group(1);
            assertEquals(f.leaf(), leaf.startsWith("0x") ? Integer.parseUnsignedInt(leaf.substring(2), 16) : Integer.parseInt(leaf), f.name());
            assertEquals(f.subleaf(), Integer.parseInt(m.group(2)), f.name());
            assertEquals(f.register().name(), m.group(3), f.name());
            assertEquals(f.bit(), Integer.parseInt(m.group(4)), f.name());
        }
    }
}

package io.jkvm.x86;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The host model without KVM: the CPU's own leaves, with KVM's paravirtual ones and the bits of what KVM emulates on
 * any host (x2APIC, TSC_ADJUST, ARCH_CAPABILITIES) as KVM's supported CPUID has them.
 */
class NativeCpuidTest {
    @Test
    void withoutKvmTheHostModelHasKvmsSignatureAndKvmclock() {
        CpuidTable own = NativeCpuid.read(), host = NativeCpuid.withoutKvm();
        assertTrue(host.hasHypervisorLeaf(0x4000_0001), "leaves 0x40000000-0x40000001");
        CpuidEntry signature = host.leaf(0x4000_0000, 0);
        byte[] name = java.nio.ByteBuffer.allocate(12).order(java.nio.ByteOrder.LITTLE_ENDIAN)
                .putInt(signature.ebx()).putInt(signature.ecx()).putInt(signature.edx()).array();
        assertEquals("KVMKVMKVM\0\0\0", new String(name, java.nio.charset.StandardCharsets.US_ASCII));
        assertTrue(Msrs.hasKvmClock(host), "KVM_FEATURE_CLOCKSOURCE2");
        assertEquals(1 << Msrs.KVM_FEATURE_CLOCKSOURCE_STABLE_BIT,
                host.leaf(0x4000_0001, 0).eax() & 1 << Msrs.KVM_FEATURE_CLOCKSOURCE_STABLE_BIT, "and its stable bit");
        assertTrue((host.leaf(1, 0).ecx() & 1 << 31) != 0, "CPUID.1:ECX.hypervisor, which a guest looks at first");
        assertEquals(own.leaf(7, 0).ecx(), host.leaf(7, 0).ecx(), "the CPU's own leaves as they are");
        assertEquals(own.leaf(7, 0).ebx() | 1 << 1, host.leaf(7, 0).ebx(), "with TSC_ADJUST");
        assertEquals(own.leaf(7, 0).edx() | 1 << 29, host.leaf(7, 0).edx(), "with ARCH_CAPABILITIES");
        assertEquals(own.leaf(1, 0).eax(), host.leaf(1, 0).eax());
        assertEquals(own.leaf(1, 0).ecx() | 1 << 31 | 1 << 21 | 1 << 24, host.leaf(1, 0).ecx(),
                "with x2APIC and the TSC-deadline timer");
    }

    /** Leaf 0xD's sub-leaves past 1, asked only for the components sub-leaves 0 and 1 name, are what all 64 give. */
    @Test
    void theXsaveLeafHasEveryComponentAllItsSubLeavesGive() {
        CpuidTable own = NativeCpuid.read();
        int components = 0;
        for (int sub = 2; sub < 64; sub++) {
            int[] r = io.jkvm.linux.HostCpu.cpuid(0xD, sub);
            java.util.Optional<CpuidEntry> e = own.find(0xD, sub);
            if (r[0] == 0) {
                assertTrue(e.isEmpty(), "no entry for sub-leaf " + sub + ", whose size is 0");
            } else {
                components++;
                assertEquals(new CpuidEntry(0xD, sub, CpuidEntry.FLAG_SIGNIFICANT_INDEX, r[0], r[1], r[2], r[3]),
                        e.orElseThrow(), "sub-leaf " + sub);
            }
        }
        assertTrue(components > 0 || (own.leaf(1, 0).ecx() & 1 << 28) == 0, "a CPU with AVX has its component, 2");
    }
}

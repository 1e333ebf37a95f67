package io.jkvm.x86;

import io.jkvm.linux.HostCpu;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * The host CPU's own CPUID, read by the instruction itself, for the {@code host} model when jkvm runs without KVM
 * (--backend emulator on a machine without /dev/kvm or without permission to it). Basic leaves up to leaf 0's
 * maximum, extended ones up to 0x80000000's, and the sub-leaves of the indexed leaves until they end.
 */
public final class NativeCpuid {
    private NativeCpuid() {
    }

    /** Leaves whose ECX selects a sub-leaf. */
    private static final Set<Integer> INDEXED = Set.of(0x4, 0x7, 0xB, 0xD, 0xF, 0x10, 0x12, 0x14, 0x17, 0x18, 0x1D, 0x1E,
            0x1F, 0x20, 0x23, 0x24, 0x8000001D, 0x80000020, 0x80000026);
    private static final int MAX_SUBLEAVES = 64;

    /** KVM's signature in leaf 0x40000000's EBX, ECX and EDX: "KVMKVMKVM\0\0\0". */
    private static final int KVM_SIGNATURE_EBX = 0x4b4d564b, KVM_SIGNATURE_ECX = 0x564b4d56, KVM_SIGNATURE_EDX = 0x4d;

    /**
     * The host's CPUID as a machine takes it for the software core without KVM: the CPU's own ({@link #read}) with the
     * hypervisor bit and KVM's paravirtual leaves as KVM's supported CPUID has them (its signature, kvmclock and its
     * stable bit), so a guest on the core finds the same hypervisor with /dev/kvm or without. A Linux guest then checks
     * its TSC against kvmclock; with no hypervisor in sight it checked it against jiffies, and the timer ticks the
     * core's devices lose while a vCPU's thread waits for a host core made the TSC look unstable (docs/limits.md).
     * And the features KVM's supported CPUID has on any host because KVM emulates them in software (its
     * kvm_set_cpu_caps): x2APIC, TSC_ADJUST and IA32_ARCH_CAPABILITIES; and the TSC-deadline timer its in-kernel
     * local APIC has on any host, a capability rather than a supported-CPUID bit (Kvm.guestCpuid). The core implements
     * all four.
     */
    public static CpuidTable withoutKvm() {
        return read().withFeature(CpuFeature.HYPERVISOR, true)
                .withFeature(CpuFeature.X2APIC, true).withFeature(CpuFeature.TSC_ADJUST, true)
                .withFeature(CpuFeature.ARCH_CAPABILITIES, true).withFeature(CpuFeature.TSC_DEADLINE, true)
                .with(new CpuidEntry(0x4000_0000, 0, 0, 0x4000_0001,
                        KVM_SIGNATURE_EBX, KVM_SIGNATURE_ECX, KVM_SIGNATURE_EDX))
                .with(new CpuidEntry(0x4000_0001, 0, 0,
                        1 << Msrs.KVM_FEATURE_CLOCKSOURCE2 | 1 << Msrs.KVM_FEATURE_CLOCKSOURCE_STABLE_BIT, 0, 0, 0));
    }

    public static CpuidTable read() {
        List<CpuidEntry> entries = new ArrayList<>();
        for (int base : new int[]{0, 0x80000000}) {
            int max = HostCpu.cpuid(base, 0)[0];
            if (Integer.compareUnsigned(max, base) < 0 || Integer.compareUnsigned(max, base + 0xFF) > 0) {
                continue; // no extended leaves (or a nonsense maximum): take none
            }
            for (int leaf = base; Integer.compareUnsigned(leaf, max) <= 0; leaf++) {
                if (!INDEXED.contains(leaf)) {
                    entries.add(entry(leaf, 0, 0));
                    continue;
                }
                if (leaf == 0xD) {
                    addXsaveLeaf(entries);
                    continue;
                }
                for (int sub = 0; sub < MAX_SUBLEAVES; sub++) {
                    CpuidEntry e = entry(leaf, sub, CpuidEntry.FLAG_SIGNIFICANT_INDEX);
                    boolean empty = e.eax() == 0 && e.ebx() == 0 && e.ecx() == 0 && e.edx() == 0;
                    if (sub > 1 && empty) {
                        break; // past the last sub-leaf (cache, topology and the like end with an empty one)
                    }
                    entries.add(e);
                }
            }
        }
        return new CpuidTable(entries);
    }

    /**
     * Leaf 0xD: sub-leaves 0 and 1, then one for each state component they name (XCR0's in 0's EDX:EAX, IA32_XSS's in
     * 1's EDX:ECX), whose size and offset it gives; the SDM has every other sub-leaf past 1 all zeros. Each CPUID exits
     * to the hypervisor when the host is a virtual machine (some 25 µs on this project's CI): asking only these, not
     * all 64, saves a launch without KVM about 1.3 ms.
     */
    private static void addXsaveLeaf(List<CpuidEntry> entries) {
        CpuidEntry user = entry(0xD, 0, CpuidEntry.FLAG_SIGNIFICANT_INDEX);
        CpuidEntry supervisor = entry(0xD, 1, CpuidEntry.FLAG_SIGNIFICANT_INDEX);
        entries.add(user);
        entries.add(supervisor);
        long components = (Integer.toUnsignedLong(user.eax()) | (long) user.edx() << 32
                | Integer.toUnsignedLong(supervisor.ecx()) | (long) supervisor.edx() << 32) & ~0b11L;
        for (long left = components; left != 0; left &= left - 1) {
            CpuidEntry e = entry(0xD, Long.numberOfTrailingZeros(left), CpuidEntry.FLAG_SIGNIFICANT_INDEX);
            if (e.eax() != 0) {
                entries.add(e); // a component's size: present
            }
        }
    }

    private static CpuidEntry entry(int leaf, int sub, int flags) {
        int[] r = HostCpu.cpuid(leaf, sub);
        return new CpuidEntry(leaf, sub, flags, r[0], r[1], r[2], r[3]);
    }
}

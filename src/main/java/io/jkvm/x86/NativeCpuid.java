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
                for (int sub = 0; sub < MAX_SUBLEAVES; sub++) {
                    CpuidEntry e = entry(leaf, sub, CpuidEntry.FLAG_SIGNIFICANT_INDEX);
                    boolean empty = e.eax() == 0 && e.ebx() == 0 && e.ecx() == 0 && e.edx() == 0;
                    if (leaf == 0xD && sub >= 2) {
                        if (e.eax() != 0) {
                            entries.add(e); // a component's size: present
                        }
                        continue;
                    }
                    if (sub > 1 && empty) {
                        break; // past the last sub-leaf (cache, topology and the like end with an empty one)
                    }
                    entries.add(e);
                }
            }
        }
        return new CpuidTable(entries);
    }

    private static CpuidEntry entry(int leaf, int sub, int flags) {
        int[] r = HostCpu.cpuid(leaf, sub);
        return new CpuidEntry(leaf, sub, flags, r[0], r[1], r[2], r[3]);
    }
}

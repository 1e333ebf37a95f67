package io.jkvm.emu;

import io.jkvm.x86.ControlBits;
import io.jkvm.x86.CpuidEntry;
import io.jkvm.x86.Msrs;

/** CPUID from the CPU model's table, and RDMSR/WRMSR (with the state record's MSRs going through the same two). */
final class CpuidAndMsrs {
    private CpuidAndMsrs() {
    }

    static void cpuidInstruction(Core c) {
        c.serialize();
        int leaf = (int) c.r[0];
        int sub = (int) c.r[1];
        int max = c.cpuid.leaf(0, 0).eax();
        CpuidEntry e;
        if (c.cpuid.hasHypervisorLeaf(leaf)) {
            e = c.cpuid.leaf(leaf, sub); // the core is the hypervisor: KVM's leaves, where the model has them
        } else if (Integer.compareUnsigned(leaf, 0x80000000) < 0 && Integer.compareUnsigned(leaf, max) > 0) {
            e = c.cpuid.leaf(max, sub);
        } else {
            e = c.cpuid.leaf(leaf, sub);
        }
        int eax = e.eax(), ecx = e.ecx(), ebx = e.ebx();
        int edx = e.edx();
        if (leaf == 1) {
            ecx = (c.cr4 & ControlBits.CR4_OSXSAVE) != 0 ? ecx | (1 << 27) : ecx & ~(1 << 27);
            if (c.apic != null && (c.apicBase & (1 << 11)) == 0) {
                edx &= ~(1 << 9); // the APIC disabled in IA32_APIC_BASE: CPUID no longer reports it
            }
        }
        if (leaf == 7 && sub == 0 && (ecx & (1 << 3)) != 0) { // OSPKE follows CR4.PKE where the model has PKU
            ecx = (c.cr4 & ControlBits.CR4_PKE) != 0 ? ecx | (1 << 4) : ecx & ~(1 << 4);
        }
        if (leaf == 0xD && sub == 0) {
            ebx = c.xsaveLayout().standardSize(c.xcr0); // size for what XCR0 enables now
        } else if (leaf == 0xD && sub == 1 && (e.eax() & (XSAVEC | XSAVES)) != 0) {
            ebx = c.xsaveLayout().compactedSize(c.xcr0 | c.xss); // XSAVEC/XSAVES's size for XCR0 | IA32_XSS now, as KVM's
        }
        if (leaf == SRSO_LEAF && c.vendor.followsApm()
                && Integer.compareUnsigned(leaf, c.cpuid.leaf(0x8000_0000, 0).eax()) <= 0) {
            eax |= SRSO_NO;
        }
        c.r[0] = eax & 0xFFFFFFFFL;
        c.r[3] = ebx & 0xFFFFFFFFL;
        c.r[1] = ecx & 0xFFFFFFFFL;
        c.r[2] = edx & 0xFFFFFFFFL;
    }

    /**
     * CPUID Fn8000_0021_EAX[29], SRSO_NO (APM Vol. 3, Appendix E): the part is not exposed to Speculative Return Stack
     * Overflow. The core does not speculate, so on a model that follows the APM it reads set wherever the model's
     * extended leaves reach that leaf: the core's own answer, as IA32_ARCH_CAPABILITIES' bits are, while the model's
     * table (what KVM is given) stays as it is. Without it Linux on a family 17h or 19h model sends every return of the
     * kernel through its safe-RET thunks, three changes of block each (docs/benchmarks.md).
     */
    static final int SRSO_LEAF = 0x8000_0021, SRSO_NO = 1 << 29;

    /** CPUID.(0xD,1):EAX[1] and [3]: the compacted instructions, whose area size EBX then gives. */
    private static final int XSAVEC = 1 << 1, XSAVES = 1 << 3;

    /** AMD's legacy performance counters, PerfEvtSel0-3 and PerfCtr0-3, which every AMD processor since the K7 has. */
    private static final int AMD_PERF_FIRST = 0xC0010000, AMD_PERF_COUNT = 8;

    private static boolean amdPerformanceCounter(Core c, int msr) {
        return c.vendor.followsApm() && Integer.compareUnsigned(msr - AMD_PERF_FIRST, AMD_PERF_COUNT) < 0;
    }

    /**
     * RDPMC: on an AMD model, counter 0-3 is PerfCtr0-3 (48 bits; the core counts no events, so what was written);
     * outside CPL0 it needs CR4.PCE. Any other counter, and on an Intel model (no architectural PMU in leaf 0xA), #GP(0).
     */
    static long rdpmc(Core c, int counter) {
        if ((c.cr4 & ControlBits.CR4_PCE) == 0 && c.cpl != 0 && c.protectedMode()) {
            throw GuestFault.withCode(GuestFault.GP, 0);
        }
        if (!c.vendor.followsApm() || Integer.compareUnsigned(counter, AMD_PERF_COUNT / 2) >= 0) {
            throw GuestFault.withCode(GuestFault.GP, 0);
        }
        return c.amdPerformance[AMD_PERF_COUNT / 2 + counter] & 0xFFFF_FFFF_FFFFL;
    }

    /** An MSR only AMD's processors have: #GP(0) on an Intel model. */
    private static void requireAmdModel(Core c) {
        if (!c.vendor.followsApm()) {
            throw GuestFault.withCode(GuestFault.GP, 0);
        }
    }

    /** HWCR's bits a write keeps (McStatusWrEn, TscFreqSel) and those it may set and are dropped (KVM's choice). */
    static final long HWCR_TSC_FREQ_SEL = 1L << 24, HWCR_KEPT = 1L << 18 | HWCR_TSC_FREQ_SEL,
            HWCR_IGNORED = 1L << 3 | 1L << 6 | 1L << 8;

    /** The microcode revision a read of IA32_BIOS_SIGN_ID gives: 1, in EDX, as KVM's vCPUs start with. */
    static final long MICROCODE_REVISION = 1L << 32;

    /**
     * IA32_ARCH_CAPABILITIES of the core (SDM Vol. 4, Table 2-2): not affected by what it cannot have, with no
     * speculative execution, fill buffers or TSX: RDCL_NO (Meltdown), SSB_NO, MDS_NO, IF_PSCHANGE_MC_NO, TAA_NO, the
     * MMIO stale-data bits SBDR_SSDP_NO, FBSDP_NO and PSDP_NO, BHI_NO, PBRSB_NO, GDS_NO, RFDS_NO, and ITS_NO (bit 62,
     * which a VMM sets for its guests). No IBRS_ALL: the core has no IA32_SPEC_CTRL for it.
     */
    static final long ARCH_CAPABILITIES = 1L | 1L << 4 | 1L << 5 | 1L << 6 | 1L << 8 | 1L << 13 | 1L << 14 | 1L << 15
            | 1L << 20 | 1L << 24 | 1L << 26 | 1L << 27 | 1L << 62;

    private static final int X2APIC_FIRST = 0x800, X2APIC_LAST = 0x8FF, TSC_DEADLINE = 0x6E0, MCG_CAP = 0x179, MCG_STATUS = 0x17A;

    static long rdmsr(Core c, int msr) {
        if (amdPerformanceCounter(c, msr)) {
            return c.amdPerformance[msr - AMD_PERF_FIRST]; // the core counts no events: what was written stays
        }
        if (msr >= X2APIC_FIRST && msr <= X2APIC_LAST && c.apic != null) {
            try {
                return c.apic.readMsr(msr);
            } catch (io.jkvm.x86.LocalApicPort.Refused e) {
                throw GuestFault.withCode(GuestFault.GP, 0); // x2APIC off, or a register RDMSR cannot read
            }
        }
        if (msr == TSC_DEADLINE && c.apic != null && c.cpuidHas(1, 0, 2, 24)) {
            return c.apic.tscDeadline();
        }
        if (KvmClock.handles(c, msr)) {
            return KvmClock.read(c, msr);
        }
        if (msr == MCG_CAP || msr == MCG_STATUS) {
            return 0; // machine-check architecture with no banks, and nothing to report (every x86-64 CPU has these two)
        }
        return switch (msr) {
            case Msrs.IA32_EFER -> c.efer;
            case Msrs.IA32_STAR -> c.star;
            case Msrs.IA32_LSTAR -> c.lstar;
            case Msrs.IA32_CSTAR -> c.cstar;
            case Msrs.IA32_FMASK -> c.fmask;
            case Msrs.IA32_FS_BASE -> c.fsBase;
            case Msrs.IA32_GS_BASE -> c.gsBase;
            case Msrs.IA32_KERNEL_GS_BASE -> c.kernelGsBase;
            case Msrs.IA32_TSC -> c.tsc.read();
            case Msrs.IA32_TSC_ADJUST -> {
                if (!c.cpuidHas(7, 0, 1, 1)) {
                    throw GuestFault.withCode(GuestFault.GP, 0);
                }
                yield c.tsc.adjust();
            }
            case Msrs.IA32_TSC_AUX -> c.tscAux;
            case Msrs.IA32_PKRS -> {
                if (!c.cpuidHas(7, 0, 2, 31)) {
                    throw GuestFault.withCode(GuestFault.GP, 0);
                }
                yield c.pkrs & 0xFFFFFFFFL;
            }
            case Msrs.IA32_APIC_BASE -> c.apicBase;
            case Msrs.IA32_PAT -> c.pat;
            case Msrs.IA32_BIOS_SIGN_ID -> MICROCODE_REVISION;
            case Msrs.IA32_ARCH_CAPABILITIES -> {
                if (!c.cpuidHas(7, 0, 3, 29)) {
                    throw GuestFault.withCode(GuestFault.GP, 0);
                }
                yield ARCH_CAPABILITIES;
            }
            case Msrs.IA32_MISC_ENABLE -> c.miscEnable;
            case Msrs.IA32_SYSENTER_CS -> c.sysenterCs;
            case Msrs.IA32_SYSENTER_ESP -> c.sysenterEsp;
            case Msrs.IA32_SYSENTER_EIP -> c.sysenterEip;
            case Msrs.IA32_XFD -> c.xfd;
            case Msrs.IA32_XFD_ERR -> c.xfdErr;
            case Msrs.AMD_HWCR -> {
                requireAmdModel(c);
                yield c.hwcr;
            }
            case Msrs.AMD_NB_CFG -> {
                requireAmdModel(c);
                yield 0; // no northbridge options to report (Linux's amd_bus_cpu_online reads it at each CPU's bring-up)
            }
            case Msrs.IA32_XSS -> {
                if (!c.cpuidHas(0xD, 1, 0, 3)) {
                    throw GuestFault.withCode(GuestFault.GP, 0); // only with XSAVES
                }
                yield c.xss;
            }
            default -> throw GuestFault.withCode(GuestFault.GP, 0);
        };
    }

    /** The MSRs that hold linear addresses take only canonical ones: #GP(0) otherwise (SDM Vol. 4, WRMSR). */
    private static long canonical(Core c, long address) {
        if (!c.canonicalForRegister(address)) {
            throw GuestFault.withCode(GuestFault.GP, 0);
        }
        return address;
    }

    static void wrmsr(Core c, int msr, long v) {
        if (msr >= X2APIC_FIRST && msr <= X2APIC_LAST && c.apic != null) {
            try {
                c.apic.writeMsr(msr, v);
            } catch (io.jkvm.x86.LocalApicPort.Refused e) {
                throw GuestFault.withCode(GuestFault.GP, 0);
            }
            return;
        }
        if (msr == TSC_DEADLINE && c.apic != null && c.cpuidHas(1, 0, 2, 24)) {
            long host = System.nanoTime(); // the deadline's host time from the TSC's at one instant
            c.apic.setTscDeadline(v, c.tsc.at(host), c.tsc.khz(), host);
            return;
        }
        if (msr == MCG_STATUS && v == 0) {
            return;
        }
        if (KvmClock.handles(c, msr)) {
            KvmClock.write(c, msr, v);
            return;
        }
        if (amdPerformanceCounter(c, msr)) {
            c.amdPerformance[msr - AMD_PERF_FIRST] = v & 0xFFFF_FFFF_FFFFL; // 48-bit counters; the selects keep what they hold
            return;
        }
        switch (msr) {
            case Msrs.IA32_EFER -> {
                long autoIbrs = c.cpuidHas(0x8000_0021, 0, 0, 8) ? ControlBits.EFER_AUTOIBRS : 0; // nothing to restrict: the core does not speculate
                if ((v & ~(ControlBits.EFER_SCE | ControlBits.EFER_LME | ControlBits.EFER_LMA | ControlBits.EFER_NXE | autoIbrs)) != 0) {
                    throw GuestFault.withCode(GuestFault.GP, 0);
                }
                c.efer = v;
                c.flushTlbWithGlobals();
                c.modeChanged();
            }
            case Msrs.IA32_STAR -> c.star = v;
            case Msrs.IA32_LSTAR -> c.lstar = canonical(c, v);
            case Msrs.IA32_CSTAR -> c.cstar = canonical(c, v);
            case Msrs.IA32_FMASK -> c.fmask = v;
            case Msrs.IA32_FS_BASE -> c.fsBase = canonical(c, v);
            case Msrs.IA32_GS_BASE -> c.gsBase = canonical(c, v);
            case Msrs.IA32_KERNEL_GS_BASE -> c.kernelGsBase = canonical(c, v);
            case Msrs.IA32_TSC -> c.tsc.guestWrite(v);
            case Msrs.IA32_TSC_ADJUST -> {
                if (!c.cpuidHas(7, 0, 1, 1)) {
                    throw GuestFault.withCode(GuestFault.GP, 0);
                }
                c.tsc.guestWriteAdjust(v);
            }
            case Msrs.IA32_TSC_AUX -> c.tscAux = v & 0xFFFFFFFFL;
            case Msrs.IA32_PKRS -> {
                if (!c.cpuidHas(7, 0, 2, 31) || (v >>> 32) != 0) {
                    throw GuestFault.withCode(GuestFault.GP, 0); // PKS absent, or a reserved bit
                }
                c.setPkrs((int) v);
            }
            case Msrs.IA32_APIC_BASE -> {
                long extd = c.cpuidHas(1, 0, 2, 21) ? 0x400 : 0; // x2APIC's EXTD, where the model has x2APIC
                long base = 0xF_FFFF_FFFF_F000L & ~c.reservedAddressBits; // a page frame below MAXPHYADDR
                if ((v & ~(base | 0x900 | extd)) != 0) {
                    throw GuestFault.withCode(GuestFault.GP, 0);
                }
                long next = (v & ~0x100L) | (c.apicBase & 0x100); // BSP is the processor's, not software's
                if (c.apic != null) {
                    try {
                        c.apic.baseChanged(next);
                    } catch (io.jkvm.x86.LocalApicPort.Refused e) {
                        throw GuestFault.withCode(GuestFault.GP, 0); // a transition the SDM forbids
                    }
                }
                c.apicBase = next;
            }
            case Msrs.IA32_PAT -> c.pat = v;
            case Msrs.IA32_BIOS_SIGN_ID -> {
                // Intel's microcode loader writes 0 before the CPUID that fills it; there is no microcode to load
            }
            case Msrs.IA32_MISC_ENABLE -> c.miscEnable = v;
            case Msrs.IA32_SYSENTER_CS -> c.sysenterCs = v;
            case Msrs.IA32_SYSENTER_ESP -> c.sysenterEsp = v;
            case Msrs.IA32_SYSENTER_EIP -> c.sysenterEip = v;
            case Msrs.IA32_XFD -> c.xfd = v;
            case Msrs.IA32_XFD_ERR -> c.xfdErr = v;
            case Msrs.AMD_HWCR -> {
                requireAmdModel(c);
                long kept = v & ~HWCR_IGNORED;
                if ((kept & ~HWCR_KEPT) != 0) {
                    throw GuestFault.withCode(GuestFault.GP, 0); // a bit KVM does not emulate either
                }
                c.hwcr = kept;
            }
            case Msrs.AMD_NB_CFG -> requireAmdModel(c);
            case Msrs.IA32_XSS -> {
                if (!c.cpuidHas(0xD, 1, 0, 3) || (v & ~c.cpuid.supportedXss()) != 0) {
                    throw GuestFault.withCode(GuestFault.GP, 0); // bits the model's CPUID.(0xD,1) ECX:EDX does not list
                }
                c.xss = v;
            }
            default -> throw GuestFault.withCode(GuestFault.GP, 0);
        }
    }
}

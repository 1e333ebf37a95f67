package io.jkvm.emu;

import io.jkvm.x86.ApxState;
import io.jkvm.x86.CpuFeature;
import io.jkvm.x86.CpuFeature.Reg;
import io.jkvm.x86.CpuModel;
import io.jkvm.x86.CpuidEntry;
import io.jkvm.x86.CpuidTable;
import io.jkvm.x86.Msrs;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The CPUID feature bits the software core implements: a model the core runs keeps these and loses every other bit
 * of the feature registers below, so a guest never finds a feature the core would answer with #UD. Each bit names the
 * test that holds its instructions to the host CPU or to the manuals (CoreCpuidTest checks that the test exists and
 * speaks of it).
 */
public final class CoreCpuid {
    private CoreCpuid() {
    }

    /** One implemented bit, the test that covers it, and a word that test's source uses for it. */
    public record Bit(int leaf, int subleaf, Reg register, int bit, String name, String test, String keyword) {
    }

    /** The registers whose every bit is a feature flag: what is not listed in {@link #BITS} is cleared in them. */
    public record FeatureRegister(int leaf, int subleaf, Reg register) {
    }

    public static final List<FeatureRegister> FEATURE_REGISTERS = List.of(
            new FeatureRegister(1, 0, Reg.ECX), new FeatureRegister(1, 0, Reg.EDX),
            new FeatureRegister(7, 0, Reg.EBX), new FeatureRegister(7, 0, Reg.ECX), new FeatureRegister(7, 0, Reg.EDX),
            new FeatureRegister(7, 1, Reg.EAX), new FeatureRegister(7, 1, Reg.EBX), new FeatureRegister(7, 1, Reg.ECX),
            new FeatureRegister(7, 1, Reg.EDX), new FeatureRegister(0xD, 1, Reg.EAX),
            // the speculation controls (Intel's leaf 7.2 EDX: PSFD, IPRED/RRSBA/BHI_CTRL; AMD's 0x80000008 EBX: IBPB,
            // IBRS, STIBP, SSBD, ...) name bits of IA32_SPEC_CTRL and PRED_CMD, MSRs the core does not have
            new FeatureRegister(7, 2, Reg.EDX), new FeatureRegister(0x8000_0008, 0, Reg.EBX),
            new FeatureRegister(0x8000_0001, 0, Reg.ECX), new FeatureRegister(0x8000_0001, 0, Reg.EDX),
            new FeatureRegister(0x29, 0, Reg.EBX),
            // KVM's paravirtual features (leaf 0x40000001): the core has kvmclock (KvmClock), not async page faults;
            // VMCALL answers the basic hypercalls without a feature bit
            new FeatureRegister(0x4000_0001, 0, Reg.EAX), new FeatureRegister(0x4000_0001, 0, Reg.EDX));

    private static Bit bit(int leaf, int subleaf, Reg register, int bit, String name, String test, String keyword) {
        return new Bit(leaf, subleaf, register, bit, name, test, keyword);
    }

    private static final int EXT = 0x8000_0001;

    public static final List<Bit> BITS = List.of(
            bit(1, 0, Reg.ECX, 0, "pni", "SseFloatOracleTest", "sse3"),
            bit(1, 0, Reg.ECX, 9, "ssse3", "SseOracleTest", "ssse3"),
            bit(1, 0, Reg.ECX, 13, "cx16", "LockedMemoryTest", "cmpxchg16b"),
            bit(1, 0, Reg.ECX, 17, "pcid", "PagingTest", "pcide"),
            bit(1, 0, Reg.ECX, 19, "sse4.1", "SseOracleTest", "sse4.1"),
            bit(1, 0, Reg.ECX, 20, "sse4.2", "SseOracleTest", "sse4.2"),
            bit(1, 0, Reg.ECX, 21, "x2apic", "LocalApicTest", "x2apic"),
            bit(1, 0, Reg.ECX, 22, "movbe", "NativeOracleTest", "movbe"),
            bit(1, 0, Reg.ECX, 23, "popcnt", "NativeOracleTest", "popcnt"),
            bit(1, 0, Reg.ECX, 24, "tsc-deadline", "LocalApicTest", "deadline"),
            bit(1, 0, Reg.ECX, 26, "xsave", "XsaveInstructionTest", "xsave"),
            bit(1, 0, Reg.ECX, 27, "osxsave", "XsaveInstructionTest", "osxsave"),
            bit(1, 0, Reg.ECX, 30, "rdrand", "InstructionForms", "rdrand"),
            bit(1, 0, Reg.ECX, 31, "hypervisor", "CoreCpuidTest", "hypervisor"),
            bit(1, 0, Reg.EDX, 0, "fpu", "X87OracleTest", "x87"),
            bit(1, 0, Reg.EDX, 2, "de", "DebugRegistersTest", "cr4.de"),
            bit(1, 0, Reg.EDX, 3, "pse", "LegacyModesTest", "pse"),
            bit(1, 0, Reg.EDX, 4, "tsc", "InstructionForms", "rdtsc"),
            bit(1, 0, Reg.EDX, 5, "msr", "SystemInstructionsTest", "wrmsr"),
            bit(1, 0, Reg.EDX, 6, "pae", "LegacyModesTest", "pae"),
            bit(1, 0, Reg.EDX, 8, "cx8", "InstructionForms", "cmpxchg8b"),
            bit(1, 0, Reg.EDX, 9, "apic", "LocalApicTest", "apic"),
            bit(1, 0, Reg.EDX, 11, "sep", "LegacyModesTest", "sysenter"),
            bit(1, 0, Reg.EDX, 13, "pge", "PagingTest", "global"),
            bit(1, 0, Reg.EDX, 15, "cmov", "NativeOracleTest", "cmov"),
            bit(1, 0, Reg.EDX, 16, "pat", "InstructionForms", "0x277"),
            bit(1, 0, Reg.EDX, 17, "pse36", "LegacyModesTest", "pse"),
            bit(1, 0, Reg.EDX, 19, "clflush", "InstructionForms", "clflush"),
            bit(1, 0, Reg.EDX, 23, "mmx", "X87OracleTest", "mmx"),
            bit(1, 0, Reg.EDX, 24, "fxsr", "VendorRulesTest", "fxsave"),
            bit(1, 0, Reg.EDX, 25, "sse", "SseFloatOracleTest", "sse"),
            bit(1, 0, Reg.EDX, 26, "sse2", "SseOracleTest", "sse2"),
            bit(7, 0, Reg.EBX, 0, "fsgsbase", "SystemInstructionsTest", "wrfsbase"),
            bit(7, 0, Reg.EBX, 1, "tsc_adjust", "TimeStampCounterTest", "tsc_adjust"),
            bit(7, 0, Reg.EBX, 3, "bmi1", "NativeOracleTest", "bmi1"),
            bit(7, 0, Reg.EBX, 7, "smep", "PagingTest", "smep"),
            bit(7, 0, Reg.EBX, 8, "bmi2", "NativeOracleTest", "bmi2"),
            bit(7, 0, Reg.EBX, 9, "erms", "StringIoTest", "rep"),
            bit(7, 0, Reg.EBX, 10, "invpcid", "PagingTest", "invpcid"),
            bit(7, 0, Reg.EBX, 18, "rdseed", "InstructionForms", "rdseed"),
            bit(7, 0, Reg.EBX, 19, "adx", "ApxOracleTest", "adcx"),
            bit(7, 0, Reg.EBX, 20, "smap", "PagingTest", "stac"),
            bit(7, 0, Reg.EBX, 23, "clflushopt", "SystemInstructionsTest", "clflushopt"),
            bit(7, 0, Reg.EBX, 24, "clwb", "SystemInstructionsTest", "clwb"),
            bit(7, 0, Reg.ECX, 22, "rdpid", "SystemInstructionsTest", "rdpid"),
            bit(7, 0, Reg.ECX, 2, "umip", "SystemInstructionsTest", "umip"),
            bit(7, 0, Reg.ECX, 3, "pku", "ProtectionKeysTest", "wrpkru"),
            bit(7, 0, Reg.ECX, 16, "la57", "FiveLevelPagingTest", "la57"),
            bit(7, 0, Reg.ECX, 31, "pks", "ProtectionKeysTest", "pkrs"),
            // IA32_ARCH_CAPABILITIES, saying which speculative-execution issues the core is not affected by
            bit(7, 0, Reg.EDX, 29, "arch-capabilities", "SystemInstructionsTest", "arch_capabilities"),
            bit(7, 1, Reg.EDX, 21, "apx", "ApxOracleTest", "apx"),
            bit(0x29, 0, Reg.EBX, 0, "apx-nci-ndd-nf", "ApxInstructionsTest", "ndd"),
            bit(0xD, 1, Reg.EAX, 0, "xsaveopt", "XsaveInstructionTest", "xsaveopt"),
            bit(0xD, 1, Reg.EAX, 1, "xsavec", "XsaveInstructionTest", "xsavec"),
            bit(0xD, 1, Reg.EAX, 3, "xsaves", "XsaveInstructionTest", "xsaves"),
            bit(EXT, 0, Reg.ECX, 0, "lahf-lm", "NativeOracleTest", "lahf"),
            bit(EXT, 0, Reg.ECX, 5, "abm", "NativeOracleTest", "lzcnt"),
            bit(EXT, 0, Reg.EDX, 11, "syscall", "ExceptionsTest", "syscall"),
            bit(EXT, 0, Reg.EDX, 20, "nx", "PagingTest", "nx"),
            bit(EXT, 0, Reg.EDX, 26, "pdpe1gb", "PagingTest", "1 GiB"),
            bit(EXT, 0, Reg.EDX, 27, "rdtscp", "InstructionForms", "rdtscp"),
            bit(EXT, 0, Reg.EDX, 29, "lm", "LegacyModesTest", "64-bit"),
            // an EFER bit that restricts indirect-branch prediction, which the core does not have: a guest that sees
            // it leaves its retpolines out
            bit(0x8000_0021, 0, Reg.EAX, 8, "auto-ibrs", "SystemInstructionsTest", "auto-ibrs"),
            // AMD repeats these leaf 1 EDX bits in 0x80000001 EDX
            bit(EXT, 0, Reg.EDX, 0, "fpu", "X87OracleTest", "x87"),
            bit(EXT, 0, Reg.EDX, 2, "de", "DebugRegistersTest", "cr4.de"),
            bit(EXT, 0, Reg.EDX, 3, "pse", "LegacyModesTest", "pse"),
            bit(EXT, 0, Reg.EDX, 4, "tsc", "InstructionForms", "rdtsc"),
            bit(EXT, 0, Reg.EDX, 5, "msr", "SystemInstructionsTest", "wrmsr"),
            bit(EXT, 0, Reg.EDX, 6, "pae", "LegacyModesTest", "pae"),
            bit(EXT, 0, Reg.EDX, 8, "cx8", "InstructionForms", "cmpxchg8b"),
            bit(EXT, 0, Reg.EDX, 9, "apic", "LocalApicTest", "apic"),
            bit(EXT, 0, Reg.EDX, 13, "pge", "PagingTest", "global"),
            bit(EXT, 0, Reg.EDX, 15, "cmov", "NativeOracleTest", "cmov"),
            bit(EXT, 0, Reg.EDX, 16, "pat", "InstructionForms", "0x277"),
            bit(EXT, 0, Reg.EDX, 17, "pse36", "LegacyModesTest", "pse"),
            bit(EXT, 0, Reg.EDX, 23, "mmx", "X87OracleTest", "mmx"),
            bit(EXT, 0, Reg.EDX, 24, "fxsr", "VendorRulesTest", "fxsave"),
            bit(0x4000_0001, 0, Reg.EAX, KvmClock.FEATURE_BIT, "kvmclock", "KvmClockTest", "kvmclock"),
            bit(0x4000_0001, 0, Reg.EAX, Msrs.KVM_FEATURE_CLOCKSOURCE_STABLE_BIT, "kvmclock-stable-bit", "KvmClockTest",
                    "PVCLOCK_TSC_STABLE_BIT"));

    /** The model as the core runs it: the features and raw bits the core does not implement cleared, with their XSAVE state. */
    public static CpuModel narrow(CpuModel model) {
        List<CpuFeature> lacking = lacking(model.cpuid());
        CpuModel m = lacking.isEmpty() ? model : model.without(lacking);
        long keptState = 0x3 | (m.has(CpuFeature.APX) ? 1L << ApxState.COMPONENT : 0) // x87, SSE, APX and PKRU: what the core has
                | (m.has(CpuFeature.PKU) ? 1L << 9 : 0);
        m = m.withoutXsaveComponents(~keptState);
        CpuidTable t = m.cpuid();
        for (FeatureRegister r : FEATURE_REGISTERS) {
            var entry = t.find(r.leaf(), r.subleaf());
            if (entry.isPresent()) {
                CpuidEntry e = entry.get();
                int kept = CpuidTable.register(e, r.register()) & allowed(r);
                t = t.with(CpuidTable.withRegister(e, r.register(), kept));
            }
        }
        return m.withCpuid(t);
    }

    /**
     * {@code model} without the local APIC's bits (APIC in CPUID.1:EDX[9] and AMD's copy in 0x80000001, x2APIC and
     * TSC-deadline in CPUID.1:ECX): for a machine that has no local APIC.
     */
    public static CpuModel withoutLocalApic(CpuModel model) {
        CpuidTable t = model.cpuid();
        for (int leaf : new int[]{1, EXT}) {
            var entry = t.find(leaf, 0);
            if (entry.isPresent()) {
                CpuidEntry e = entry.get();
                e = CpuidTable.withRegister(e, Reg.EDX, CpuidTable.register(e, Reg.EDX) & ~(1 << 9));
                if (leaf == 1) {
                    e = CpuidTable.withRegister(e, Reg.ECX, CpuidTable.register(e, Reg.ECX) & ~(1 << 21 | 1 << 24));
                }
                t = t.with(e);
            }
        }
        return model.withCpuid(t);
    }

    /** The named features of {@code table} the core does not implement. */
    public static List<CpuFeature> lacking(CpuidTable table) {
        List<CpuFeature> lacking = new ArrayList<>();
        for (CpuFeature f : CpuFeature.values()) {
            if (table.has(f) && !implemented(f.leaf(), f.subleaf(), f.register(), f.bit())) {
                lacking.add(f);
            }
        }
        return lacking;
    }

    /** Whether {@link #narrow} clears a bit of {@code table}'s {@link #FEATURE_REGISTERS} ({@link #removedBits}, unnamed). */
    public static boolean clearsFeatureBits(CpuidTable table) {
        for (FeatureRegister r : FEATURE_REGISTERS) {
            if (clearedBits(table, r) != 0) {
                return true;
            }
        }
        return false;
    }

    /** Whether {@link #narrow} clears feature {@code f} of {@code table}: one of the {@link #removedBits}. */
    public static boolean clears(CpuidTable table, CpuFeature f) {
        return table.has(f) && !implemented(f.leaf(), f.subleaf(), f.register(), f.bit())
                && FEATURE_REGISTERS.contains(new FeatureRegister(f.leaf(), f.subleaf(), f.register()));
    }

    /** Every bit {@link #narrow} would clear in {@code table}, as "CPUID.(1,0):ECX[28]" or a feature's name. */
    public static List<String> removedBits(CpuidTable table) {
        List<String> removed = new ArrayList<>();
        for (FeatureRegister r : FEATURE_REGISTERS) {
            int gone = clearedBits(table, r);
            for (int b = 0; b < 32; b++) {
                if ((gone & (1 << b)) != 0) {
                    removed.add(name(r, b));
                }
            }
        }
        return removed;
    }

    /** {@link #removedBits} for one line: the named features, then how many other bits ("avx, avx2 and 9 other bits"). */
    public static String summary(CpuidTable table) {
        List<String> all = removedBits(table);
        List<String> named = all.stream().filter(n -> !n.startsWith("CPUID.")).toList();
        long others = all.size() - named.size();
        String list = String.join(", ", named);
        return others == 0 ? list : (named.isEmpty() ? "" : list + " and ") + others + " other CPUID feature bit" + (others == 1 ? "" : "s");
    }

    /** The bits of register {@code r} that {@link #narrow} clears in {@code table} (none where it has no such leaf). */
    private static int clearedBits(CpuidTable table, FeatureRegister r) {
        var entry = table.find(r.leaf(), r.subleaf());
        return entry.isPresent() ? CpuidTable.register(entry.get(), r.register()) & ~allowed(r) : 0;
    }

    private static String name(FeatureRegister r, int bit) {
        for (CpuFeature f : CpuFeature.values()) {
            if (f.leaf() == r.leaf() && f.subleaf() == r.subleaf() && f.register() == r.register() && f.bit() == bit) {
                return f.qemuName();
            }
        }
        String leaf = Integer.compareUnsigned(r.leaf(), 9) > 0 ? String.format("0x%X", r.leaf()) : Integer.toString(r.leaf());
        return "CPUID.(" + leaf + "," + r.subleaf() + "):" + r.register() + "[" + bit + "]";
    }

    static boolean implemented(int leaf, int subleaf, Reg register, int bit) {
        return (listed(leaf, subleaf, register) >>> bit & 1) != 0;
    }

    private static int allowed(FeatureRegister r) {
        return listed(r.leaf(), r.subleaf(), r.register());
    }

    /**
     * The bits {@link #BITS} lists in each register, by leaf, sub-leaf and register: every launch on the core looks
     * up each of the model's features once, in code the JVM interprets, where a search of the list each time took 1-2 ms.
     */
    private static final Map<Long, Integer> LISTED = new HashMap<>();

    static {
        for (Bit b : BITS) {
            long key = registerKey(b.leaf(), b.subleaf(), b.register());
            LISTED.put(key, LISTED.getOrDefault(key, 0) | 1 << b.bit());
        }
    }

    private static long registerKey(int leaf, int subleaf, Reg register) {
        return (long) leaf << 32 | (long) subleaf << 8 | register.ordinal();
    }

    private static int listed(int leaf, int subleaf, Reg register) {
        return LISTED.getOrDefault(registerKey(leaf, subleaf, register), 0);
    }
}

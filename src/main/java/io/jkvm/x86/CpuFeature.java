package io.jkvm.x86;

import java.util.Arrays;
import java.util.Locale;
import java.util.Optional;
import java.util.stream.Collectors;

/**
 * CPU features a guest model can add or remove, named as QEMU's -cpu option names them, with the CPUID bit that
 * enumerates each and the XSAVE components it brings (removed with it, added with it).
 */
public enum CpuFeature {
    // CPUID.1:ECX
    SSE3("pni", 1, 0, Reg.ECX, 0), PCLMULQDQ("pclmulqdq", 1, 0, Reg.ECX, 1), SSSE3("ssse3", 1, 0, Reg.ECX, 9),
    FMA("fma", 1, 0, Reg.ECX, 12), CX16("cx16", 1, 0, Reg.ECX, 13), PCID("pcid", 1, 0, Reg.ECX, 17),
    SSE4_1("sse4.1", 1, 0, Reg.ECX, 19), SSE4_2("sse4.2", 1, 0, Reg.ECX, 20), X2APIC("x2apic", 1, 0, Reg.ECX, 21),
    MOVBE("movbe", 1, 0, Reg.ECX, 22), POPCNT("popcnt", 1, 0, Reg.ECX, 23), TSC_DEADLINE("tsc-deadline", 1, 0, Reg.ECX, 24),
    AES("aes", 1, 0, Reg.ECX, 25),
    XSAVE("xsave", 1, 0, Reg.ECX, 26), AVX("avx", 1, 0, Reg.ECX, 28, 2), F16C("f16c", 1, 0, Reg.ECX, 29),
    RDRAND("rdrand", 1, 0, Reg.ECX, 30), HYPERVISOR("hypervisor", 1, 0, Reg.ECX, 31),
    // CPUID.1:EDX
    TSC("tsc", 1, 0, Reg.EDX, 4), MSR("msr", 1, 0, Reg.EDX, 5), PAE("pae", 1, 0, Reg.EDX, 6), CX8("cx8", 1, 0, Reg.EDX, 8),
    APIC("apic", 1, 0, Reg.EDX, 9), SEP("sep", 1, 0, Reg.EDX, 11), CMOV("cmov", 1, 0, Reg.EDX, 15), PAT("pat", 1, 0, Reg.EDX, 16),
    CLFLUSH("clflush", 1, 0, Reg.EDX, 19), MMX("mmx", 1, 0, Reg.EDX, 23), FXSR("fxsr", 1, 0, Reg.EDX, 24),
    SSE("sse", 1, 0, Reg.EDX, 25), SSE2("sse2", 1, 0, Reg.EDX, 26),
    // CPUID.(7,0):EBX
    FSGSBASE("fsgsbase", 7, 0, Reg.EBX, 0), TSC_ADJUST("tsc_adjust", 7, 0, Reg.EBX, 1), BMI1("bmi1", 7, 0, Reg.EBX, 3), AVX2("avx2", 7, 0, Reg.EBX, 5),
    SMEP("smep", 7, 0, Reg.EBX, 7), BMI2("bmi2", 7, 0, Reg.EBX, 8), ERMS("erms", 7, 0, Reg.EBX, 9),
    INVPCID("invpcid", 7, 0, Reg.EBX, 10), MPX("mpx", 7, 0, Reg.EBX, 14, 3, 4), AVX512F("avx512f", 7, 0, Reg.EBX, 16, 5, 6, 7),
    AVX512DQ("avx512dq", 7, 0, Reg.EBX, 17), RDSEED("rdseed", 7, 0, Reg.EBX, 18), ADX("adx", 7, 0, Reg.EBX, 19),
    SMAP("smap", 7, 0, Reg.EBX, 20), AVX512IFMA("avx512ifma", 7, 0, Reg.EBX, 21), CLFLUSHOPT("clflushopt", 7, 0, Reg.EBX, 23),
    CLWB("clwb", 7, 0, Reg.EBX, 24), AVX512CD("avx512cd", 7, 0, Reg.EBX, 28), SHA_NI("sha-ni", 7, 0, Reg.EBX, 29),
    AVX512BW("avx512bw", 7, 0, Reg.EBX, 30), AVX512VL("avx512vl", 7, 0, Reg.EBX, 31),
    // CPUID.(7,0):ECX and EDX
    AVX512VBMI("avx512vbmi", 7, 0, Reg.ECX, 1), UMIP("umip", 7, 0, Reg.ECX, 2), PKU("pku", 7, 0, Reg.ECX, 3, 9), LA57("la57", 7, 0, Reg.ECX, 16),
    GFNI("gfni", 7, 0, Reg.ECX, 8), VAES("vaes", 7, 0, Reg.ECX, 9), VPCLMULQDQ("vpclmulqdq", 7, 0, Reg.ECX, 10),
    RDPID("rdpid", 7, 0, Reg.ECX, 22), PKS("pks", 7, 0, Reg.ECX, 31), AMX_BF16("amx-bf16", 7, 0, Reg.EDX, 22), AMX_TILE("amx-tile", 7, 0, Reg.EDX, 24, 17, 18),
    AMX_INT8("amx-int8", 7, 0, Reg.EDX, 25), ARCH_CAPABILITIES("arch-capabilities", 7, 0, Reg.EDX, 29),
    // CPUID.(7,1)
    AVX_VNNI("avx-vnni", 7, 1, Reg.EAX, 4), AVX512_BF16("avx512-bf16", 7, 1, Reg.EAX, 5), APX("apx", 7, 1, Reg.EDX, 21, 19),
    // CPUID.(0x29,0): APX sub-features (NDD, NF, ZU and the conditional instructions)
    APX_NCI_NDD_NF("apx-nci-ndd-nf", 0x29, 0, Reg.EBX, 0),
    // CPUID.(0xD,1):EAX
    XSAVEOPT("xsaveopt", 0xD, 1, Reg.EAX, 0), XSAVEC("xsavec", 0xD, 1, Reg.EAX, 1), XGETBV1("xgetbv1", 0xD, 1, Reg.EAX, 2),
    XSAVES("xsaves", 0xD, 1, Reg.EAX, 3), XFD("xfd", 0xD, 1, Reg.EAX, 4),
    // CPUID.0x80000001
    LAHF_LM("lahf-lm", 0x8000_0001, 0, Reg.ECX, 0), ABM("abm", 0x8000_0001, 0, Reg.ECX, 5),
    SYSCALL("syscall", 0x8000_0001, 0, Reg.EDX, 11), NX("nx", 0x8000_0001, 0, Reg.EDX, 20),
    PDPE1GB("pdpe1gb", 0x8000_0001, 0, Reg.EDX, 26), RDTSCP("rdtscp", 0x8000_0001, 0, Reg.EDX, 27), LM("lm", 0x8000_0001, 0, Reg.EDX, 29),
    // CPUID.0x80000021:EAX (AMD)
    AUTO_IBRS("auto-ibrs", 0x8000_0021, 0, Reg.EAX, 8);

    /** A CPUID output register. */
    public enum Reg { EAX, EBX, ECX, EDX }

    private final String qemuName;
    private final int leaf;
    private final int subleaf;
    private final Reg register;
    private final int bit;
    private final int[] xsaveComponents;

    CpuFeature(String qemuName, int leaf, int subleaf, Reg register, int bit, int... xsaveComponents) {
        this.qemuName = qemuName;
        this.leaf = leaf;
        this.subleaf = subleaf;
        this.register = register;
        this.bit = bit;
        this.xsaveComponents = xsaveComponents;
    }

    public String qemuName() {
        return qemuName;
    }

    public int leaf() {
        return leaf;
    }

    public int subleaf() {
        return subleaf;
    }

    public Reg register() {
        return register;
    }

    public int bit() {
        return bit;
    }

    /** The XSAVE components (XCR0 bits) that exist only with this feature. */
    public long xsaveMask() {
        long m = 0;
        for (int c : xsaveComponents) {
            m |= 1L << c;
        }
        return m;
    }

    /** "apx (CPUID.(7,1):EDX[21]), avx512f (CPUID.(7,0):EBX[16])": features as messages name them. */
    public static String describe(java.util.List<CpuFeature> features) {
        return features.stream().map(f -> f.qemuName() + " (" + f.cpuidBit() + ")")
                .collect(java.util.stream.Collectors.joining(", "));
    }

    /** "CPUID.(7,1):EDX[21]" */
    public String cpuidBit() {
        // Unsigned: the extended leaves (0x80000000 up) are negative as an int.
        String l = Integer.compareUnsigned(leaf, 9) > 0 ? String.format("0x%X", leaf) : Integer.toString(leaf);
        return "CPUID.(" + l + "," + subleaf + "):" + register + "[" + bit + "]";
    }

    /** By QEMU name; '_' and '-' and '.' are interchangeable, case does not matter ("sse4_1" = "sse4.1"). */
    public static Optional<CpuFeature> byName(String name) {
        String n = normalize(name);
        if (n.equals("apxf") || n.equals("apx-f")) {
            return Optional.of(APX);
        }
        return Arrays.stream(values()).filter(f -> normalize(f.qemuName).equals(n)).findFirst();
    }

    private static String normalize(String s) {
        return s.toLowerCase(Locale.ROOT).replace('_', '-').replace('.', '-');
    }

    public static String knownNames() {
        return Arrays.stream(values()).map(CpuFeature::qemuName).sorted().collect(Collectors.joining(", "));
    }
}

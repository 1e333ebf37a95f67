package io.jkvm.x86;

import java.util.ArrayList;
import java.util.List;

/**
 * Synthetic CPUID tables with the XSAVE layouts of real and invented parts, for layout and core tests, and the CPU
 * models of the two vendors: a table with the MXCSR_MASK that vendor's FXSAVE reports.
 */
public final class CpuidFixtures {
    private CpuidFixtures() {
    }

    /** {number, size, offset, ecx} rows for leaf 0xD sub-leaves >= 2. */
    static CpuidTable table(String vendor, long xcr0, int[]... components) {
        List<CpuidEntry> e = new ArrayList<>();
        byte[] v = vendor.getBytes(java.nio.charset.StandardCharsets.US_ASCII);
        e.add(new CpuidEntry(0, 0, 0, 0x20, word(v, 0), word(v, 8), word(v, 4)));
        e.add(new CpuidEntry(1, 0, 0, 0x806F8, 0, 1 << 26, 0x178BFBFF)); // EDX: the base features every x86-64 part has
        e.add(new CpuidEntry(7, 0, 1, 1, 0, 0, 0));
        e.add(new CpuidEntry(7, 1, 1, 0, 0, 0, 0));
        int end = 576;
        for (int[] c : components) {
            end = Math.max(end, c[1] + c[2]);
        }
        e.add(new CpuidEntry(0xD, 0, 1, (int) xcr0, end, end, (int) (xcr0 >>> 32)));
        e.add(new CpuidEntry(0xD, 1, 1, 0xF, 0, 0, 0));
        for (int[] c : components) {
            e.add(new CpuidEntry(0xD, c[0], 1, c[1], c[2], c[3], 0));
        }
        return new CpuidTable(e);
    }

    private static int word(byte[] b, int at) {
        return (b[at] & 0xFF) | (b[at + 1] & 0xFF) << 8 | (b[at + 2] & 0xFF) << 16 | (b[at + 3] & 0xFF) << 24;
    }

    /** Sapphire Rapids-like: AVX-512, PKRU at 0xA80, AMX tile config and data (64-byte aligned, XFD). */
    public static CpuidTable intel() {
        return table("GenuineIntel", 0x602E7L,
                new int[]{2, 256, 576, 0}, new int[]{5, 64, 1088, 0}, new int[]{6, 512, 1152, 0},
                new int[]{7, 1024, 1664, 0}, new int[]{9, 8, 0xA80, 0}, new int[]{17, 64, 2752, 2},
                new int[]{18, 8192, 2816, 6});
    }

    /** Zen 4-like (this machine's kind): AVX-512 packed right after AVX, PKRU at 0x980, MisAlignSse. */
    public static CpuidTable zen() {
        return table("AuthenticAMD", 0x2E7L,
                new int[]{2, 256, 576, 0}, new int[]{5, 64, 832, 0}, new int[]{6, 512, 896, 0},
                new int[]{7, 1024, 1408, 0}, new int[]{9, 8, 0x980, 0})
                .with(new CpuidEntry(0x80000000, 0, 0, 0x80000001, 0, 0, 0))
                .with(new CpuidEntry(0x80000001, 0, 0, 0, 0, 1 << 7, 0)); // ECX[7] MisAlignSse: MXCSR.MM exists
    }

    /** The Intel part: {@link #intel()} with MXCSR_MASK 0xFFFF. */
    public static CpuModel intelModel() {
        return new CpuModel("intel fixture", intel(), CpuModel.INTEL_MXCSR_MASK);
    }

    /** The AMD part: {@link #zen()} with MXCSR_MASK 0x2FFFF (MM, the misaligned-SSE mask). */
    public static CpuModel amdModel() {
        return new CpuModel("amd fixture", zen(), CpuModel.AMD_MXCSR_MASK);
    }

    /** A table of the given vendor string, otherwise the Intel part's, for vendor-decision tests. */
    public static CpuidTable withVendor(CpuidTable t, String vendor) {
        byte[] v = vendor.getBytes(java.nio.charset.StandardCharsets.US_ASCII);
        CpuidEntry zero = t.leaf(0, 0);
        return t.with(new CpuidEntry(0, 0, zero.flags(), zero.eax(), word(v, 0), word(v, 8), word(v, 4)));
    }

    /** An APX part: R16-R31 at 960 (the old MPX area), below AVX-512's components. */
    public static CpuidTable apx() {
        CpuidTable t = table("GenuineIntel", 0x800E7L,
                new int[]{2, 256, 576, 0}, new int[]{5, 64, 1088, 0}, new int[]{6, 512, 1152, 0},
                new int[]{7, 1024, 1664, 0}, new int[]{19, 128, 960, 0});
        return t.withFeature(CpuFeature.APX, true);
    }

    /** Invented: APX somewhere other than 960, after everything else. */
    static CpuidTable apxElsewhere() {
        CpuidTable t = table("GenuineIntel", 0x800E7L,
                new int[]{2, 256, 576, 0}, new int[]{5, 64, 1088, 0}, new int[]{6, 512, 1152, 0},
                new int[]{7, 1024, 1664, 0}, new int[]{19, 128, 3072, 0});
        return t.withFeature(CpuFeature.APX, true);
    }

    /** Skylake-server-like with MPX (BNDREGS at 960, BNDCSR at 1024). */
    static CpuidTable mpx() {
        CpuidTable t = table("GenuineIntel", 0xFFL,
                new int[]{2, 256, 576, 0}, new int[]{3, 64, 960, 0}, new int[]{4, 64, 1024, 0},
                new int[]{5, 64, 1088, 0}, new int[]{6, 512, 1152, 0}, new int[]{7, 1024, 1664, 0});
        return t.withFeature(CpuFeature.MPX, true).withFeature(CpuFeature.AVX512F, true);
    }
}

package io.jkvm.x86;

/** Architectural bits of CR0, CR4, EFER, XCR0 and page-table entries (SDM vol. 3). */
public final class ControlBits {
    private ControlBits() {
    }

    public static final long CR0_PE = 1L;
    public static final long CR0_MP = 1L << 1;
    public static final long CR0_EM = 1L << 2;
    public static final long CR0_TS = 1L << 3;
    public static final long CR0_ET = 1L << 4;
    public static final long CR0_NE = 1L << 5;
    public static final long CR0_WP = 1L << 16;
    public static final long CR0_AM = 1L << 18;
    public static final long CR0_NW = 1L << 29;
    public static final long CR0_CD = 1L << 30;
    public static final long CR0_PG = 1L << 31;

    public static final long CR4_DE = 1L << 3;
    public static final long CR4_PSE = 1L << 4;
    public static final long CR4_PAE = 1L << 5;
    public static final long CR4_PGE = 1L << 7;
    public static final long CR4_PCE = 1L << 8;
    public static final long CR4_OSFXSR = 1L << 9;
    public static final long CR4_OSXMMEXCPT = 1L << 10;
    public static final long CR4_UMIP = 1L << 11;
    /** 5-level paging (in IA-32e mode): 57-bit linear addresses. */
    public static final long CR4_LA57 = 1L << 12;
    public static final long CR4_FSGSBASE = 1L << 16;
    public static final long CR4_PCIDE = 1L << 17;
    public static final long CR4_OSXSAVE = 1L << 18;
    public static final long CR4_SMEP = 1L << 20;
    public static final long CR4_SMAP = 1L << 21;
    public static final long CR4_PKE = 1L << 22;
    public static final long CR4_PKS = 1L << 24;

    public static final long EFER_SCE = 1L;
    public static final long EFER_LME = 1L << 8;
    public static final long EFER_LMA = 1L << 10;
    public static final long EFER_NXE = 1L << 11;
    /** AMD's Automatic IBRS enable (AIBRSE): writable where CPUID.80000021H:EAX[8] says the CPU has it. */
    public static final long EFER_AUTOIBRS = 1L << 21;

    public static final long XCR0_X87 = 1L;
    public static final long XCR0_SSE = 1L << 1;

    public static final long PTE_PRESENT = 1L;
    public static final long PTE_WRITABLE = 1L << 1;
    public static final long PTE_USER = 1L << 2;
    public static final long PTE_LARGE = 1L << 7;
    /** Global: the leaf's translation outlives CR3 writes under CR4.PGE. */
    public static final long PTE_GLOBAL = 1L << 8;
    public static final long PTE_NX = 1L << 63;
    /** Bits 12..51 of an entry: the physical address it points to (MAXPHYADDR 52). */
    public static final long PTE_ADDRESS = 0x000F_FFFF_FFFF_F000L;
}

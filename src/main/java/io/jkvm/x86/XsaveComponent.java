package io.jkvm.x86;

/** The XSAVE state components by number (SDM vol. 1, 13.1), with the names `jkvm info` prints. */
public enum XsaveComponent {
    X87(0, "x87"),
    SSE(1, "SSE"),
    AVX(2, "AVX (YMM_Hi128)"),
    MPX_BNDREGS(3, "MPX BNDREGS"),
    MPX_BNDCSR(4, "MPX BNDCSR"),
    AVX512_OPMASK(5, "AVX-512 opmask"),
    AVX512_ZMM_HI256(6, "AVX-512 ZMM_Hi256"),
    AVX512_HI16_ZMM(7, "AVX-512 Hi16_ZMM"),
    PT(8, "Processor Trace"),
    PKRU(9, "PKRU"),
    PASID(10, "PASID"),
    CET_U(11, "CET user"),
    CET_S(12, "CET supervisor"),
    HDC(13, "HDC"),
    UINTR(14, "UINTR"),
    LBR(15, "LBR"),
    HWP(16, "HWP"),
    AMX_TILECFG(17, "AMX TILECFG"),
    AMX_TILEDATA(18, "AMX TILEDATA"),
    APX(19, "APX (R16-R31)");

    private final int number;
    private final String displayName;

    XsaveComponent(int number, String displayName) {
        this.number = number;
        this.displayName = displayName;
    }

    public int number() {
        return number;
    }

    public String displayName() {
        return displayName;
    }

    public long mask() {
        return 1L << number;
    }

    /** The name of component {@code number}, or "component N" for one this enum does not know. */
    public static String nameOf(int number) {
        for (XsaveComponent c : values()) {
            if (c.number == number) {
                return c.displayName;
            }
        }
        return "component " + number;
    }
}

package io.jkvm.x86;

import java.util.Arrays;

/**
 * Who made a CPU model, from CPUID leaf 0's vendor string, and so which manual decides where Intel's SDM and AMD's
 * APM differ: Hygon's parts are AMD's Zen and follow the APM; Zhaoxin's (Centaur's) follow the SDM, as does a vendor
 * jkvm does not know. docs/vendors.md lists each difference and the rule the software core follows.
 */
public enum Vendor {
    INTEL(Manual.SDM, "GenuineIntel"),
    AMD(Manual.APM, "AuthenticAMD"),
    HYGON(Manual.APM, "HygonGenuine"),
    ZHAOXIN(Manual.SDM, "CentaurHauls", "  Shanghai  "),
    OTHER(Manual.SDM);

    /** The architecture manual a vendor's parts follow. */
    public enum Manual { SDM, APM }

    private final Manual manual;
    private final String[] ids;

    Vendor(Manual manual, String... ids) {
        this.manual = manual;
        this.ids = ids;
    }

    public static Vendor of(String vendorId) {
        for (Vendor v : values()) {
            if (Arrays.asList(v.ids).contains(vendorId)) {
                return v;
            }
        }
        return OTHER;
    }

    public static Vendor of(CpuidTable cpuid) {
        return of(cpuid.vendor());
    }

    public Manual manual() {
        return manual;
    }

    /** True for AMD and Hygon: the APM's rule applies where it differs from the SDM. */
    public boolean followsApm() {
        return manual == Manual.APM;
    }

    /**
     * The display family of CPUID.1:EAX (Linux's x86_family): the base family, plus the extended family when the
     * base is 0xF. The same rule for every vendor.
     */
    public static int family(int signature) {
        int base = (signature >>> 8) & 0xF;
        return base == 0xF ? base + ((signature >>> 20) & 0xFF) : base;
    }

    /**
     * The display model of CPUID.1:EAX (Linux's x86_model): the base model, plus the extended model shifted left 4
     * from family 6 on (Intel's family 6, AMD's 0xF and later, Hygon's 0x18, Zhaoxin's 7).
     */
    public static int model(int signature) {
        int model = (signature >>> 4) & 0xF;
        return family(signature) >= 6 ? model + (((signature >>> 16) & 0xF) << 4) : model;
    }
}

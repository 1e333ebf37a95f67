package io.jkvm.x86;

/** Model-specific register numbers jkvm reads and writes. */
public final class Msrs {
    private Msrs() {
    }

    public static final int IA32_TSC = 0x10;
    public static final int IA32_TSC_ADJUST = 0x3B;
    public static final int IA32_APIC_BASE = 0x1B;
    public static final int IA32_SYSENTER_CS = 0x174;
    public static final int IA32_SYSENTER_ESP = 0x175;
    public static final int IA32_SYSENTER_EIP = 0x176;
    public static final int IA32_PAT = 0x277;
    /** The microcode revision (Intel's BIOS_SIGN_ID, AMD's PATCH_LEVEL), in a read's EDX. */
    public static final int IA32_BIOS_SIGN_ID = 0x8B;
    /** The speculative-execution issues the CPU is not affected by (read-only), where CPUID.(7,0):EDX[29] says it exists. */
    public static final int IA32_ARCH_CAPABILITIES = 0x10A;
    /** Feature switches Linux reads unguarded on Intel parts; after reset (as KVM has it) BTS and PEBS unavailable. */
    public static final int IA32_MISC_ENABLE = 0x1A0;
    public static final long MISC_ENABLE_AT_RESET = (1L << 11) | (1L << 12);
    public static final int IA32_XFD = 0x1C4;
    public static final int IA32_XFD_ERR = 0x1C5;
    public static final int IA32_XSS = 0xDA0;
    public static final int IA32_PKRS = 0x6E1;
    public static final int IA32_EFER = 0xC0000080;
    public static final int IA32_STAR = 0xC0000081;
    public static final int IA32_LSTAR = 0xC0000082;
    public static final int IA32_CSTAR = 0xC0000083;
    public static final int IA32_FMASK = 0xC0000084;
    public static final int IA32_FS_BASE = 0xC0000100;
    public static final int IA32_GS_BASE = 0xC0000101;
    public static final int IA32_KERNEL_GS_BASE = 0xC0000102;
    public static final int IA32_TSC_AUX = 0xC0000103;
    /** AMD's hardware configuration register (APM Vol. 2, MSR C001_0015); Intel CPUs have no such MSR. */
    public static final int AMD_HWCR = 0xC0010015;
    /** AMD's northbridge configuration (MSR C001_001F): KVM reads it as 0 and drops writes; so does the core. */
    public static final int AMD_NB_CFG = 0xC001001F;
    /** kvmclock's (Documentation/virt/kvm/x86/msr.rst): where the guest asked for the wall clock and its vCPU's clock. */
    public static final int KVM_WALL_CLOCK_NEW = 0x4B564D00, KVM_SYSTEM_TIME_NEW = 0x4B564D01;
    /** CPUID.0x40000001:EAX bit 3, KVM_FEATURE_CLOCKSOURCE2: the two MSRs above. */
    public static final int KVM_FEATURE_CLOCKSOURCE2 = 3;
    /** CPUID.0x40000001:EAX bit 24, KVM_FEATURE_CLOCKSOURCE_STABLE_BIT: the guest may trust PVCLOCK_TSC_STABLE_BIT. */
    public static final int KVM_FEATURE_CLOCKSOURCE_STABLE_BIT = 24;

    /** The MSRs a saved vCPU carries, whichever backend ran it (where the backend has them). */
    public static int[] vcpuState() {
        return new int[]{IA32_TSC, IA32_TSC_ADJUST, IA32_SYSENTER_CS, IA32_SYSENTER_ESP, IA32_SYSENTER_EIP, IA32_PAT, IA32_MISC_ENABLE, IA32_STAR,
                IA32_LSTAR, IA32_CSTAR, IA32_FMASK, IA32_KERNEL_GS_BASE, IA32_TSC_AUX, IA32_XFD, IA32_XFD_ERR, IA32_XSS, IA32_PKRS,
                KVM_WALL_CLOCK_NEW, KVM_SYSTEM_TIME_NEW}; // kvmclock's last: its clock is published from the TSC above
    }

    /** Whether {@code model} has leaf 0x40000001 in its hypervisor range with KVM_FEATURE_CLOCKSOURCE2 in it. */
    public static boolean hasKvmClock(CpuidTable model) {
        return model.hasHypervisorLeaf(0x4000_0001)
                && (model.leaf(0x4000_0001, 0).eax() & (1 << KVM_FEATURE_CLOCKSOURCE2)) != 0;
    }

    /**
     * The state MSRs a CPU model has: TSC_AUX only with RDTSCP or RDPID, XFD and XFD_ERR only with XFD, XSS only
     * with XSAVES and a supervisor component to enable (KVM's rule: else it is always 0 and KVM does not list it),
     * kvmclock's only where the model offers kvmclock.
     * Both backends save exactly these, so their records name the same MSRs.
     */
    public static int[] vcpuState(CpuidTable model) {
        boolean tscAux = model.has(CpuFeature.RDTSCP) || model.has(CpuFeature.RDPID);
        boolean xfd = model.has(CpuFeature.XFD);
        boolean xss = model.has(CpuFeature.XSAVES) && model.supportedXss() != 0;
        boolean kvmClock = hasKvmClock(model);
        return java.util.Arrays.stream(vcpuState())
                .filter(m -> m != IA32_TSC_AUX || tscAux)
                .filter(m -> (m != IA32_XFD && m != IA32_XFD_ERR) || xfd)
                .filter(m -> m != IA32_XSS || xss)
                .filter(m -> m != IA32_PKRS || model.has(CpuFeature.PKS))
                .filter(m -> m != IA32_TSC_ADJUST || model.has(CpuFeature.TSC_ADJUST))
                .filter(m -> (m != KVM_WALL_CLOCK_NEW && m != KVM_SYSTEM_TIME_NEW) || kvmClock)
                .toArray();
    }
}

package io.jkvm.kvm;

import io.jkvm.linux.uapi.Uapi;

/** The KVM capabilities jkvm asks about, by their KVM_CAP_* number. */
public enum Capability {
    USER_MEMORY(Uapi.KVM_CAP_USER_MEMORY(), true),
    EXT_CPUID(Uapi.KVM_CAP_EXT_CPUID(), true),
    IMMEDIATE_EXIT(Uapi.KVM_CAP_IMMEDIATE_EXIT(), true),
    NR_VCPUS(Uapi.KVM_CAP_NR_VCPUS(), false),
    MAX_VCPUS(Uapi.KVM_CAP_MAX_VCPUS(), false),
    MAX_VCPU_ID(Uapi.KVM_CAP_MAX_VCPU_ID(), false),
    NR_MEMSLOTS(Uapi.KVM_CAP_NR_MEMSLOTS(), false),
    SYNC_MMU(Uapi.KVM_CAP_SYNC_MMU(), false),
    IRQCHIP(Uapi.KVM_CAP_IRQCHIP(), false),
    PIT2(Uapi.KVM_CAP_PIT2(), false),
    HLT(Uapi.KVM_CAP_HLT(), false),
    SET_TSS_ADDR(Uapi.KVM_CAP_SET_TSS_ADDR(), false),
    MP_STATE(Uapi.KVM_CAP_MP_STATE(), false),
    VCPU_EVENTS(Uapi.KVM_CAP_VCPU_EVENTS(), false),
    DEBUGREGS(Uapi.KVM_CAP_DEBUGREGS(), false),
    XSAVE(Uapi.KVM_CAP_XSAVE(), false),
    XCRS(Uapi.KVM_CAP_XCRS(), false),
    XSAVE2(Uapi.KVM_CAP_XSAVE2(), false),
    GET_TSC_KHZ(Uapi.KVM_CAP_GET_TSC_KHZ(), false),
    /** KVM_SET_TSC_KHZ may set any rate (hardware TSC scaling); without it only the host's rate or a faster one. */
    TSC_CONTROL(Uapi.KVM_CAP_TSC_CONTROL(), false),
    /** The KVM_DIRTY_LOG_* flags KVM_ENABLE_CAP takes for it (0: KVM_GET_DIRTY_LOG always clears the log). */
    MANUAL_DIRTY_LOG_PROTECT2(Uapi.KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2(), false);

    private final int number;
    private final boolean required;

    Capability(int number, boolean required) {
        this.number = number;
        this.required = required;
    }

    public int number() {
        return number;
    }

    /** jkvm cannot run a guest without it. */
    public boolean required() {
        return required;
    }

    /** The UAPI name, e.g. KVM_CAP_XSAVE2. */
    public String uapiName() {
        return "KVM_CAP_" + name();
    }
}

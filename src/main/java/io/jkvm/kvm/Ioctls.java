package io.jkvm.kvm;

import io.jkvm.linux.Ioctl;
import io.jkvm.linux.uapi.Uapi;

/** The KVM ioctls jkvm issues, with their UAPI names for error messages. */
final class Ioctls {
    private Ioctls() {
    }

    /** Every ioctl below (the sandbox allows these and no other KVM ioctl). */
    static java.util.List<Ioctl> all() {
        java.util.List<Ioctl> all = new java.util.ArrayList<>();
        for (java.lang.reflect.Field f : Ioctls.class.getDeclaredFields()) {
            if (f.getType() == Ioctl.class) {
                try {
                    all.add((Ioctl) f.get(null));
                } catch (IllegalAccessException e) {
                    throw new AssertionError(e);
                }
            }
        }
        return all;
    }

    // System fd.
    static final Ioctl GET_API_VERSION = Ioctl.quick("KVM_GET_API_VERSION", Uapi.KVM_GET_API_VERSION());
    static final Ioctl CREATE_VM = new Ioctl("KVM_CREATE_VM", Uapi.KVM_CREATE_VM());
    static final Ioctl CHECK_EXTENSION = Ioctl.quick("KVM_CHECK_EXTENSION", Uapi.KVM_CHECK_EXTENSION());
    static final Ioctl GET_VCPU_MMAP_SIZE = Ioctl.quick("KVM_GET_VCPU_MMAP_SIZE", Uapi.KVM_GET_VCPU_MMAP_SIZE());
    static final Ioctl GET_SUPPORTED_CPUID = new Ioctl("KVM_GET_SUPPORTED_CPUID", Uapi.KVM_GET_SUPPORTED_CPUID());
    static final Ioctl GET_MSR_INDEX_LIST = new Ioctl("KVM_GET_MSR_INDEX_LIST", Uapi.KVM_GET_MSR_INDEX_LIST());
    // VM fd.
    static final Ioctl SET_USER_MEMORY_REGION = new Ioctl("KVM_SET_USER_MEMORY_REGION", Uapi.KVM_SET_USER_MEMORY_REGION());
    static final Ioctl CREATE_VCPU = new Ioctl("KVM_CREATE_VCPU", Uapi.KVM_CREATE_VCPU());
    static final Ioctl CREATE_IRQCHIP = new Ioctl("KVM_CREATE_IRQCHIP", Uapi.KVM_CREATE_IRQCHIP());
    static final Ioctl CREATE_PIT2 = new Ioctl("KVM_CREATE_PIT2", Uapi.KVM_CREATE_PIT2());
    static final Ioctl SET_TSS_ADDR = new Ioctl("KVM_SET_TSS_ADDR", Uapi.KVM_SET_TSS_ADDR());
    static final Ioctl SET_IDENTITY_MAP_ADDR = new Ioctl("KVM_SET_IDENTITY_MAP_ADDR", Uapi.KVM_SET_IDENTITY_MAP_ADDR());
    static final Ioctl IRQ_LINE = new Ioctl("KVM_IRQ_LINE", Uapi.KVM_IRQ_LINE());
    static final Ioctl IOEVENTFD = new Ioctl("KVM_IOEVENTFD", Uapi.KVM_IOEVENTFD());
    static final Ioctl IRQFD = new Ioctl("KVM_IRQFD", Uapi.KVM_IRQFD());
    static final Ioctl GET_IRQCHIP = new Ioctl("KVM_GET_IRQCHIP", Uapi.KVM_GET_IRQCHIP());
    static final Ioctl SET_IRQCHIP = new Ioctl("KVM_SET_IRQCHIP", Uapi.KVM_SET_IRQCHIP());
    static final Ioctl GET_PIT2 = new Ioctl("KVM_GET_PIT2", Uapi.KVM_GET_PIT2());
    static final Ioctl SET_PIT2 = new Ioctl("KVM_SET_PIT2", Uapi.KVM_SET_PIT2());
    static final Ioctl GET_DIRTY_LOG = new Ioctl("KVM_GET_DIRTY_LOG", Uapi.KVM_GET_DIRTY_LOG());
    static final Ioctl CLEAR_DIRTY_LOG = new Ioctl("KVM_CLEAR_DIRTY_LOG", Uapi.KVM_CLEAR_DIRTY_LOG());
    static final Ioctl ENABLE_CAP = new Ioctl("KVM_ENABLE_CAP", Uapi.KVM_ENABLE_CAP());
    // vCPU fd.
    static final Ioctl RUN = new Ioctl("KVM_RUN", Uapi.KVM_RUN());
    static final Ioctl GET_LAPIC = new Ioctl("KVM_GET_LAPIC", Uapi.KVM_GET_LAPIC());
    static final Ioctl SET_LAPIC = new Ioctl("KVM_SET_LAPIC", Uapi.KVM_SET_LAPIC());
    static final Ioctl GET_REGS = new Ioctl("KVM_GET_REGS", Uapi.KVM_GET_REGS());
    static final Ioctl SET_REGS = new Ioctl("KVM_SET_REGS", Uapi.KVM_SET_REGS());
    static final Ioctl GET_SREGS = new Ioctl("KVM_GET_SREGS", Uapi.KVM_GET_SREGS());
    static final Ioctl SET_SREGS = new Ioctl("KVM_SET_SREGS", Uapi.KVM_SET_SREGS());
    static final Ioctl GET_FPU = new Ioctl("KVM_GET_FPU", Uapi.KVM_GET_FPU());
    static final Ioctl SET_FPU = new Ioctl("KVM_SET_FPU", Uapi.KVM_SET_FPU());
    static final Ioctl SET_CPUID2 = new Ioctl("KVM_SET_CPUID2", Uapi.KVM_SET_CPUID2());
    static final Ioctl GET_CPUID2 = new Ioctl("KVM_GET_CPUID2", Uapi.KVM_GET_CPUID2());
    static final Ioctl GET_MSRS = new Ioctl("KVM_GET_MSRS", Uapi.KVM_GET_MSRS());
    static final Ioctl SET_MSRS = new Ioctl("KVM_SET_MSRS", Uapi.KVM_SET_MSRS());
    static final Ioctl GET_XCRS = new Ioctl("KVM_GET_XCRS", Uapi.KVM_GET_XCRS());
    static final Ioctl SET_XCRS = new Ioctl("KVM_SET_XCRS", Uapi.KVM_SET_XCRS());
    static final Ioctl GET_VCPU_EVENTS = new Ioctl("KVM_GET_VCPU_EVENTS", Uapi.KVM_GET_VCPU_EVENTS());
    static final Ioctl SET_VCPU_EVENTS = new Ioctl("KVM_SET_VCPU_EVENTS", Uapi.KVM_SET_VCPU_EVENTS());
    static final Ioctl GET_MP_STATE = new Ioctl("KVM_GET_MP_STATE", Uapi.KVM_GET_MP_STATE());
    static final Ioctl SET_MP_STATE = new Ioctl("KVM_SET_MP_STATE", Uapi.KVM_SET_MP_STATE());
    static final Ioctl GET_DEBUGREGS = new Ioctl("KVM_GET_DEBUGREGS", Uapi.KVM_GET_DEBUGREGS());
    static final Ioctl SET_DEBUGREGS = new Ioctl("KVM_SET_DEBUGREGS", Uapi.KVM_SET_DEBUGREGS());
    static final Ioctl GET_XSAVE = new Ioctl("KVM_GET_XSAVE", Uapi.KVM_GET_XSAVE());
    static final Ioctl GET_XSAVE2 = new Ioctl("KVM_GET_XSAVE2", Uapi.KVM_GET_XSAVE2());
    static final Ioctl GET_TSC_KHZ = Ioctl.quick("KVM_GET_TSC_KHZ", Uapi.KVM_GET_TSC_KHZ());
    static final Ioctl SET_TSC_KHZ = Ioctl.quick("KVM_SET_TSC_KHZ", Uapi.KVM_SET_TSC_KHZ());
    static final Ioctl SET_GSI_ROUTING = new Ioctl("KVM_SET_GSI_ROUTING", Uapi.KVM_SET_GSI_ROUTING());
    static final Ioctl GET_CLOCK = new Ioctl("KVM_GET_CLOCK", Uapi.KVM_GET_CLOCK());
    static final Ioctl SET_CLOCK = new Ioctl("KVM_SET_CLOCK", Uapi.KVM_SET_CLOCK());
    static final Ioctl SET_XSAVE = new Ioctl("KVM_SET_XSAVE", Uapi.KVM_SET_XSAVE());
    static final Ioctl TRANSLATE = new Ioctl("KVM_TRANSLATE", Uapi.KVM_TRANSLATE());
    static final Ioctl INTERRUPT = new Ioctl("KVM_INTERRUPT", Uapi.KVM_INTERRUPT());
}

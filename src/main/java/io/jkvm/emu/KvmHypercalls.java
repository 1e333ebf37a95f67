package io.jkvm.emu;

/**
 * VMCALL and VMMCALL as KVM answers them (Documentation/virt/kvm/x86/hypercalls.rst): the core plays the hypervisor a
 * KVM guest expects, whichever vendor's instruction the guest uses. The number is in RAX, the arguments in RBX, RCX,
 * RDX and RSI (32 bits of each outside 64-bit mode), the result in RAX.
 */
final class KvmHypercalls {
    static final long KICK_CPU = 5, SEND_IPI = 10, SCHED_YIELD = 11;
    static final long EPERM = -1, EINVAL = -22, ENOSYS = -1000;

    private KvmHypercalls() {
    }

    static void call(Core c) {
        long mask = c.code64 ? -1L : 0xFFFFFFFFL;
        long nr = c.r[0] & mask;
        long result;
        if (c.cpl != 0) {
            result = EPERM;
        } else if (nr == SEND_IPI) {
            result = sendIpi(c, c.r[3] & mask, c.r[1] & mask, c.r[2] & mask, c.r[6] & mask);
        } else if (nr == KICK_CPU || nr == SCHED_YIELD) {
            result = 0; // hints: every vCPU here already runs on a thread of its own
        } else {
            result = ENOSYS;
        }
        c.r[0] = result & mask;
        c.done();
    }

    /**
     * KVM_HC_SEND_IPI: bitmaps {@code low} and {@code high} of APIC IDs from {@code minId} (64 IDs each, 32 outside
     * 64-bit mode); the ICR must name physical destinations without a shorthand. The number of APICs reached.
     */
    private static long sendIpi(Core c, long low, long high, long minId, long icr) {
        if (c.apic == null) {
            return ENOSYS;
        }
        if ((icr & (1 << 11 | 3 << 18)) != 0) {
            return EINVAL; // a logical destination or a shorthand
        }
        int cluster = c.code64 ? 64 : 32;
        return c.apic.sendToApicIds(low, minId, (int) icr) + c.apic.sendToApicIds(high, minId + cluster, (int) icr);
    }
}

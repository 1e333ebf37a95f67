package io.jkvm.x86;

/** One CPUID leaf/sub-leaf: what KVM's kvm_cpuid_entry2 carries. */
public record CpuidEntry(int function, int index, int flags, int eax, int ebx, int ecx, int edx) {
    /** kvm_cpuid_entry2.flags: the sub-leaf index in ECX is significant for this function. */
    public static final int FLAG_SIGNIFICANT_INDEX = 1;

    public boolean indexed() {
        return (flags & FLAG_SIGNIFICANT_INDEX) != 0;
    }
}

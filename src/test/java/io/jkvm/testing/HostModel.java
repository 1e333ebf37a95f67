package io.jkvm.testing;

import io.jkvm.kvm.Kvm;
import io.jkvm.x86.CpuFeature;
import io.jkvm.x86.CpuidTable;

import java.util.stream.Stream;

/** Facts about this host's `host` CPU model that tests of CPU-model changes build on. */
public final class HostModel {
    private HostModel() {
    }

    /**
     * The host's CPUID as a machine takes it for the software core (BackendChoice): KVM's supported CPUID where
     * /dev/kvm opens, else the CPU's own, so the core's tests run on a host without KVM too.
     */
    public static CpuidTable cpuid() {
        Kvm kvm;
        try {
            kvm = Kvm.open();
        } catch (RuntimeException noKvm) {
            return io.jkvm.x86.NativeCpuid.withoutKvm();
        }
        try (kvm) {
            return kvm.supportedCpuid();
        }
    }

    /**
     * A feature the test guests never use that `host` has here (in {@link #cpuid()}), so `host,-F` is a narrower model:
     * which one varies, as KVM's supported CPUID varies by host (and kvm_pvm reports a narrow one).
     */
    public static String removableFeature() {
        CpuidTable host = cpuid();
        return Stream.of(CpuFeature.AES, CpuFeature.PCLMULQDQ, CpuFeature.GFNI, CpuFeature.CLWB, CpuFeature.CLFLUSHOPT,
                        CpuFeature.CX16)
                .filter(host::has).findFirst()
                .orElseThrow(() -> new AssertionError("the host model has none of aes, pclmulqdq, gfni, clwb, clflushopt, cx16"))
                .qemuName();
    }

    /**
     * As {@link #removableFeature()}, but one the software core implements too, so a model narrowed to what the core
     * runs still has it: a destination with `host,-F` then really lacks something the guest's model had.
     */
    public static String removableCoreFeature() {
        CpuidTable host = cpuid();
        return Stream.of(CpuFeature.RDSEED, CpuFeature.ADX, CpuFeature.MOVBE, CpuFeature.CX16)
                .filter(host::has).findFirst()
                .orElseThrow(() -> new AssertionError("the host model has none of rdseed, adx, movbe, cx16"))
                .qemuName();
    }
}

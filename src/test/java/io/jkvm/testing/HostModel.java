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
     * A feature the test guests never use that `host` has here, so `host,-F` is a narrower model: which one varies,
     * as KVM's supported CPUID varies by host (and kvm_pvm reports a narrow one).
     */
    public static String removableFeature() {
        try (Kvm kvm = Kvm.open()) {
            CpuidTable host = kvm.supportedCpuid();
            return Stream.of(CpuFeature.AES, CpuFeature.PCLMULQDQ, CpuFeature.GFNI, CpuFeature.CLWB, CpuFeature.CLFLUSHOPT,
                            CpuFeature.CX16)
                    .filter(host::has).findFirst()
                    .orElseThrow(() -> new AssertionError("the host model has none of aes, pclmulqdq, gfni, clwb, clflushopt, cx16"))
                    .qemuName();
        }
    }

    /**
     * As {@link #removableFeature()}, but one the software core implements too, so a model narrowed to what the core
     * runs still has it: a destination with `host,-F` then really lacks something the guest's model had.
     */
    public static String removableCoreFeature() {
        try (Kvm kvm = Kvm.open()) {
            CpuidTable host = kvm.supportedCpuid();
            return Stream.of(CpuFeature.RDSEED, CpuFeature.ADX, CpuFeature.MOVBE, CpuFeature.CX16)
                    .filter(host::has).findFirst()
                    .orElseThrow(() -> new AssertionError("the host model has none of rdseed, adx, movbe, cx16"))
                    .qemuName();
        }
    }
}

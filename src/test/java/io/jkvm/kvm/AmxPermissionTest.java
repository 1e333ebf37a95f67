package io.jkvm.kvm;

import io.jkvm.linux.ArchPrctl;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** amx_test.c's first step: guest permission for AMX tile data, asked before any VM or supported-CPUID read. */
class AmxPermissionTest {

    @Test
    void tileDataIsPermittedExactlyWhereTheCpuHasAmx() throws Exception {
        boolean cpuHasAmx = Files.readString(Path.of("/proc/cpuinfo")).contains(" amx_tile");
        boolean kernelOffersIt = (ArchPrctl.supportedFeatures() & (1L << Kvm.XFEATURE_XTILEDATA)) != 0;
        assertEquals(cpuHasAmx, kernelOffersIt, "ARCH_GET_XCOMP_SUPP agrees with /proc/cpuinfo");
        assertEquals(kernelOffersIt, Kvm.permitDynamicXsaveFeatures());
        if (kernelOffersIt) {
            long perm = ArchPrctl.guestPermission();
            assertTrue((perm & (1L << 17)) != 0 && (perm & (1L << 18)) != 0, "tile config and data permitted: " + Long.toHexString(perm));
        }
        try (Kvm kvm = Kvm.open()) {
            long xcr0 = kvm.supportedCpuid().supportedXcr0();
            // KVM may still not offer AMX (this machine's KVM does not); if it does, it offers both components.
            assertTrue((xcr0 & 0x60000L) == 0 || (xcr0 & 0x60000L) == 0x60000L, Long.toHexString(xcr0));
        }
    }
}

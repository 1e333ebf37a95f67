package io.jkvm.kvm;

import io.jkvm.linux.ArchPrctl;
import io.jkvm.testing.RequiresKvm;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * amx_test.c's first step: guest permission for AMX tile data, asked before any vCPU exists in the process.
 * The kernel locks guest permissions at the first vCPU, so the probe runs in a fresh JVM.
 */
@RequiresKvm
class AmxPermissionTest {

    /** Run in a fresh JVM: asks for AMX, then prints "permitted=… perm=… xcr0=…". */
    public static void main(String[] args) {
        boolean permitted = Kvm.permitDynamicXsaveFeatures();
        try (Kvm kvm = Kvm.open()) {
            System.out.printf("permitted=%b perm=%x xcr0=%x%n", permitted, ArchPrctl.guestPermission(),
                    kvm.supportedCpuid().supportedXcr0());
        }
    }

    @Test
    void tileDataIsPermittedBeforeTheFirstVcpuExactlyWhereTheCpuHasAmx() throws Exception {
        boolean cpuHasAmx = Files.readString(Path.of("/proc/cpuinfo")).contains(" amx_tile");
        boolean kernelOffersIt = (ArchPrctl.supportedFeatures() & (1L << Kvm.XFEATURE_XTILEDATA)) != 0;
        assertEquals(cpuHasAmx, kernelOffersIt, "ARCH_GET_XCOMP_SUPP agrees with /proc/cpuinfo");

        Process p = new ProcessBuilder(io.jkvm.testing.ChildJvm.command(AmxPermissionTest.class.getName())).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
        assertTrue(p.waitFor(60, TimeUnit.SECONDS));
        assertEquals(0, p.exitValue(), out);
        String[] f = out.split(" ");
        assertEquals("permitted=" + kernelOffersIt, f[0], out);
        long perm = Long.parseLong(f[1].substring("perm=".length()), 16);
        long xcr0 = Long.parseLong(f[2].substring("xcr0=".length()), 16);
        if (kernelOffersIt) {
            assertEquals(0x60000L, perm & 0x60000L, "tile config and data permitted: " + out);
        }
        // KVM may still not offer AMX (this machine's KVM does not); where it does, it offers both components.
        assertTrue((xcr0 & 0x60000L) == 0 || (xcr0 & 0x60000L) == 0x60000L, out);
    }

    @Test
    void askingAfterAVcpuExistsIsNotAnError() {
        try (Kvm kvm = Kvm.open(); Vm vm = kvm.createVm()) {
            vm.createVcpu(0);
            boolean permitted = Kvm.permitDynamicXsaveFeatures();
            assertEquals((ArchPrctl.guestPermission() & (1L << 18)) != 0, permitted);
        }
    }
}

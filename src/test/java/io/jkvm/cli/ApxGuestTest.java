package io.jkvm.cli;

import io.jkvm.kvm.Kvm;
import io.jkvm.testing.Cli;
import io.jkvm.testing.RequiresKvm;
import io.jkvm.testing.TestGuests;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * APX guests through {@code jkvm run --cpu host,+apx} with the default backend: on a host whose KVM lacks APX
 * (this one) auto falls back to the software core and says so on stderr; the guests' output is what matters.
 */
class ApxGuestTest {
    private static String guest(String name) {
        return TestGuests.path(name).toString();
    }

    private static boolean hostHasApx() {
        try (Kvm kvm = Kvm.open()) {
            return kvm.supportedCpuid().hasApx();
        }
    }

    private static void assertFallbackNotice(Cli.Result r) {
        if (hostHasApx()) {
            assertEquals("", r.err(), "a host with APX runs the model on KVM, without a notice");
        } else {
            String notice = r.errorLine();
            assertTrue(notice.startsWith("jkvm: this host's KVM lacks ") && notice.contains("apx (CPUID.(7,1):EDX[21])")
                    && notice.endsWith(": running the vCPUs on the software core"), notice);
        }
    }

    @Test
    @RequiresKvm
    void apxTestCasesThroughTheCli() {
        Cli.Result r = Cli.run("run", "--cpu", "host,+apx", "--image", guest("apx_state.elf"));
        assertEquals(1, r.status(), r.out() + r.err());
        assertEquals("apx_test (a): R16-R31 in the XSAVE image at CPUID.(0xD,19).EBX\r\n"
                + "apx_test (b): R16-R31 loaded from the XSAVE image\r\n"
                + "apx_test (c): R16-R31 kept while XCR0[APX] was off\r\n", r.out());
        assertFallbackNotice(r);
    }

    @Test
    @RequiresKvm
    void aSortWrittenWithApxFormsPrintsWhatItsLegacyTwinPrints() {
        Cli.Result apx = Cli.run("run", "--cpu", "host,+apx", "--image", guest("sort_apx.elf"));
        Cli.Result legacy = Cli.run("run", "--image", guest("sort_legacy.elf"));
        assertEquals(1, apx.status(), apx.out() + apx.err());
        assertEquals(1, legacy.status(), legacy.out() + legacy.err());
        assertTrue(legacy.out().startsWith("sort: out of order 0, lowest "), legacy.out());
        assertEquals(legacy.out(), apx.out());
        assertFallbackNotice(apx);
        assertEquals("", legacy.err(), "the legacy twin runs on KVM here");
    }

    /**
     * state_test.c's APX part: the vCPU is saved, remade and restored (compared bit for bit each time) every 7 port
     * exits while the guests run, so R16-R31, XCR0 and the XSAVE image cross many state moves mid-computation.
     */
    @Test
    @RequiresKvm
    void theApxGuestsGiveTheSameOutputWhenTheirVcpuIsRemadeFromSavedStateAsTheyRun() {
        for (String guest : new String[]{"apx_state.elf", "sort_apx.elf"}) {
            Cli.Result plain = Cli.run("run", "--cpu", "host,+apx", "--backend", "emulator", "--image", guest(guest));
            Cli.Result moved = Cli.run("run", "--cpu", "host,+apx", "--image", guest(guest), "--handoff-every", "7", "--trace");
            assertEquals(1, moved.status(), moved.out() + moved.err());
            assertEquals(plain.out(), moved.out(), guest);
            long moves = moved.err().lines().filter(l -> l.startsWith("jkvm: handoff ")).count();
            assertTrue(moves >= 10, guest + ": " + moved.err());
        }
    }

    @Test
    void withoutTheSubFeatureTheNddFormsAreUndefinedAndTheGuestDies() {
        Cli.Result r = Cli.run("run", "--cpu", "host,+apx,-apx-nci-ndd-nf", "--backend", "emulator", "--image", guest("sort_apx.elf"));
        // The first of them is the fill loop's {nf} add r16, r18 (EVEX map 4, at 0x100047): #UD, and with no IDT a
        // triple fault, reported as on KVM.
        assertEquals(2, r.status(), r.out() + r.err());
        assertEquals("jkvm: guest shut down (a triple fault) at RIP 0x100047 (bytes at RIP: "
                + "62 ec fc 0c 01 d0 d5 68 89 44 e3 00 62 fc dc): the guest hit an exception it could not handle; "
                + "check its IDT, stack and page tables", r.errorLine());
        assertEquals("", r.out());
    }
}

package io.jkvm.cli;

import io.jkvm.testing.Cli;
import io.jkvm.testing.RequiresKvm;
import io.jkvm.testing.TestGuests;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code jkvm run --kernel}: a multiboot kernel (src/test/guests/multiboot_smp.S) finds the magic, its command line and
 * memory in the multiboot information and the CPU count in fw_cfg, and starts the other processors with INIT and
 * STARTUP IPIs through its local APIC, as kvm-unit-tests and Linux do; each comes up in real mode at 0x8000.
 */
class KernelBootTest {
    @Test
    @Timeout(60)
    void aMultibootKernelStartsEveryProcessor() {
        Path kernel = TestGuests.path("multiboot_smp.elf");
        for (int cpus : new int[]{1, 3}) {
            Cli.Result r = Cli.run("run", "--backend", "emulator", "--mem", "16M", "--cpus", Integer.toString(cpus),
                    "--kernel", kernel.toString(), "--append", "console=ttyS0 quiet");
            assertEquals((cpus << 1) | 1, r.status(), () -> cpus + " vCPUs: " + r.out() + r.err());
            assertEquals(kernel + " console=ttyS0 quiet\n", r.out(), "the MBI's cmdline: the kernel's path, then --append");
        }
    }

    /**
     * On KVM: kvm_pvm runs no 32-bit kernel code, so --backend kvm is refused in one line and auto takes the core; a
     * VMX or SVM host runs it, both processors on KVM.
     */
    @Test
    @Timeout(60)
    @RequiresKvm
    void theBackendFollowsWhatThisHostsKvmCanRun() {
        Path kernel = TestGuests.path("multiboot_smp.elf");
        Cli.Result kvm = Cli.run("run", "--backend", "kvm", "--mem", "16M", "--kernel", kernel.toString());
        Cli.Result auto = Cli.run("run", "--mem", "16M", "--cpus", "2", "--kernel", kernel.toString());
        if (io.jkvm.testing.HostKvm.isPvm()) {
            assertEquals(2, kvm.status());
            assertTrue(kvm.errorLine().contains("kvm_pvm"), kvm.err());
            assertTrue(auto.errorLine().contains("the software core runs the kernel"), auto.err());
        } else { // a VMX or SVM host runs the kernel on KVM, its application processors started by the kernel's APIC
            assertEquals(3, kvm.status(), kvm.err());
            assertFalse(auto.err().contains("software core"), auto.err());
        }
        assertEquals(5, auto.status(), "two processors started: (2 << 1) | 1");
    }

    /**
     * ACPI as an OS uses it (src/test/guests/multiboot_acpi.S): the RSDP in the BIOS area, the RSDT to the FADT, the PM
     * timer counting, and S5 through PM1a control ending the run with status 0.
     */
    @Test
    @Timeout(60)
    void aKernelFindsTheAcpiTablesAndPowersOffThroughS5() {
        Cli.Result r = Cli.run("run", "--backend", "emulator", "--mem", "16M", "--cpus", "2", "--kernel",
                TestGuests.path("multiboot_acpi.elf").toString());
        assertEquals("acpi ok\n", r.out(), r.err());
        assertEquals(0, r.status(), "powered off: " + r.err());
    }

    @Test
    void aFlatOrElf64GuestGivenAsKernelRunsAsWithImage() {
        for (String guest : List.of("exit42.elf", "exit42.bin")) {
            Cli.Result image = Cli.run("run", "--backend", "emulator", "--image", TestGuests.path(guest).toString());
            Cli.Result kernel = Cli.run("run", "--backend", "emulator", "--kernel", TestGuests.path(guest).toString());
            assertEquals((42 << 1) | 1, image.status(), image.err());
            assertEquals(image, kernel, guest);
        }
    }

    @Test
    void badKernelsAreOneLineErrors() throws Exception {
        Path notMultiboot = TestGuests.path("halt.elf");
        Cli.Result r = Cli.run("run", "--backend", "emulator", "--kernel", notMultiboot.toString(), "--append", "x");
        assertEquals(2, r.status());
        assertTrue(r.errorLine().contains("is neither a Linux bzImage, a PVH ELF (vmlinux) nor a multiboot kernel")
                && r.errorLine().contains("takes no --append"), r.err());
        Path missing = Files.createTempDirectory("jkvm").resolve("nothing");
        r = Cli.run("run", "--backend", "emulator", "--kernel", missing.toString());
        assertEquals(2, r.status());
        assertTrue(r.errorLine().contains("no such file"), r.err());
        r = Cli.run("run", "--backend", "emulator", "--append", "x");
        assertEquals(2, r.status());
        assertTrue(r.errorLine().contains("--append goes with --kernel"), r.err());
        r = Cli.run("run", "--backend", "emulator", "--kernel", notMultiboot.toString(), "--image", notMultiboot.toString());
        assertEquals(2, r.status());
        assertTrue(r.errorLine().contains("give one"), r.err());
        r = Cli.run("run", "--backend", "emulator", "--kernel", TestGuests.path("multiboot_smp.elf").toString(), "--device", "nic");
        assertEquals(2, r.status());
        assertTrue(r.errorLine().contains("pc-testdev and virtio-rng are"), r.err());
    }

    /** A reset (Linux's reboot) with --no-reboot ends the run with status 0 and one line saying so. */
    @Test
    @Timeout(60)
    void aResetWithNoRebootEndsTheRun() {
        Cli.Result r = Cli.run("run", "--backend", "emulator", "--mem", "16M", "--no-reboot", "--kernel",
                TestGuests.path("multiboot_reset.elf").toString());
        assertEquals("boot\n", r.out(), r.err());
        assertEquals(0, r.status(), r.err());
        assertTrue(r.errorLine().contains("the guest reset the machine") && r.errorLine().contains("--no-reboot"), r.err());
    }

    /** Without --no-reboot a reset boots the kernel again on a machine made anew, again and again. */
    @Test
    @Timeout(120)
    void aResetBootsTheKernelAgain() throws Exception {
        Process p = new ProcessBuilder(io.jkvm.testing.ChildJvm.jkvm("run",
                "--backend", "emulator", "--mem", "16M", "--kernel", TestGuests.path("multiboot_reset.elf").toString()))
                .redirectErrorStream(true).start();
        try (java.io.BufferedReader out = new java.io.BufferedReader(new java.io.InputStreamReader(p.getInputStream()))) {
            for (int boot = 1; boot <= 3; boot++) {
                assertEquals("boot", out.readLine(), "boot " + boot);
            }
            assertTrue(p.isAlive(), "still running, booting again after each reset");
        } finally {
            p.destroyForcibly().waitFor();
        }
    }

    /** A reset after Linux's panic message (panic=-1) is the panic: status 2 and its line, not another boot. */
    @Test
    @Timeout(60)
    void aResetAfterAKernelPanicEndsTheRunWithStatus2() {
        Cli.Result r = Cli.run("run", "--backend", "emulator", "--mem", "16M", "--kernel",
                TestGuests.path("multiboot_reset.elf").toString(), "--append", "panic");
        assertEquals(2, r.status(), r.out() + r.err());
        assertEquals("jkvm: the guest's kernel panicked (Kernel panic - not syncing: Attempted to kill init! exitcode=0x00000100)"
                + " and reset the machine", r.errorLine(), r.err());
    }

    /**
     * The boot processor's HLT with interrupts off after Linux's panic message is the panic too: a panic on another
     * vCPU stops the boot processor before that vCPU resets the machine (status 2 and the panic's line, not status 0).
     */
    @Test
    @Timeout(60)
    void aHaltAfterAKernelPanicEndsTheRunWithStatus2() {
        Cli.Result r = Cli.run("run", "--backend", "emulator", "--mem", "16M", "--kernel",
                TestGuests.path("multiboot_reset.elf").toString(), "--append", "panic halt");
        assertEquals(2, r.status(), r.out() + r.err());
        assertEquals("jkvm: the guest's kernel panicked (Kernel panic - not syncing: Attempted to kill init! exitcode=0x00000100)"
                + " and stopped the boot processor", r.errorLine(), r.err());
    }

    /** Without a panic message before it, the same HLT is the guest's own end: status 0, no line. */
    @Test
    @Timeout(60)
    void aHaltWithoutAPanicEndsTheRunWithStatus0() {
        Cli.Result r = Cli.run("run", "--backend", "emulator", "--mem", "16M", "--kernel",
                TestGuests.path("multiboot_reset.elf").toString(), "--append", "halt");
        assertEquals(0, r.status(), r.out() + r.err());
        assertEquals("boot\n", r.out());
        assertEquals("", r.err());
    }

    @Test
    void nonsenseProgrammedIntoTheInterruptControllersAndTimersLeavesTheMachineRunningAndSaysEachThingOnce() {
        Cli.Result r = Cli.run("run", "--backend", "emulator", "--mem", "16M", "--kernel", TestGuests.path("multiboot_nonsense.elf").toString());
        assertEquals("alive\n", r.out(), r.err());
        assertEquals((0x21 << 1) | 1, r.status(), r.err());
        List<String> lines = r.err().lines().toList();
        assertTrue(lines.size() <= 3, "one line per kind of message jkvm drops, not one per message:\n" + r.err());
        assertEquals(lines.size(), lines.stream().distinct().count(), r.err());
        assertTrue(lines.stream().allMatch(l -> l.startsWith("jkvm: ") && l.contains("which jkvm does not deliver")), r.err());
    }
}

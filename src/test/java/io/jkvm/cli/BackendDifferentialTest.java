package io.jkvm.cli;

import io.jkvm.kvm.Kvm;
import io.jkvm.machine.GuestMemory;
import io.jkvm.testing.Cli;
import io.jkvm.testing.EmuVm;
import io.jkvm.testing.HostKvm;
import io.jkvm.testing.Idt;
import io.jkvm.testing.LongModeVm;
import io.jkvm.testing.RequiresKvm;
import io.jkvm.testing.TestGuests;
import io.jkvm.x86.Registers;
import io.jkvm.x86.ResetState;
import io.jkvm.x86.VcpuExit;
import io.jkvm.x86.VirtualCpu;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.function.BiConsumer;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Every test guest in src/test/guests, and the bundled one, on KVM and on the software core with identical results:
 * `jkvm run`'s serial output, exit status and error line; for the guests a test drives itself (a count in RDI, a
 * host patch, an IDT gate, an endless loop), their port writes and final registers. A guest that cannot run on
 * this host's KVM is not a case here: {@link #everyGuestRunsHereOrIsCoveredByTheTestNamed} names the test that
 * covers it and why, and a guest listed nowhere fails that test.
 */
class BackendDifferentialTest {

    /** The guests' sources, by name without ".S". */
    static Stream<String> everyTestGuest() throws IOException {
        Path dir = Path.of(System.getProperty("jkvm.project.dir", "."), "src", "test", "guests");
        try (Stream<Path> files = Files.list(dir)) {
            List<String> names = files.map(p -> p.getFileName().toString()).filter(n -> n.endsWith(".S"))
                    .map(n -> n.substring(0, n.length() - 2)).sorted().toList();
            assertFalse(names.isEmpty(), "no guests under " + dir);
            return names.stream();
        }
    }

    /** Why a guest is not run on both backends on this host, and the test that covers it instead; null: it is run. */
    static String notOnBothHere(String guest) {
        return switch (guest) {
            case "xgetbv" -> HostKvm.isPvm() ? "kvm_pvm cannot run XGETBV at CPL0 (HostKvm): BackendDifferentialTest runs it on the core" : null;
            case "apx", "apx_state", "sort_apx" -> hostKvmHasApx() ? null
                    : "needs --cpu host,+apx, which this host's KVM lacks: ApxGuestTest runs it on the software core";
            case "popcnt_mmio" -> "made to stop KVM (POPCNT on MMIO is an emulation failure on every KVM): RunCommandTest";
            case "apx_encodings" -> "not a runnable guest (apx.inc's macros on published encodings): AsmTest";
            case "cpuid_report" -> "prints the CPU model, which differs by design: the software core keeps only what it"
                    + " implements (CoreCpuidTest)";
            case "multiboot_smp", "multiboot_timers" -> HostKvm.isPvm()
                    ? "a 32-bit kernel with application processors, which kvm_pvm does not run: KernelBootTest,"
                    + " PlatformStateTest and LiveMigrationTest run it on the core (ApStartupTest: INIT and STARTUP on KVM)"
                    : "a kernel booted with the PC platform, compared through its status and output in KernelBootTest";
            case "multiboot_high_ram" -> "a kernel with 4 GiB of RAM, a PC's layout with RAM above 4 GiB: HighRamTest runs it on"
                    + " the core and checks KVM's two memory slots at the ioctl level";
            case "multiboot_acpi", "multiboot_reset", "multiboot_nonsense" -> HostKvm.isPvm()
                    ? "a 32-bit kernel, which kvm_pvm does not run: KernelBootTest runs it on the core"
                    : "a kernel booted with the PC platform, compared through its status and output in KernelBootTest";
            case "modes_compat_events" -> HostKvm.isPvm()
                    ? "kvm_pvm ends INT from compatibility mode at CPL0 in an internal error: LegacyModesTest runs it on the core"
                    : null;
            case "modes_boot", "modes_protected", "modes_segments", "modes_call_gates", "modes_return" -> HostKvm.isPvm()
                    ? "kvm_pvm runs no 16- or 32-bit kernel (real mode hangs at INT through the IVT, protected mode ends IRET"
                    + " at CPL0 in an internal error): LegacyModesTest runs it on the core"
                    : null;
            case "modes_la57" -> HostKvm.isPvm()
                    ? "kvm_pvm runs no 16- or 32-bit kernel, and 5-level paging needs a model with LA57: FiveLevelPagingTest runs it"
                    + " on the core"
                    : null;
            default -> null;
        };
    }

    static Stream<String> guestsBothBackendsRunHere() throws IOException {
        return everyTestGuest().filter(g -> notOnBothHere(g) == null);
    }

    @Test
    @RequiresKvm
    void everyGuestRunsHereOrIsCoveredByTheTestNamed() throws IOException {
        List<String> elsewhere = everyTestGuest().filter(g -> notOnBothHere(g) != null).toList();
        for (String g : elsewhere) {
            System.out.println("BackendDifferentialTest: " + g + " not on both backends here: " + notOnBothHere(g));
            java.util.regex.Matcher test = java.util.regex.Pattern.compile("([A-Z][A-Za-z0-9]+Test)").matcher(notOnBothHere(g));
            assertTrue(test.find(), g + ": the reason names the test that covers it");
            assertTrue(Files.exists(Path.of(System.getProperty("jkvm.project.dir", "."), "src", "test", "java", "io", "jkvm"))
                    && findTestSource(test.group(1)), g + ": " + test.group(1) + " exists");
        }
    }

    private static boolean findTestSource(String className) throws IOException {
        try (Stream<Path> files = Files.walk(Path.of(System.getProperty("jkvm.project.dir", "."), "src", "test", "java"))) {
            return files.anyMatch(p -> p.getFileName().toString().equals(className + ".java"));
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("guestsBothBackendsRunHere")
    @RequiresKvm
    void bothBackendsAgree(String guest) throws IOException {
        Comparison comparison = comparisonOf(guest);
        if (comparison == null) {
            fail(guest + ".S is not listed here: say how it runs on both backends, or why it cannot");
        }
        comparison.run();
    }

    /** One guest run on both backends and compared. */
    private interface Comparison {
        void run() throws IOException;
    }

    /** How {@code guest} runs on both backends and what is compared; null for a guest no host runs on both. */
    private static Comparison comparisonOf(String guest) {
        return switch (guest) {
            case "echo", "irq_echo" -> () -> agreeThroughTheCli(guest + ".elf", "Same on both\n");
            case "exit42", "halt", "sort_legacy", "triple_fault", "entropy" -> () -> agreeThroughTheCli(guest + ".elf", "");
            case "hello_flat" -> () -> agreeThroughTheCli("hello_flat.bin", "");
            case "handoff_checksum" -> () -> agreeThroughTheCli("handoff_checksum.elf", "g");
            case "xgetbv" -> () -> agreeThroughTheCli("xgetbv.elf", "");
            case "apx", "apx_state", "sort_apx" -> () -> agreeThroughTheCli(guest + ".elf", "", "--cpu", "host,+apx");
            case "mips_loop" -> () -> agreeWhenDriven(guest, 1000, 10, (out, memory) -> { });
            case "mips_mixed" -> () -> agreeWhenDriven(guest, 3, 10, (out, memory) -> { });
            case "pio_loop" -> () -> agreeWhenDriven(guest, 0, 200, (out, memory) -> { }); // OUT forever: 200 of them
            case "self_modifying" -> () -> agreeWhenDriven(guest, 0, 10, (out, memory) -> {
                if (out.port() == 0x80) {
                    memory.writeInt(LongModeVm.CODE + 0x801, 99); // the host's patch, as DecodedCodeTest makes it
                }
            });
            case "fault_in_block", "block_forms", "decoded_forms" -> () -> agreeWhenDriven(guest, 0, 10, (out, memory) -> { });
            case "modes_compat", "modes_compat_events", "modes_return" -> () -> agreeWhenDriven(guest, 0, 10, (out, memory) -> { });
            case "modes_boot", "modes_protected", "modes_segments", "modes_call_gates", "modes_la57" ->
                    () -> agreeFromTheStartupVector(guest);
            default -> null;
        };
    }

    /**
     * The guests no host runs on both backends (the reasons {@link #notOnBothHere} gives for them hold on any host):
     * every other guest has a comparison.
     */
    private static final Set<String> NEVER_ON_BOTH = Set.of("popcnt_mmio", "apx_encodings",
            "cpuid_report", "multiboot_smp", "multiboot_timers", "multiboot_high_ram", "multiboot_acpi", "multiboot_reset",
            "multiboot_nonsense");

    /** On any host, KVM or not: a guest added to src/test/guests without a comparison or a reason fails here. */
    @Test
    void everyGuestHasAComparisonOrIsOneNoHostRunsOnBoth() throws IOException {
        for (String guest : everyTestGuest().toList()) {
            boolean compared = comparisonOf(guest) != null;
            assertTrue(compared != NEVER_ON_BOTH.contains(guest), guest + (compared
                    ? ": has a comparison but is listed as run on both by no host"
                    : ".S has no comparison: say in comparisonOf how it runs on both backends, or in notOnBothHere why it cannot"));
        }
        for (String guest : NEVER_ON_BOTH) {
            assertTrue(Files.exists(Path.of(System.getProperty("jkvm.project.dir", "."), "src", "test", "guests", guest + ".S")),
                    guest + " is listed but has no source");
        }
    }

    /** xgetbv.elf on the core with XSAVE in the model (this host's KVM table may lack it): XCR0 as the entry set it. */
    @Test
    void xgetbvReadsTheEntryXcr0OnTheCore() {
        Cli.Result r = Cli.run("run", "--backend", "emulator", "--cpu", "host,+xsave", "--image",
                TestGuests.path("xgetbv.elf").toString());
        assertEquals(1, r.status(), r.err());
        assertEquals("XCR0 = 3\r\n", r.out(), "x87 | SSE, per the entry contract");
    }

    @Test
    @RequiresKvm
    void theBundledGuestAgrees() {
        agreeThroughTheCli("", "");
    }

    private static void agreeThroughTheCli(String image, String input, String... extra) {
        Cli.Result kvm = run("kvm", image, input, extra);
        Cli.Result emulator = run("emulator", image, input, extra);
        String name = image.isEmpty() ? "the bundled guest" : image;
        assertEquals(kvm.out(), emulator.out(), "serial output of " + name);
        assertEquals(kvm.status(), emulator.status(), "exit status of " + name);
        assertEquals(kvm.err(), emulator.err(), "error line of " + name + " (a triple fault names the same RIP and bytes)");
    }

    private static Cli.Result run(String backend, String image, String input, String... extra) {
        List<String> args = new ArrayList<>(List.of("run", "--backend", backend));
        if (!image.isEmpty()) {
            args.addAll(List.of("--image", TestGuests.path(image).toString()));
        }
        args.addAll(List.of(extra));
        return Cli.runWithInput(input, args.toArray(String[]::new));
    }

    /**
     * The flat binary on a KVM vCPU and on a core vCPU, RDI = {@code rdi}, up to {@code maxExits} exits (the last
     * a HLT where the guest ends): the port writes and the general registers and RIP after them are the same.
     * fault_in_block's #PF handler is installed as DecodedCodeTest does.
     */
    private static void agreeWhenDriven(String guest, long rdi, int maxExits, BiConsumer<VcpuExit.Io, GuestMemory> onOut)
            throws IOException {
        byte[] code = Files.readAllBytes(TestGuests.path(guest + ".bin"));
        List<String> kvm;
        List<String> core;
        try (LongModeVm vm = new LongModeVm(code)) {
            kvm = drive(guest, vm.vcpu, vm.memory, rdi, maxExits, onOut);
        }
        try (EmuVm vm = new EmuVm(code)) {
            core = drive(guest, vm.vcpu, vm.memory, rdi, maxExits, onOut);
        }
        assertEquals(kvm, core, guest + ": port writes, then the registers");
    }

    /** A guest linked at 0x8000 from the state a STARTUP IPI of vector 8 leaves (LegacyModesTest's), on both backends. */
    private static void agreeFromTheStartupVector(String guest) throws IOException {
        byte[] code = Files.readAllBytes(TestGuests.path(guest + ".bin"));
        List<String> kvm;
        List<String> core;
        try (LongModeVm vm = new LongModeVm(new byte[]{(byte) 0xF4})) {
            vm.memory.write(0x8000, code, 0, code.length);
            vm.vcpu.setSpecialRegisters(ResetState.startup(ResetState.APIC_BASE_BSP, 8));
            vm.vcpu.setRegisters(ResetState.startupRegisters(vm.cpuid));
            kvm = drive(guest, vm.vcpu, vm.memory, 0, 20, (out, memory) -> { });
        }
        try (EmuVm vm = new EmuVm(new byte[]{(byte) 0xF4})) {
            vm.memory.write(0x8000, code, 0, code.length);
            vm.vcpu.setSpecialRegisters(ResetState.startup(ResetState.APIC_BASE_BSP, 8));
            vm.vcpu.setRegisters(ResetState.startupRegisters(vm.model.cpuid()));
            core = drive(guest, vm.vcpu, vm.memory, 0, 20, (out, memory) -> { });
        }
        assertEquals(kvm, core, guest + ": port writes, then the registers");
    }

    private static List<String> drive(String guest, VirtualCpu vcpu, GuestMemory memory, long rdi, int maxExits,
                                      BiConsumer<VcpuExit.Io, GuestMemory> onOut) {
        if (guest.equals("fault_in_block")) {
            long idt = 0x104000;
            Idt.writeGate(memory, idt, 14, LongModeVm.CODE + 0x100);
            Idt.load(vcpu, idt, 32 * 16 - 1);
        }
        vcpu.setRegisters(vcpu.registers().withGpr(7, rdi));
        List<String> seen = new ArrayList<>();
        for (int i = 0; i < maxExits; i++) {
            VcpuExit exit = vcpu.run();
            if (exit instanceof VcpuExit.Io io && io.out()) {
                seen.add(String.format("out 0x%x, 0x%x", io.port(), io.data().get(0)));
                onOut.accept(io, memory);
            } else {
                seen.add(exit.getClass().getSimpleName());
                if (!(exit instanceof VcpuExit.Io)) {
                    break; // HLT, or a failure that ends the guest
                }
            }
        }
        Registers r = vcpu.registers();
        for (int n = 0; n < 16; n++) {
            seen.add(String.format("r%d = 0x%x", n, r.gpr(n)));
        }
        seen.add(String.format("rip = 0x%x", r.rip()));
        return seen;
    }

    private static boolean hostKvmHasApx() {
        try (Kvm kvm = Kvm.open()) {
            return kvm.supportedCpuid().hasApx();
        }
    }
}

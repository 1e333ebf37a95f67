package io.jkvm.machine;

import io.jkvm.devices.IoApic;
import io.jkvm.devices.LocalApic;
import io.jkvm.snapshot.MachineState;
import io.jkvm.snapshot.SnapshotFile;
import io.jkvm.testing.HostKvm;
import io.jkvm.testing.TestGuests;
import io.jkvm.x86.Activity;
import io.jkvm.x86.VcpuState;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import java.util.stream.IntStream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A machine booted with --kernel carries its PC platform through snapshots and handoffs: the local APICs (their
 * periodic timers running), the I/O APIC's routing, the PIT, the CMOS memory, fw_cfg and the test device go into the
 * snapshot by device id, application processors still waiting for their STARTUP IPI come back waiting, and the guest
 * (src/test/guests/multiboot_timers.S, which checks its devices before it ends) ends as a run that did not stop.
 */
class PlatformStateTest {
    private static final int CPUS = 3;
    private static final String EXPECTED = "timers\n" + IntStream.rangeClosed(1, 8).mapToObj(n -> "tick " + n + "\n")
            .collect(Collectors.joining());

    @TempDir
    Path dir;

    /** The kernel on the software core with three vCPUs and the test device, running on a thread of its own. */
    private static final class Running implements AutoCloseable {
        final ByteArrayOutputStream out = new ByteArrayOutputStream();
        final ByteArrayOutputStream err = new ByteArrayOutputStream();
        final Machine machine;
        final CompletableFuture<Outcome> outcome;

        Running(long handOffEvery) {
            MachineConfig config = new MachineConfig(Optional.empty(), 16L << 20, CPUS, "core", Backend.EMULATOR,
                    MachineConfig.defaults().loadAddress(), MachineConfig.defaults().kvmPath(), false,
                    Optional.of(new KernelConfig(TestGuests.path("multiboot_timers.elf"), "", Optional.empty(), true)));
            machine = Machine.create(config, console(out, err));
            machine.handOffEvery(handOffEvery);
            outcome = CompletableFuture.supplyAsync(machine::run, r -> Thread.ofPlatform().start(r));
        }

        String output() {
            return out.toString(StandardCharsets.UTF_8);
        }

        /**
         * The run's outcome within 90 s, else a failure naming what the guest printed and the handoffs done (join alone
         * ignores the @Timeout's interrupt, so a guest that never ends would hold the whole test run).
         */
        Outcome awaitOutcome() {
            try {
                return outcome.get(90, TimeUnit.SECONDS);
            } catch (java.util.concurrent.TimeoutException e) {
                return org.junit.jupiter.api.Assertions.fail("the kernel did not end in 90 s after " + machine.handoffs().size()
                        + " handoffs; it printed:\n" + output() + err);
            } catch (InterruptedException | java.util.concurrent.ExecutionException e) {
                throw new IllegalStateException(e);
            }
        }

        void awaitOutput(String text) throws InterruptedException {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            while (!output().contains(text)) {
                assertTrue(System.nanoTime() < deadline, "the guest never printed '" + text + "'; it printed:\n" + output());
                Thread.sleep(2);
            }
        }

        @Override
        public void close() {
            machine.stop();
            outcome.join();
            machine.close();
        }
    }

    private static Console console(ByteArrayOutputStream out, ByteArrayOutputStream err) {
        return new Console(out, new ByteArrayInputStream(new byte[0]), new PrintStream(err, true, StandardCharsets.UTF_8));
    }

    private record Taken(Path file, MachineState state, String before, Outcome original, String originalOut) {
    }

    /** Pauses the kernel at "tick 2" (its APs not yet started), snapshots it, and lets it run to its end. */
    private Taken snapshotAtTick2(String name) throws InterruptedException {
        Path file = dir.resolve(name);
        try (Running r = new Running(0)) {
            r.awaitOutput("tick 2\n");
            assertTrue(r.machine.pause());
            MachineState state;
            String before;
            try {
                r.machine.snapshot(file);
                state = r.machine.capture();
                before = r.output();
            } finally {
                r.machine.resume();
            }
            Outcome o = r.awaitOutcome();
            return new Taken(file, state, before, o, r.output());
        }
    }

    @Test
    @Timeout(120)
    void aKernelSnapshottedMidRunResumesWithItsDevicesAndEndsAsTheRunWithout() throws Exception {
        Taken t = snapshotAtTick2("kernel.snap");
        assertEquals(EXPECTED, t.originalOut());
        assertEquals(new Outcome.Exited((CPUS << 1) | 1, "debug-exit"), t.original(), "every processor started");
        assertEquals(List.of("com1", "pic", "lapic0", "lapic1", "lapic2", "ioapic", "pit", "rtc", "i8042", "fw_cfg", "acpi-pm", "pc-testdev"),
                List.copyOf(t.state().devices().keySet()));
        assertEquals(List.of(Activity.WAIT_FOR_SIPI, Activity.WAIT_FOR_SIPI),
                t.state().vcpus().subList(1, CPUS).stream().map(VcpuState::activity).toList(), "the APs wait for their STARTUP IPI");
        LocalApic.State bsp = (LocalApic.State) t.state().devices().get("lapic0");
        assertEquals(0x20031, bsp.lvt()[0], "the BSP's timer: periodic, vector 0x31");
        assertTrue(bsp.timerElapsedNanos() >= 0, "its timer runs");
        IoApic.State ioapic = (IoApic.State) t.state().devices().get("ioapic");
        assertEquals(0x30, ioapic.entries()[2] & 0x1FFFF, "pin 2 (the PIT) to vector 0x30, unmasked, edge");

        io.jkvm.testing.Cli.Result check = io.jkvm.testing.Cli.run("snapshot", "check", t.file().toString());
        assertEquals(0, check.status(), check.err());
        assertTrue(check.out().contains("on KVM here:       no: ") && check.out().contains("--backend auto:    the software core"),
                check.out()); // kvm_pvm runs no kernel code, and KVM starts no application processors

        ByteArrayOutputStream out = new ByteArrayOutputStream(), err = new ByteArrayOutputStream();
        try (Machine restored = Machine.restore(t.file(), HostKvm.autoOrCore(), "/dev/kvm", false, console(out, err))) {
            assertEquals(Backend.EMULATOR, restored.backend(), "a kernel with application processors runs on the core");
            Outcome o = restored.run();
            assertEquals(t.original(), o, () -> "the restored kernel's checks: " + out.toString(StandardCharsets.UTF_8));
        }
        assertEquals(EXPECTED, t.before() + out.toString(StandardCharsets.UTF_8), "the output goes on where the snapshot was taken");
        assertFalse(err.toString(StandardCharsets.UTF_8).contains("Exception"), err.toString(StandardCharsets.UTF_8));
    }

    @Test
    @Timeout(120)
    void aSnapshotWithoutARecordOfItsPlatformOrWithAStrayOneIsRefusedInOneLine() throws Exception {
        Taken t = snapshotAtTick2("whole.snap");
        LinkedHashMap<String, Record> devices = new LinkedHashMap<>(t.state().devices());
        devices.remove("lapic2");
        MachineException e = assertThrows(MachineException.class, () -> restoreWith(t, devices, "no-lapic.snap"));
        assertTrue(e.getMessage().contains("has no state for device 'lapic2'"), e.getMessage());

        devices.put("lapic2", t.state().devices().get("lapic1"));
        devices.put("lapic3", t.state().devices().get("lapic1"));
        e = assertThrows(MachineException.class, () -> restoreWith(t, devices, "stray.snap"));
        assertTrue(e.getMessage().contains("state for device 'lapic3', which a machine of 3 vCPUs with a kernel's PC platform"),
                e.getMessage());

        LinkedHashMap<String, Record> badPit = new LinkedHashMap<>(t.state().devices());
        badPit.put("pit", new io.jkvm.devices.Pit8254.State(List.of(), 0));
        e = assertThrows(MachineException.class, () -> restoreWith(t, badPit, "bad-pit.snap"));
        assertTrue(e.getMessage().contains("PIT: the record has 0 counters, not 3"), e.getMessage());
    }

    /** Writes {@code t}'s state with {@code devices} over its memory and restores it (closing what it built). */
    private void restoreWith(Taken t, java.util.SequencedMap<String, Record> devices, String name) {
        MachineState s = t.state();
        Path file = dir.resolve(name);
        try (Machine donor = Machine.restore(t.file(), Backend.EMULATOR, "/dev/kvm", false, console(new ByteArrayOutputStream(),
                new ByteArrayOutputStream()))) {
            SnapshotFile.write(file, new MachineState(s.cpu(), s.memorySize(), s.vcpus(), devices, s.tscKhz()), donor.memory());
        }
        Machine.restore(file, Backend.EMULATOR, "/dev/kvm", false, console(new ByteArrayOutputStream(), new ByteArrayOutputStream()))
                .close();
    }

    /**
     * Handoffs at every other port exit of the boot processor: each remakes every vCPU (on the software core, the only
     * backend here that starts application processors) and connects it to its APIC afresh; the kernel ends as one
     * that never moved.
     */
    @Test
    @Timeout(120)
    void aKernelHandedOffAgainAndAgainEndsAsOneThatNeverMoved() {
        try (Running r = new Running(2)) {
            Outcome o = r.awaitOutcome();
            assertEquals(new Outcome.Exited((CPUS << 1) | 1, "debug-exit"), o, r.output() + r.err);
            assertEquals(EXPECTED, r.output());
            List<Machine.Handoff> handoffs = r.machine.handoffs();
            assertTrue(handoffs.size() >= 5, "handoffs: " + handoffs.size());
            assertTrue(handoffs.stream().allMatch(h -> h.to() == Backend.EMULATOR), handoffs.toString());
        }
    }
}

package io.jkvm.machine;

import io.jkvm.emu.EmulatedVcpu;
import io.jkvm.kvm.KvmVcpu;
import io.jkvm.testing.Cli;
import io.jkvm.testing.EmuVm;
import io.jkvm.testing.LongModeVm;
import io.jkvm.testing.RequiresKvm;
import io.jkvm.testing.TestGuests;
import io.jkvm.x86.Activity;
import io.jkvm.x86.CpuFeature;
import io.jkvm.x86.Msrs;
import io.jkvm.x86.VcpuExit;
import io.jkvm.x86.VcpuState;
import io.jkvm.x86.XsaveArea;
import io.jkvm.x86.XsaveLayout;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Backend handoff: handoff_checksum.S runs a long computation on KVM and on the software core with moves between
 * them (after port exits, at arbitrary instants, while it sits in HLT) and ends exactly as a run without moves:
 * the same serial output, exit status and final state; after each move the state record compares bit for bit.
 */
@RequiresKvm
class HandoffTest {
    private static final String GUEST = "handoff_checksum.elf";
    private static Run kvmBaseline;
    private static Run coreBaseline;

    /** A finished run: the outcome, the serial output, stderr, the final state of vCPU 0, and the moves made. */
    record Run(Outcome outcome, String out, String err, VcpuState last, List<Machine.Handoff> handoffs) {
    }

    /** A machine running on a thread of its own, its serial input held back until {@link #sendInput()}. */
    static final class Running implements AutoCloseable {
        final Machine machine;
        final ByteArrayOutputStream out = new ByteArrayOutputStream();
        final ByteArrayOutputStream err = new ByteArrayOutputStream();
        final CountDownLatch input = new CountDownLatch(1);
        final CompletableFuture<Outcome> outcome;

        Running(Backend backend, String cpu, boolean inputNow, long handOffEvery) {
            if (inputNow) {
                input.countDown();
            }
            InputStream in = new InputStream() {
                private boolean sent;

                @Override
                public int read() {
                    if (sent) {
                        return -1;
                    }
                    try {
                        input.await();
                    } catch (InterruptedException e) {
                        return -1;
                    }
                    sent = true;
                    return 'g';
                }
            };
            MachineConfig d = MachineConfig.defaults();
            MachineConfig config = new MachineConfig(Optional.of(TestGuests.path(GUEST)), d.memorySize(), 1, cpu, backend,
                    d.loadAddress(), d.kvmPath(), false);
            machine = Machine.create(config, new Console(out, in, new PrintStream(err, true, StandardCharsets.UTF_8)));
            machine.handOffEvery(handOffEvery);
            outcome = CompletableFuture.supplyAsync(machine::run, r -> Thread.ofPlatform().start(r));
        }

        String output() {
            return out.toString(StandardCharsets.UTF_8);
        }

        void sendInput() {
            input.countDown();
        }

        void awaitOutput(String text) throws InterruptedException {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            while (!output().contains(text)) {
                assertTrue(System.nanoTime() < deadline, "the guest never printed '" + text + "'; it printed:\n" + output());
                Thread.sleep(5);
            }
        }

        Run finish() {
            Outcome o;
            try {
                o = outcome.get(100, TimeUnit.SECONDS);
            } catch (java.util.concurrent.TimeoutException e) {
                throw new AssertionError(stuck());
            } catch (InterruptedException | java.util.concurrent.ExecutionException e) {
                throw new AssertionError(e);
            }
            return new Run(o, output(), err.toString(StandardCharsets.UTF_8), machine.vcpus().get(0).saveState(),
                    machine.handoffs());
        }

        /**
         * What a guest that never ended was doing: vCPU 0's place and events, read after a pause (which makes KVM_RUN
         * return), so a fault loop after a move (which RIP) can be told from a vCPU that never comes out of the kernel.
         */
        String stuck() {
            StringBuilder threads = new StringBuilder(); // where the vCPU thread and run()'s thread wait, before the pause moves them
            Thread.getAllStackTraces().forEach((t, frames) -> {
                if (t.getName().startsWith("vcpu-") || java.util.Arrays.stream(frames).anyMatch(f -> f.getMethodName().equals("run")
                        && f.getClassName().equals(Machine.class.getName()))) {
                    threads.append("\n  thread ").append(t.getName()).append(' ').append(t.getState());
                    for (int i = 0; i < Math.min(12, frames.length); i++) {
                        threads.append("\n    at ").append(frames[i]);
                    }
                }
            });
            CompletableFuture<Boolean> pause = CompletableFuture.supplyAsync(machine::pause, r -> Thread.ofPlatform().start(r));
            String where;
            try {
                boolean paused = pause.get(10, TimeUnit.SECONDS);
                try {
                    VcpuState s = machine.vcpus().get(0).saveState();
                    where = String.format("paused %s; vCPU 0 on %s: RIP %x, RFLAGS %x, CS %x, CR0 %x, activity %s, events %s",
                            paused, machine.backend(), s.registers().rip(), s.registers().rflags(), s.specialRegisters().cs().selector(),
                            s.specialRegisters().cr0(), s.activity(), s.events());
                } finally {
                    if (paused) {
                        machine.resume(); // so close() can end it
                    }
                }
            } catch (Exception e) {
                where = "vCPU 0 did not answer a pause within 10 s (" + e + "): it never left KVM_RUN";
            }
            String message = "the guest did not end within 100 s after " + machine.handoffs().size() + " handoffs; " + where
                    + "; its threads:" + threads + "\n; its output: " + output();
            System.err.println("HandoffTest.Running: " + message); // in the log even if ending the machine hangs too
            return message;
        }

        @Override
        public void close() {
            sendInput();
            try {
                outcome.get(30, TimeUnit.SECONDS);
            } catch (java.util.concurrent.TimeoutException e) {
                machine.stop(); // a guest that still runs: end it rather than hold the suite
                outcome.join();
            } catch (InterruptedException | java.util.concurrent.ExecutionException e) {
                // its failure is the test's to report
            }
            machine.close();
        }
    }

    static Run runWithoutHandoffs(Backend backend) {
        try (Running r = new Running(backend, "core", true, 0)) {
            return r.finish();
        }
    }

    @BeforeAll
    static void baselines() {
        kvmBaseline = runWithoutHandoffs(Backend.KVM);
        coreBaseline = runWithoutHandoffs(Backend.EMULATOR);
    }

    /** The state without the TSC, a clock that reads differently every run. */
    static VcpuState withoutClock(VcpuState s) {
        LinkedHashMap<Integer, Long> msrs = new LinkedHashMap<>(s.msrs());
        msrs.remove(Msrs.IA32_TSC);
        return new VcpuState(s.cpuid(), s.registers(), s.specialRegisters(), s.xcr0(), s.xsave(), msrs, s.events(),
                s.debugRegisters(), s.activity());
    }

    static void assertSameRun(Run expected, Run actual) {
        assertEquals(expected.out(), actual.out(), "serial output");
        assertEquals(expected.outcome(), actual.outcome(), "how the guest ended");
        assertEquals(Optional.empty(), withoutClock(expected.last()).firstDifference(withoutClock(actual.last())),
                "final vCPU state");
        assertEquals("", actual.err(), "nothing on stderr");
    }

    /** Pauses, moves, and checks what the test can see itself: the record read before and after is the same. */
    static Machine.Handoff move(Machine m, Backend target) {
        assertTrue(m.pause(), "paused before the guest ended");
        try {
            VcpuState before = m.vcpus().get(0).saveState();
            Machine.Handoff h = m.switchBackend(target);
            VcpuState after = m.vcpus().get(0).saveState();
            assertEquals(Optional.empty(), before.firstDifference(after), "state record after the move to " + target);
            assertEquals(target, m.backend());
            Class<?> expected = target == Backend.KVM ? KvmVcpu.class : EmulatedVcpu.class;
            assertTrue(expected.isInstance(m.vcpus().get(0)), "vCPU 0 is a " + expected.getSimpleName());
            return h;
        } finally {
            m.resume();
        }
    }

    @Test
    void withoutHandoffsBothBackendsRunTheGuestAlike() {
        assertTrue(kvmBaseline.out().contains("x87/SSE state intact\r\n"), kvmBaseline.out());
        assertTrue(kvmBaseline.out().contains("round 24: "), kvmBaseline.out());
        assertInstanceOf(Outcome.Exited.class, kvmBaseline.outcome());
        assertSameRun(kvmBaseline, coreBaseline);
    }

    @ParameterizedTest
    @EnumSource(value = Backend.class, names = {"KVM", "EMULATOR"})
    // A hang fails the test instead of holding the suite: on its own thread, since the join it waits in is not interruptible
    @org.junit.jupiter.api.Timeout(value = 120, threadMode = org.junit.jupiter.api.Timeout.ThreadMode.SEPARATE_THREAD)
    void handoffsAfterPortExitsEndExactlyAsARunWithout(Backend start) {
        // 37 is odd: the guest's output alternates IN (LSR) and OUT (THR), so moves follow both kinds of exit.
        Run run;
        try (Running r = new Running(start, "core", true, 37)) {
            run = r.finish();
        }
        assertSameRun(kvmBaseline, run);
        assertTrue(run.handoffs().size() >= 20, "moves made: " + run.handoffs().size());
        Backend expectedFrom = start;
        for (Machine.Handoff h : run.handoffs()) {
            assertEquals(expectedFrom, h.from(), "moves alternate between the backends");
            expectedFrom = h.to();
        }
        System.out.printf("handoff after port exits, starting on %s: %d moves, median pause %d us, median move %d us%n",
                start, run.handoffs().size(), medianMicros(run.handoffs(), true), medianMicros(run.handoffs(), false));
    }

    private static long medianMicros(List<Machine.Handoff> hs, boolean pause) {
        List<Long> v = new ArrayList<>();
        for (Machine.Handoff h : hs) {
            v.add((pause ? h.pause() : h.move()).toNanos() / 1000);
        }
        v.sort(null);
        return v.get(v.size() / 2);
    }

    /**
     * Moves at instants of the test's clock, not of the guest's: the guest cannot end before its serial input,
     * which is sent only after the last move, so the number of moves does not depend on how fast the host runs
     * it. Where they land does: mid-computation here, in the HLT that waits for the input where KVM runs natively.
     */
    @Test
    void handoffsAtArbitraryInstantsEndExactlyAsARunWithout() throws InterruptedException {
        long[] sleepsMillis = {15, 3, 22, 8, 1, 30};
        Run run;
        try (Running r = new Running(Backend.KVM, "core", false, 0)) {
            Backend target = Backend.EMULATOR;
            for (long sleep : sleepsMillis) {
                Thread.sleep(sleep);
                assertTrue(r.machine.pause(), "the guest waits for its input, so it cannot have ended");
                VcpuState before = r.machine.vcpus().get(0).saveState();
                try {
                    r.machine.switchBackend(target);
                    assertEquals(Optional.empty(), before.firstDifference(r.machine.vcpus().get(0).saveState()));
                } finally {
                    r.machine.resume();
                }
                target = target == Backend.KVM ? Backend.EMULATOR : Backend.KVM;
            }
            r.sendInput();
            run = r.finish();
        }
        assertSameRun(kvmBaseline, run);
        assertEquals(sleepsMillis.length, run.handoffs().size(), "one move per instant");
    }

    @Test
    void handoffsWhileTheGuestSitsInHltKeepItInHltWithItsX87AndSseState() throws InterruptedException {
        Run run;
        try (Running r = new Running(Backend.KVM, "core", false, 0)) {
            r.awaitOutput("waiting for input\r\n");
            for (Backend target : List.of(Backend.EMULATOR, Backend.KVM, Backend.EMULATOR)) {
                VcpuState s = awaitHalted(r.machine);
                assertTrue(s.registers().interruptsEnabled(), "halted with interrupts on, waiting for the UART");
                assertEquals(Activity.HALTED, s.activity(), "in HLT on " + r.machine.backend());
                assertGuestFpuState(s.xsave());
                r.machine.resume();
                move(r.machine, target);
                VcpuState after = r.machine.vcpus().get(0).saveState();
                assertEquals(Activity.HALTED, after.activity(), "still in HLT on " + target);
                assertGuestFpuState(after.xsave());
                assertEquals(XsaveLayout.fromCpuid(after.cpuid()), after.xsave().layout(),
                        "the record's XSAVE components sit where the model's CPUID leaf 0xD puts them");
            }
            assertFalse(r.outcome.isDone(), "still waiting for input after three moves");
            r.sendInput();
            run = r.finish();
        }
        assertSameRun(kvmBaseline, run);
        assertEquals(3, run.handoffs().size());
    }

    /** Pauses until vCPU 0 is found stopped right after a HLT (the guest gets there a few thousand instructions after its line); resumes it. */
    static VcpuState awaitHalted(Machine m) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (true) {
            assertTrue(m.pause());
            VcpuState s = m.vcpus().get(0).saveState();
            if ((m.memory().readByte(s.registers().rip() - 1) & 0xFF) == 0xF4) {
                return s;
            }
            m.resume();
            assertTrue(System.nanoTime() < deadline, "the guest never stopped in HLT");
            Thread.sleep(10);
        }
    }

    /** What the guest's FXRSTOR loaded: FCW 0x027F, ST0 = 1.5 (valid), MXCSR 0x3F80, XMMn = pattern(n). */
    static void assertGuestFpuState(XsaveArea x) {
        assertEquals(0x027F, x.fcw(), "FCW");
        assertEquals(0x01, x.ftw(), "FTW: ST0 valid");
        assertEquals(0x3F80, x.mxcsr(), "MXCSR");
        byte[] st0 = x.st(0);
        assertEquals(0xC000000000000000L, java.nio.ByteBuffer.wrap(st0).order(java.nio.ByteOrder.LITTLE_ENDIAN).getLong(0), "ST0 significand");
        assertEquals(0x3FFF, java.nio.ByteBuffer.wrap(st0).order(java.nio.ByteOrder.LITTLE_ENDIAN).getShort(8), "ST0 exponent");
        for (int n = 0; n < 16; n++) {
            java.nio.ByteBuffer b = java.nio.ByteBuffer.wrap(x.xmm(n)).order(java.nio.ByteOrder.LITTLE_ENDIAN);
            assertEquals(0x0101010101010101L * (n + 1), b.getLong(0), "XMM" + n + " low");
            assertEquals(0xA5A5A5A500000000L + n, b.getLong(8), "XMM" + n + " high");
        }
        assertTrue(x.present(0) && x.present(1), "x87 and SSE out of their init state are marked in XSTATE_BV");
    }

    @Test
    void aHandoffToKvmWithAModelTheHostLacksIsRefusedAndTheVmRunsOnOnTheCore() throws InterruptedException {
        Run run;
        try (Running r = new Running(Backend.AUTO, "host,+apx", false, 0)) {
            assertEquals(Backend.EMULATOR, r.machine.backend());
            r.awaitOutput("waiting for input\r\n");
            MachineException e = assertThrows(MachineException.class, () -> r.machine.handOff(Backend.KVM));
            assertEquals("cannot hand the vCPUs to KVM: --cpu host,+apx needs xsave (" + CpuFeature.XSAVE.cpuidBit()
                    + "), apx (" + CpuFeature.APX.cpuidBit() + "), apx-nci-ndd-nf (" + CpuFeature.APX_NCI_NDD_NF.cpuidBit()
                    + "), which this host's KVM lacks; the VM stays on the software core",
                    e.getMessage());
            assertEquals(Backend.EMULATOR, r.machine.backend());
            assertInstanceOf(EmulatedVcpu.class, r.machine.vcpus().get(0));
            r.sendInput();
            run = r.finish();
        }
        assertEquals(kvmBaseline.out(), run.out(), "the guest ran on to the end on the core");
        assertEquals(kvmBaseline.outcome(), run.outcome());
        assertTrue(run.err().contains("running the vCPUs on the software core"), run.err());
        assertEquals(List.of(), run.handoffs());
    }

    @Test
    void aStateTheTargetCannotHoldFailsTheMoveNamingTheFieldAndTheVmStaysWhereItWas() throws InterruptedException {
        Run run;
        try (Running r = new Running(Backend.KVM, "core", false, 0)) {
            r.awaitOutput("waiting for input\r\n");
            Thread.sleep(20);
            assertTrue(r.machine.pause());
            KvmVcpu kvm = (KvmVcpu) r.machine.vcpus().get(0);
            kvm.interrupt(0x30); // queued for the next entry: the software core has no place for a pending interrupt
            MachineException e = assertThrows(MachineException.class, () -> r.machine.switchBackend(Backend.EMULATOR));
            assertEquals("handoff of vCPU 0 from KVM to the software core failed: the state read back differs at "
                    + "specialRegisters.interruptBitmap[0]: 0x1000000000000 vs 0x0; the VM stays on KVM", e.getMessage());
            assertEquals(Backend.KVM, r.machine.backend());
            assertEquals(kvm, r.machine.vcpus().get(0), "the same KVM vCPU runs on");
            assertTrue(kvm.events().interrupt().injected(), "the interrupt is still there to be delivered");
            r.machine.resume();
            r.sendInput(); // the guest's IDT takes vector 0x30 after HLT and only masks the UART: output is unchanged
            run = r.finish();
        }
        assertEquals(kvmBaseline.out(), run.out());
        assertEquals(kvmBaseline.outcome(), run.outcome());
        assertEquals(kvmBaseline.last().registers(), run.last().registers(), "the interrupt returned where it came in");
        assertEquals(List.of(), run.handoffs());
    }

    @Test
    void anInExitIsCompletedBeforeTheStateIsReadOnEitherBackend() {
        // in al, 0x71; out 0x80, al; hlt: the state is saved right after the IN exit was answered with 0x5A
        byte[] code = LongModeVm.hex("e4 71 e6 80 f4");
        try (LongModeVm kvm = new LongModeVm(code); EmuVm core = new EmuVm("host", code)) {
            VcpuExit.Io in = assertInstanceOf(VcpuExit.Io.class, kvm.vcpu.run());
            assertFalse(in.out());
            in.data().set(0, 0x5A);
            kvm.vcpu.requestExit();
            assertInstanceOf(VcpuExit.Interrupted.class, kvm.vcpu.run(), "KVM_RUN with immediate_exit: completes, then EINTR");
            VcpuState saved = kvm.vcpu.saveState();
            assertEquals(0x5A, saved.registers().rax() & 0xFF, "AL has the answer");
            assertEquals(LongModeVm.CODE + 2, saved.registers().rip(), "RIP past the IN");
            saved = withCpuid(saved, core.model.cpuid()); // each test VM asked KVM for its own table
            core.vcpu.restoreState(saved);
            assertEquals(Optional.empty(), saved.firstDifference(core.vcpu.saveState()));
            assertEquals(0x5A, core.nextOut(0x80), "the core goes on from the completed IN");

            VcpuExit.Io coreIn;
            try (EmuVm again = new EmuVm("host", code)) {
                coreIn = assertInstanceOf(VcpuExit.Io.class, again.vcpu.run());
                coreIn.data().set(0, 0xA5);
                again.vcpu.requestExit();
                assertInstanceOf(VcpuExit.Interrupted.class, again.vcpu.run());
                VcpuState fromCore = withCpuid(again.vcpu.saveState(), kvm.cpuid);
                assertEquals(0xA5, fromCore.registers().rax() & 0xFF);
                kvm.vcpu.clearExitRequest();
                kvm.vcpu.restoreState(fromCore);
                VcpuExit.Io out = assertInstanceOf(VcpuExit.Io.class, kvm.vcpu.run());
                assertEquals(0x80, out.port());
                assertEquals(0xA5, out.data().get(0), "KVM goes on from the core's completed IN");
            }
        }
    }

    /** The state with another CPUID table: leaf 0xB's x2APIC ID in KVM's supported table is the answering host CPU's. */
    private static VcpuState withCpuid(VcpuState s, io.jkvm.x86.CpuidTable cpuid) {
        return new VcpuState(cpuid, s.registers(), s.specialRegisters(), s.xcr0(), s.xsave(), s.msrs(), s.events(),
                s.debugRegisters(), s.activity());
    }

    @Test
    void theCliHandsOffEveryNPortExitsWithTheSameOutput() {
        String image = TestGuests.path(GUEST).toString();
        Cli.Result plain = Cli.runWithInput("g", "run", "--image", image, "--backend", "kvm");
        Cli.Result moved = Cli.runWithInput("g", "run", "--image", image, "--backend", "kvm", "--cpu", "core", "--handoff-every", "41",
                "--trace");
        assertEquals(plain.out(), moved.out());
        assertEquals(plain.status(), moved.status());
        long lines = moved.err().lines().filter(l -> l.matches(
                "jkvm: handoff \\d+: (KVM to the software core|the software core to KVM), paused in \\d+ us, moved in \\d+ us")).count();
        assertEquals(moved.err().lines().count(), lines, "only handoff lines on stderr:\n" + moved.err());
        assertTrue(lines >= 20, "handoffs: " + lines);
        Cli.Result remade = Cli.runWithInput("g", "run", "--image", image, "--cpu", "host,+apx", "--handoff-every", "41", "--trace");
        assertEquals(plain.out(), remade.out(), "a model KVM cannot run is remade on the core each time, and runs on");
        long coreToCore = remade.err().lines().filter(l -> l.matches(
                "jkvm: handoff \\d+: the software core to the software core, paused in \\d+ us, moved in \\d+ us")).count();
        assertTrue(coreToCore >= 20, remade.err());
        assertEquals(coreToCore + 2, remade.err().lines().count(),
                "the auto-backend line, the CPUID bits the core dropped, then only handoff lines:\n" + remade.err());
    }

    @Test
    void misuseIsRefusedWithOneLine() throws InterruptedException {
        try (Running r = new Running(Backend.KVM, "core", false, 0)) {
            r.awaitOutput("waiting for input\r\n");
            assertEquals("cannot resume: the machine is not paused",
                    assertThrows(MachineException.class, r.machine::resume).getMessage());
            assertEquals("cannot switch backends: pause the machine first",
                    assertThrows(MachineException.class, () -> r.machine.switchBackend(Backend.EMULATOR)).getMessage());
            assertEquals("a handoff goes to kvm or emulator, not auto",
                    assertThrows(MachineException.class, () -> r.machine.handOff(Backend.AUTO)).getMessage());
            assertEquals("the vCPUs already run on KVM",
                    assertThrows(MachineException.class, () -> r.machine.handOff(Backend.KVM)).getMessage());
            assertEquals("--handoff-every -1 must be 0 (never) or more",
                    assertThrows(MachineException.class, () -> r.machine.handOffEvery(-1)).getMessage());
        }
        try (Running r = new Running(Backend.KVM, "host", false, 0)) {
            r.awaitOutput("waiting for input\r\n");
            String why = assertThrows(MachineException.class, () -> r.machine.handOff(Backend.EMULATOR)).getMessage();
            assertTrue(why.startsWith("cannot hand the vCPUs to the software core: --cpu host has ")
                    && why.endsWith(", which the core does not implement; the VM stays on KVM (a VM made with --cpu core runs on both)"),
                    "the guest may already use what the core lacks: " + why);
            assertEquals(Backend.KVM, r.machine.backend());
            r.sendInput();
            assertInstanceOf(Outcome.Exited.class, r.outcome.join(), "and it runs on to its end on KVM");
        }
        MachineConfig d = MachineConfig.defaults();
        try (Machine idle = Machine.create(new MachineConfig(Optional.of(TestGuests.path(GUEST)), d.memorySize(), 1, "host",
                Backend.KVM, d.loadAddress(), d.kvmPath(), false), new Console(new ByteArrayOutputStream(), null, System.err))) {
            assertEquals("cannot pause: the machine is not running (call run() first)",
                    assertThrows(MachineException.class, idle::pause).getMessage());
        }
    }
}

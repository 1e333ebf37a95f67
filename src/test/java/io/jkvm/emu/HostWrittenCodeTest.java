package io.jkvm.emu;

import io.jkvm.machine.LongModeBoot;
import io.jkvm.testing.EmuVm;
import io.jkvm.x86.VcpuExit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.util.HexFormat;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A vCPU alone over its RAM checks the code it decoded against memory at a serializing instruction only when the
 * machine wrote RAM since (its count of host writes moved): code a device wrote while the vCPU ran is run as written
 * after the vCPU serializes, and a run of serializing instructions with nothing written begins no epoch each; so does
 * a run after an exit. Another vCPU over the RAM counts once it has run, unless it has slept in HLT since the last
 * epoch or, awake, it stored over no decoded code and has given up its direct stores to every page that got some:
 * code it stores is run as stored after the first vCPU serializes.
 */
class HostWrittenCodeTest {
    private static final long DATA = 0x300000;

    // At 0x00: 1: call 0x1000; mov [rbx+0x40], eax; inc qword [rbx+0x10]; cmp qword [rbx+8], 1; jne 1b;
    // mov rsi, rbx; xor eax, eax; cpuid; call 0x1000; mov [rsi+0x48], eax; hlt. At 0x1000: mov eax, 1; ret.
    private static final String RUNNER = "e8fb0f0000894340" + "48ff431048837b080175ed" + "4889de31c00fa2e8e10f0000894648f4";
    private static final byte[] RUNNER_AND_TARGET = HexFormat.of().parseHex(
            RUNNER + "00".repeat(0x1000 - RUNNER.length() / 2) + "b801000000c3");

    // mov ecx, 1000; 1: push rcx; xor eax, eax; cpuid; pop rcx; dec ecx; jnz 1b; hlt
    private static final byte[] CPUID_LOOP = HexFormat.of().parseHex("b9e8030000" + "5131c00fa259ffc975f6" + "f4");

    @Test
    @Timeout(60)
    void codeTheMachineWroteWhileTheVcpuRanRunsAsWrittenAfterItSerializes() throws Exception {
        try (EmuVm vm = new EmuVm(RUNNER_AND_TARGET)) {
            vm.vcpu.watchHostWrites(vm.memory::hostWrites);
            vm.vcpu.setRegisters(LongModeBoot.registers(EmuVm.CODE, vm.memory.size()).withGpr(3, DATA));
            ExecutorService thread = Executors.newSingleThreadExecutor();
            try {
                Future<VcpuExit> exit = thread.submit(vm.vcpu::run);
                while (vm.memory.readLong(DATA + 0x10) < 1000) {
                    Thread.onSpinWait(); // the old MOV EAX, 1 ran a thousand times: decoded, cached
                }
                vm.memory.writeByte(EmuVm.CODE + 0x1001, (byte) 2); // as a device's DMA: counted
                vm.memory.mapping().putLong(DATA + 8, 1); // the flag as a vCPU's store would set it: not counted
                assertInstanceOf(VcpuExit.Hlt.class, exit.get());
            } finally {
                thread.shutdownNow();
            }
            assertEquals(2, vm.memory.readInt(DATA + 0x48), "the MOV EAX, 2 the machine wrote, after CPUID");
        }
    }

    /**
     * The epochs a vCPU began running the thousand CPUIDs; {@code others} more vCPUs made over its RAM first, and run
     * ({@code othersRun}: from the RESET state, where no RAM is, to their first fetch's exit) or not.
     */
    private static long epochsOfCpuidLoop(boolean watched, int others, boolean othersRun) {
        try (EmuVm vm = new EmuVm(CPUID_LOOP)) {
            for (int k = 1; k <= others; k++) {
                EmulatedVcpu other = new EmulatedVcpu(k, vm.memory.mapping(), vm.model);
                if (othersRun) {
                    assertInstanceOf(VcpuExit.CannotEmulate.class, other.run());
                }
            }
            if (watched) {
                vm.vcpu.watchHostWrites(vm.memory::hostWrites);
            }
            long before = vm.vcpu.epochs();
            assertInstanceOf(VcpuExit.Hlt.class, vm.vcpu.run());
            return vm.vcpu.epochs() - before;
        }
    }

    // mov ecx, 1000; 1: out 0x80, al; dec ecx; jnz 1b; hlt: a thousand exits, each a run of its own
    private static final byte[] OUT_LOOP = HexFormat.of().parseHex("b9e8030000" + "e680" + "ffc9" + "75fa" + "f4");

    /** The epochs a vCPU began over the thousand runs of the OUT loop. */
    private static long epochsOfOutLoop(boolean watched) {
        try (EmuVm vm = new EmuVm(OUT_LOOP)) {
            if (watched) {
                vm.vcpu.watchHostWrites(vm.memory::hostWrites);
            }
            long before = vm.vcpu.epochs();
            int runs = 0;
            VcpuExit exit;
            while ((exit = vm.vcpu.run()) instanceof VcpuExit.Io) {
                runs++;
            }
            assertInstanceOf(VcpuExit.Hlt.class, exit);
            assertEquals(1000, runs, "an exit at each OUT");
            return vm.vcpu.epochs() - before;
        }
    }

    @Test
    void runsAfterExitsBeginNoEpochWhenTheMachineWroteNothing() {
        assertTrue(epochsOfOutLoop(true) <= 2, "with no host write: at most the first run's");
        assertTrue(epochsOfOutLoop(false) >= 1000, "with no count of host writes: one a run");
    }

    // At 0x00: 1: call 0x1000; out 0x80, al; jmp 1b. At 0x1000: mov eax, 1; ret.
    private static final byte[] CALL_OUT = HexFormat.of().parseHex(
            "e8fb0f0000" + "e680" + "ebf7" + "00".repeat(0x1000 - 9) + "b801000000c3");

    @Test
    void codeTheMachineWroteBetweenRunsRunsAsWritten() {
        try (EmuVm vm = new EmuVm(CALL_OUT)) {
            vm.vcpu.watchHostWrites(vm.memory::hostWrites);
            for (int i = 0; i < 100; i++) { // decoded and cached
                VcpuExit.Io out = assertInstanceOf(VcpuExit.Io.class, vm.vcpu.run());
                assertEquals(1, out.data().get(0) & 0xFF);
            }
            vm.memory.writeByte(EmuVm.CODE + 0x1001, (byte) 2); // mov eax, 2: the machine's write, counted
            VcpuExit.Io out = assertInstanceOf(VcpuExit.Io.class, vm.vcpu.run());
            assertEquals(2, out.data().get(0) & 0xFF, "the MOV EAX, 2 the machine wrote while the vCPU was out");
        }
    }

    @Test
    void serializingInstructionsBeginNoEpochWhenNothingElseCouldHaveWrittenCode() {
        assertTrue(epochsOfCpuidLoop(true, 0, false) <= 2, "alone, with no host write: the run's own epoch, no more");
        assertTrue(epochsOfCpuidLoop(false, 0, false) >= 1000, "with no count of host writes: one a CPUID");
        if (Execution.fromProperty() == Execution.INTERPRETER) {
            assertTrue(epochsOfCpuidLoop(true, 1, true) <= 2, "with another vCPU that ran over the RAM, but no block "
                    + "decoded (the interpreter compares the bytes it runs each time): none, as alone");
        } else {
            assertTrue(epochsOfCpuidLoop(true, 1, true) >= 1000, "with another vCPU that ran over the RAM and has not "
                    + "given up its direct stores to the page that got code since (it runs no more): one a CPUID");
        }
        assertTrue(epochsOfCpuidLoop(true, 1, false) <= 2, "with another vCPU made but never run (as one waiting for "
                + "its STARTUP IPI): none, as alone");
    }

    /** The CPUID loop at 0x00, and STI; HLT at 0x800 for another vCPU. */
    private static final byte[] CPUID_LOOP_AND_SLEEPER = HexFormat.of().parseHex(
            HexFormat.of().formatHex(CPUID_LOOP) + "00".repeat(0x800 - CPUID_LOOP.length) + "fbf4");

    /** The epochs the CPUID loop begins with another vCPU asleep in HLT, and after that one woke. */
    @Test
    @Timeout(value = 60, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
    void serializingInstructionsBeginNoEpochWhileTheOtherVcpusSleepInHlt() throws Exception {
        try (EmuVm vm = new EmuVm(CPUID_LOOP_AND_SLEEPER)) {
            vm.vcpu.watchHostWrites(vm.memory::hostWrites);
            EmulatedVcpu other = secondVcpu(vm, EmuVm.CODE + 0x800, 0);
            other.connectInterrupts(() -> 0x20);
            ExecutorService thread = Executors.newSingleThreadExecutor();
            try {
                Future<VcpuExit> exit = thread.submit(other::run);
                while (!other.halted()) {
                    assertTrue(!exit.isDone(), () -> "the other vCPU did not wait in HLT: " + exit.resultNow());
                    Thread.onSpinWait(); // it runs STI and HLT, then waits for INTR
                }
                long before = vm.vcpu.epochs();
                assertInstanceOf(VcpuExit.Hlt.class, vm.vcpu.run());
                assertTrue(vm.vcpu.epochs() - before <= 2, "the other asleep all along: the run's own epoch, no more");
                other.requestExit(); // it wakes, and may store until it sleeps again
                assertInstanceOf(VcpuExit.Interrupted.class, exit.get());
            } finally {
                thread.shutdownNow();
            }
            vm.vcpu.setRegisters(LongModeBoot.registers(EmuVm.CODE, vm.memory.size()));
            long before = vm.vcpu.epochs();
            assertInstanceOf(VcpuExit.Hlt.class, vm.vcpu.run());
            assertTrue(vm.vcpu.epochs() - before <= 2, "the other awake since it woke, but it stored over no code and "
                    + "gave up its direct stores as it woke: the first check's epoch, no more");
        }
    }

    /** Ends the vCPUs' runs and their threads before their RAM goes, whatever the test found. */
    private static void stop(ExecutorService threads, EmulatedVcpu... vcpus) throws InterruptedException {
        for (EmulatedVcpu v : vcpus) {
            v.requestExit();
        }
        threads.shutdown();
        assertTrue(threads.awaitTermination(30, java.util.concurrent.TimeUnit.SECONDS), "the vCPU threads ended");
    }

    /** A guest image of code at offsets: pairs of an offset (ascending) and the hex of the bytes there, zeros between. */
    private static byte[] image(Object... offsetsAndHex) {
        StringBuilder hex = new StringBuilder();
        for (int k = 0; k < offsetsAndHex.length; k += 2) {
            hex.append("00".repeat((Integer) offsetsAndHex[k] - hex.length() / 2)).append(offsetsAndHex[k + 1]);
        }
        return HexFormat.of().parseHex(hex);
    }

    /** A second vCPU over {@code vm}'s RAM, in 64-bit mode at {@code rip} with RBX at DATA and RDI as given. */
    private static EmulatedVcpu secondVcpu(EmuVm vm, long rip, long rdi) {
        EmulatedVcpu other = new EmulatedVcpu(1, vm.memory.mapping(), vm.model);
        boolean xsave = vm.model.cpuid().hasXsave();
        other.setSpecialRegisters(LongModeBoot.specialRegisters(other.specialRegisters(), xsave));
        if (xsave) {
            other.setXcr0(LongModeBoot.xcr0());
        }
        other.setRegisters(LongModeBoot.registers(rip, vm.memory.size()).withGpr(3, DATA).withGpr(7, rdi));
        return other;
    }

    /**
     * At 0x2000, for another vCPU: mov byte [rdi+0x7f], 0 (twice); mov qword [rbx+0x18], 1; 1: cmp qword [rbx+0x10],
     * 1000; jb 1b; mov dword [rdi], 2; mov qword [rbx+8], 1; hlt. Its stores to the target's page while that has no
     * code leave it a direct page there (the first sets the dirty bit); once the runner has called its MOV EAX, 1 a
     * thousand times, it makes it MOV EAX, 2 and sets the flag.
     */
    private static final String CODE_STORER = "c6477f00" + "c6477f00" + "48c7431801000000" + "48817b10e803000072f6"
            + "c70702000000" + "48c7430801000000" + "f4";

    // At 0x00: mov rsi, rbx; 1: call 0x1000; mov [rsi+0x40], eax; inc qword [rsi+0x10]; xor eax, eax; cpuid;
    // cmp qword [rsi+8], 1; jne 1b; xor eax, eax; cpuid; call 0x1000; mov [rsi+0x48], eax; hlt. At 0x1000: mov eax, 1;
    // ret. A CPUID each round: the vCPU has checked for others' stores just before the other's store comes.
    private static final String SERIALIZING_RUNNER = "4889de" + "e8f80f0000" + "894640" + "48ff4610" + "31c00fa2"
            + "48837e0801" + "75e9" + "31c00fa2" + "e8dd0f0000" + "894648" + "f4";

    @Test
    @Timeout(value = 60, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
    void codeAnotherVcpuStoredWhileTheVcpuRanRunsAsStoredAfterItSerializes() throws Exception {
        try (EmuVm vm = new EmuVm(image(0, SERIALIZING_RUNNER, 0x1000, "b801000000c3", 0x2000, CODE_STORER))) {
            vm.vcpu.watchHostWrites(vm.memory::hostWrites);
            vm.vcpu.setRegisters(LongModeBoot.registers(EmuVm.CODE, vm.memory.size()).withGpr(3, DATA));
            EmulatedVcpu other = secondVcpu(vm, EmuVm.CODE + 0x2000, EmuVm.CODE + 0x1001);
            ExecutorService threads = Executors.newFixedThreadPool(2);
            try {
                Future<VcpuExit> storer = threads.submit(other::run);
                while (vm.memory.readLong(DATA + 0x18) != 1) {
                    assertTrue(!storer.isDone(), () -> "the other vCPU stopped: " + storer.resultNow());
                    Thread.onSpinWait(); // it stored to the target's page, which has no code yet
                }
                Future<VcpuExit> runner = threads.submit(vm.vcpu::run);
                assertInstanceOf(VcpuExit.Hlt.class, storer.get());
                assertInstanceOf(VcpuExit.Hlt.class, runner.get());
            } finally {
                stop(threads, other, vm.vcpu);
            }
            assertEquals(2, vm.memory.readInt(DATA + 0x48), "the MOV EAX, 2 the other vCPU stored, after CPUID");
        }
    }

    // mov rsi, [DATA+0x20]; add rsi, 100000; mov ecx, 1000; 1: push rcx; xor eax, eax; cpuid; pop rcx; dec ecx;
    // jg 1b; cmp [DATA+0x20], rsi; jb 1b; mov qword [DATA+8], 1; hlt: a thousand CPUIDs at least, and on until the
    // other vCPU stored a hundred thousand times more
    private static final String CPUID_LOOP_THEN_FLAG = "488b342520003000" + "4881c6a0860100" + "b9e8030000"
            + "5131c00fa259ffc97ff6" + "483934252000300072ec" + "48c704250800300001000000" + "f4";
    // At 0x2000, for another vCPU: 1: inc qword [rbx+0x20]; cmp qword [rbx+8], 1; jne 1b; hlt: stores to data
    private static final String DATA_STORER = "48ff4320" + "48837b0801" + "75f5" + "f4";

    @Test
    @Timeout(value = 60, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
    void serializingInstructionsBeginNoEpochWhileTheOtherVcpuStoresOnlyOutsideCode() throws Exception {
        try (EmuVm vm = new EmuVm(image(0, CPUID_LOOP_THEN_FLAG, 0x100, "f4", 0x2000, DATA_STORER))) {
            vm.vcpu.watchHostWrites(vm.memory::hostWrites);
            vm.vcpu.setRegisters(LongModeBoot.registers(EmuVm.CODE + 0x100, vm.memory.size()));
            assertInstanceOf(VcpuExit.Hlt.class, vm.vcpu.run()); // the loop's page has code from now on
            vm.vcpu.setRegisters(LongModeBoot.registers(EmuVm.CODE, vm.memory.size()));
            EmulatedVcpu other = secondVcpu(vm, EmuVm.CODE + 0x2000, 0);
            ExecutorService thread = Executors.newSingleThreadExecutor();
            try {
                Future<VcpuExit> storer = thread.submit(other::run);
                while (vm.memory.readLong(DATA + 0x20) < 1_000_000) {
                    assertTrue(!storer.isDone(), () -> "the other vCPU stopped: " + storer.resultNow());
                    Thread.onSpinWait(); // it runs its store loop, compiled by now (its thread compiles at first)
                }
                long before = vm.vcpu.epochs();
                assertInstanceOf(VcpuExit.Hlt.class, vm.vcpu.run());
                long epochs = vm.vcpu.epochs() - before;
                assertInstanceOf(VcpuExit.Hlt.class, storer.get());
                assertTrue(epochs <= 2, "the other awake and storing, but over no code, and it gave up its direct "
                        + "stores to the pages that got code: the first check's epoch, none a CPUID; began " + epochs);
            } finally {
                stop(thread, other);
            }
        }
    }
}

package io.jkvm.emu;

import io.jkvm.machine.LongModeBoot;
import io.jkvm.testing.EmuVm;
import io.jkvm.x86.VcpuExit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;

/**
 * Guest memory shared by vCPUs of the software core on their own host threads behaves as x86-TSO: four vCPUs
 * sharing a ticket spinlock and a CMPXCHG counter lose no update, and the litmus tests give only the outcomes TSO
 * allows (message passing: a reader that sees the flag sees the data; store buffering with MFENCE: never both
 * loads 0; without it the reordering TSO allows does show, and is counted). The guests are assembled from src/test/asm/smp_litmus.s (llvm-mc), their bytes inline here.
 */
class SmpMemoryTest {
    private static final long DATA = 0x300000;
    /** ticket at 0x00, counter at 0x1f: RBX = DATA, RCX = iterations. */
    private static final String LOCKS = "b801000000f00fc1033943047404f390ebf748ff4308ff430448ffc975e2f4"
            + "488b4310488d5001f0480fb1531075f448ffc975ebf4";
    /**
     * mp_writer 0x00, mp_reader 0x36, sb_a 0x71, sb_b 0xab, sb_a_fenced 0xe5, sb_b_fenced 0x122: per iteration i a
     * barrier at [DATA] (each vCPU adds 1 and waits for 2(i+1)), x at DATA+64+16i, y 8 above it, results at +0x80000.
     */
    private static final String LITMUS = "31f6f048ff03488d4436024839037304f390ebf74889f748c1e70448c7443b400100000048c7443b480100000048ffc64839ce72cdf4"
            + "31f6f048ff03488d4436024839037304f390ebf74889f748c1e704488b443b484885c074f6488b543b404889943b0000080048ffc64839ce72c8f4"
            + "31f6f048ff03488d4436024839037304f390ebf74889f748c1e70448c7443b4001000000488b443b484889843b0000080048ffc64839ce72c9f4"
            + "31f6f048ff03488d4436024839037304f390ebf74889f748c1e70448c7443b4801000000488b443b404889843b0800080048ffc64839ce72c9f4"
            + "31f6f048ff03488d4436024839037304f390ebf74889f748c1e70448c7443b40010000000faef0488b443b484889843b0000080048ffc64839ce72c6f4"
            + "31f6f048ff03488d4436024839037304f390ebf74889f748c1e70448c7443b48010000000faef0488b443b404889843b0800080048ffc64839ce72c6f4";

    /** patcher at 0x00, runner at 0x1a, the target the patcher changes at 0x1000 (another page): RBX = DATA. */
    private static final String CROSS_MODIFYING_CODE = "48817b10e803000072f6c605f00f00000248c7430801000000f4e8e10f000089434048ff43"
            + "1048837b080175ed4889de31c00fa2e8c70f0000894648f4";
    private static final String CROSS_MODIFYING = CROSS_MODIFYING_CODE + "00".repeat(0x1000 - CROSS_MODIFYING_CODE.length() / 2)
            + "b801000000c3";

    /** Runs vCPU k from {@code code} at {@code offsets[k]}, RBX = DATA, RCX = iterations, all at once; every one must end in HLT. */
    private static EmuVm run(String code, int iterations, int... offsets) throws Exception {
        EmuVm vm = new EmuVm(HexFormat.of().parseHex(code));
        List<EmulatedVcpu> vcpus = new ArrayList<>(List.of(vm.vcpu));
        for (int k = 1; k < offsets.length; k++) {
            EmulatedVcpu v = new EmulatedVcpu(k, vm.memory.mapping(), vm.model);
            v.setSpecialRegisters(vm.vcpu.specialRegisters());
            vcpus.add(v);
        }
        for (EmulatedVcpu v : vcpus) { // as the machine makes them: a serializing instruction looks for another's stores
            v.watchHostWrites(vm.memory::hostWrites); // to code once that one has run, not at each one
        }
        for (int k = 0; k < offsets.length; k++) { // each its own stack, below the top of RAM
            vcpus.get(k).setRegisters(LongModeBoot.registers(EmuVm.CODE + offsets[k], vm.memory.size() - 0x10000L * k)
                    .withGpr(3, DATA).withGpr(1, iterations));
        }
        CyclicBarrier start = new CyclicBarrier(offsets.length);
        ExecutorService threads = Executors.newFixedThreadPool(offsets.length);
        try {
            List<Future<VcpuExit>> exits = new ArrayList<>();
            for (EmulatedVcpu v : vcpus) {
                exits.add(threads.submit(() -> {
                    start.await();
                    return v.run();
                }));
            }
            for (Future<VcpuExit> e : exits) {
                VcpuExit exit = e.get();
                assertInstanceOf(VcpuExit.Hlt.class, exit, () -> "a vCPU ended with " + exit);
            }
        } finally {
            threads.shutdownNow();
        }
        return vm;
    }

    @Test
    @Timeout(180)
    void fourVcpusShareATicketSpinlockAndACmpxchgCounterWithoutLosingAnUpdate() throws Exception {
        int n = 1_500;
        try (EmuVm vm = run(LOCKS, n, 0x00, 0x00, 0x00, 0x00)) {
            assertEquals(4L * n, vm.memory.readLong(DATA + 8), "plain increments under the ticket lock");
            assertEquals(4 * n, vm.memory.readInt(DATA), "tickets taken");
            assertEquals(4 * n, vm.memory.readInt(DATA + 4), "tickets served: the lock is free");
        }
        try (EmuVm vm = run(LOCKS, n, 0x1f, 0x1f, 0x1f, 0x1f)) {
            assertEquals(4L * n, vm.memory.readLong(DATA + 16), "CMPXCHG increments");
        }
    }

    /**
     * Cross-modifying code: one vCPU patches an instruction another has run a thousand times (decoded, cached), then
     * raises a flag; the other, seeing it, serializes (CPUID) as the SDM asks and runs the patched instruction.
     */
    @Test
    @Timeout(60)
    void codeAnotherVcpuPatchedRunsAsPatchedAfterASerializingInstruction() throws Exception {
        try (EmuVm vm = run(CROSS_MODIFYING, 0, 0x00, 0x1a)) {
            assertEquals(2, vm.memory.readInt(DATA + 0x48), "the patched MOV EAX, 2");
            assertEquals(true, vm.memory.readLong(DATA + 16) >= 1000, "the old one ran, decoded, first");
        }
    }

    @Test
    @Timeout(180)
    void messagePassingReaderThatSeesTheFlagSeesTheData() throws Exception {
        int n = 20_000;
        try (EmuVm vm = run(LITMUS, n, 0x00, 0x36)) {
            for (int i = 0; i < n; i++) {
                assertEquals(1, vm.memory.readLong(DATA + 0x80000 + 16L * i), "iteration " + i + ": y = 1 seen, then x = 0: not TSO");
            }
        }
    }

    @Test
    @Timeout(180)
    void storeBufferingWithMfenceNeverLetsBothLoadsSeeZero() throws Exception {
        int n = 20_000;
        try (EmuVm vm = run(LITMUS, n, 0xe5, 0x122)) {
            for (int i = 0; i < n; i++) {
                long r1 = vm.memory.readLong(DATA + 0x80000 + 16L * i), r2 = vm.memory.readLong(DATA + 0x80008 + 16L * i);
                assertEquals(1, r1 | r2, "iteration " + i + ": both loads 0 after MFENCE: not TSO");
            }
        }
        try (EmuVm vm = run(LITMUS, n, 0x71, 0xab)) { // without it TSO allows both 0; every outcome is one of the four
            int both = 0;
            for (int i = 0; i < n; i++) {
                long r1 = vm.memory.readLong(DATA + 0x80000 + 16L * i), r2 = vm.memory.readLong(DATA + 0x80008 + 16L * i);
                assertEquals(0, (r1 | r2) & ~1L, "iteration " + i + ": loads read 0 or 1");
                both += (r1 | r2) == 0 ? 1 : 0;
            }
            System.out.println("store buffering without MFENCE: both loads 0 in " + both + " of " + n + " iterations (TSO allows it)");
        }
    }
}

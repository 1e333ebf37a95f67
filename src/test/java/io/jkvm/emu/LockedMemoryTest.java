package io.jkvm.emu;

import io.jkvm.machine.LongModeBoot;
import io.jkvm.testing.EmuVm;
import io.jkvm.x86.VcpuExit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import static io.jkvm.emu.ExceptionsTest.hex;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * LOCK on the software core: two vCPUs on two host threads hammer the same guest memory with locked
 * read-modify-writes (and spinlocks built on them, released by plain stores) and no update is lost, as on a real
 * SMP machine; LOCK where the SDM allows none is #UD.
 */
class LockedMemoryTest {
    private static final long DATA = 0x300000;
    private static final int N = 30_000;
    /** Each loop runs RCX times with RBX at DATA, then HLT (GNU as, Intel syntax, as commented). */
    private static final String CODE = ""
            + "f0 48 83 03 01 48 ff c9 75 f6 f4" // 0x00: lock add qword [rbx], 1
            + "f0 ff 43 08 48 ff c9 75 f7 f4" // 0x0b: lock inc dword [rbx+8]
            + "b8 01 00 00 00 66 f0 0f c1 43 12 48 ff c9 75 f0 f4" // 0x15: mov eax, 1; lock xadd word [rbx+0x12], ax
            // 0x26: a spinlock at [rbx+0x18] taken by lock cmpxchg and released by a plain mov; inside, a plain inc of [rbx+0x20]
            + "31 c0 ba 01 00 00 00 f0 0f b1 53 18 75 11 48 ff 43 20 c7 43 18 00 00 00 00 48 ff c9 75 e2 f4 f3 90 31 c0 eb e2"
            // 0x4b: the same with XCHG (locked without a prefix) at [rbx+0x28], a plain inc of [rbx+0x30] inside
            + "b8 01 00 00 00 87 43 28 85 c0 75 f9 48 ff 43 30 c7 43 28 00 00 00 00 48 ff c9 75 e4 f4"
            + "f0 83 43 3e 01 48 ff c9 75 f6 f4" // 0x68: lock add dword [rbx+0x3e], 1: across an 8-byte boundary
            + "f0 48 0f bb 53 48 48 ff c2 83 e2 3f 48 ff c9 75 ef f4" // 0x73: lock btc qword [rbx+0x48], rdx; rdx = (rdx + 1) & 63
            + "f0 48 83 43 3c 01 48 ff c9 75 f5 f4" // 0x85: lock add qword [rbx+0x3c], 1: across a word boundary (split)
            + "f0 83 43 3c 01 48 ff c9 75 f6 f4" // 0x91: lock add dword [rbx+0x3c], 1: the same low bytes, in one word
            // 0x9c: RCX turns of dec rcx; jnz, then a split lock add dword [rbx+0x3e], 1 and mov dword [rbx+0x50], 1
            + "48 ff c9 75 fb f0 83 43 3e 01 c7 43 50 01 00 00 00 f4"
            + "83 7b 50 00 74 fa f4" // 0xae: cmp dword [rbx+0x50], 0; je back: spins until the flag is set
            // 0xb5: lock add qword [rbx], 1; inc rcx; cmp qword [rbx+0x58], 0; je back: adds until the flag is set
            + "f0 48 83 03 01 48 ff c1 48 83 7b 58 00 74 f1 f4"
            // 0xc5: RCX turns of lock add qword [rbx], 1, then mov qword [rbx+0x58], 1
            + "f0 48 83 03 01 48 ff c9 75 f6 48 c7 43 58 01 00 00 00 f4"
            // 0xd8: mov rdi, rbx; mov r8, rcx; 1: mov rax, [rdi+0x60]; mov rdx, [rdi+0x68]; 2: lea rbx, [rax+1];
            // lea rcx, [rdx+1]; lock cmpxchg16b [rdi+0x60]; jne 2b; dec r8; jnz 1b: R8 increments of the pair's halves
            + "48 89 df 49 89 c8 48 8b 47 60 48 8b 57 68 48 8d 58 01 48 8d 4a 01 f0 48 0f c7 4f 60 75 f0 49 ff c8 75 e3 f4"
            + "f0 48 83 43 60 01 48 ff c9 75 f5 f4"; // 0xfc: lock add qword [rbx+0x60], 1: the pair's low half

    /** Runs the loop at {@code offset} on two vCPUs at once, {@code iterations} times each. */
    private static EmuVm race(int offset, int iterations) throws Exception {
        return race(offset, offset, iterations);
    }

    /** The loops at {@code first} and {@code second}, one on each of two vCPUs at once. */
    private static EmuVm race(int first, int second, int iterations) throws Exception {
        EmuVm vm = new EmuVm(hex(CODE));
        EmulatedVcpu other = new EmulatedVcpu(1, vm.memory.mapping(), vm.model);
        other.setSpecialRegisters(vm.vcpu.specialRegisters());
        EmulatedVcpu[] both = {vm.vcpu, other};
        int[] offsets = {first, second};
        for (int i = 0; i < 2; i++) {
            both[i].setRegisters(LongModeBoot.registers(EmuVm.CODE + offsets[i], vm.memory.size()).withGpr(3, DATA)
                    .withGpr(1, iterations));
        }
        CyclicBarrier start = new CyclicBarrier(2);
        ExecutorService threads = Executors.newFixedThreadPool(2);
        try {
            java.util.List<Future<VcpuExit>> exits = new java.util.ArrayList<>();
            for (EmulatedVcpu v : both) {
                exits.add(threads.submit(() -> {
                    start.await();
                    return v.run();
                }));
            }
            for (Future<VcpuExit> e : exits) {
                assertInstanceOf(VcpuExit.Hlt.class, e.get());
            }
        } finally {
            threads.shutdownNow();
        }
        return vm;
    }

    @ParameterizedTest(name = "loop at 0x{0}")
    @ValueSource(ints = {0x00, 0x0b, 0x15, 0x26, 0x4b, 0x68})
    @Timeout(120)
    void noLockedUpdateIsLost(int offset) throws Exception {
        try (EmuVm vm = race(offset, N)) {
            long counted = switch (offset) {
                case 0x00 -> vm.memory.readLong(DATA);
                case 0x0b -> vm.memory.readInt(DATA + 8) & 0xFFFFFFFFL;
                case 0x15 -> vm.memory.readLong(DATA + 0x10) >>> 16 & 0xFFFF;
                case 0x26 -> vm.memory.readLong(DATA + 0x20);
                case 0x4b -> vm.memory.readLong(DATA + 0x30);
                default -> (vm.memory.readLong(DATA + 0x38) >>> 48) | (vm.memory.readLong(DATA + 0x40) & 0xFFFF) << 16;
            };
            assertEquals(2L * N, counted, "two vCPUs, " + N + " updates each");
            if (offset == 0x26 || offset == 0x4b) {
                assertEquals(0, vm.memory.readInt(DATA + (offset == 0x26 ? 0x18 : 0x28)), "the spinlock is free at the end");
            }
        }
    }

    @Test
    @Timeout(120)
    void aSplitLockedAddAndAOneWordLockedAddOnTheSameBytesLoseNothing() throws Exception {
        try (EmuVm vm = race(0x85, 0x91, N)) {
            long low = (vm.memory.readLong(DATA + 0x38) >>> 32) & 0xFFFFFFFFL; // bytes 0x3c-0x3f
            long high = vm.memory.readLong(DATA + 0x40) & 0xFFFFFFFFL; // bytes 0x40-0x43
            assertEquals(2L * N, low, "both vCPUs' adds landed on the shared dword");
            assertEquals(0, high, "and carried nothing into the split qword's high half");
            assertEquals(N, vm.vcpu.exclusiveRuns(), "each split add ran exclusive");
        }
    }

    /**
     * LOCK CMPXCHG16B increments of both halves of a 16-byte pair on one vCPU, LOCK ADDs to its low half on the other:
     * the host's CMPXCHG16B runs it (as QEMU's TCG does), atomic against the adds with no vCPU stopped; a Linux boot's
     * SLUB takes one at each slab freelist update, and stopping the other vCPU for each took a fifth of CPU 0's time
     * while CPU 1 unpacked the initramfs.
     */
    @Test
    @Timeout(120)
    void lockedCmpxchg16bIsAtomicAgainstLockedAddsWithNoVcpuStopped() throws Exception {
        assertTrue(io.jkvm.linux.HostCpu.hasCmpxchg16b(), "every x86-64 host with VMX or SVM has CMPXCHG16B");
        try (EmuVm vm = race(0xd8, 0xfc, N)) {
            assertEquals(2L * N, vm.memory.readLong(DATA + 0x60), "the low half: the pair's increments and the adds");
            assertEquals(N, vm.memory.readLong(DATA + 0x68), "the high half: the pair's increments alone");
            assertEquals(0, vm.vcpu.exclusiveRuns(), "no LOCK CMPXCHG16B stopped the other vCPU");
        }
    }

    @Test
    @Timeout(120)
    void lockedBitComplementsCancelOut() throws Exception {
        int iterations = 469 * 64; // each vCPU flips each of the 64 bits 469 times
        try (EmuVm vm = race(0x73, iterations)) {
            assertEquals(0, vm.memory.readLong(DATA + 0x48), "every bit flipped 2 x 469 times: none left set");
        }
    }

    /**
     * A split locked instruction waits for the other vCPUs to leave their locked instructions; here the other vCPU
     * spins in guest code without one, until a flag the split instruction's vCPU stores after it. Its run loop lets
     * the exclusive instruction in between two chains of blocks, or the two would wait for each other for ever.
     */
    @Test
    @Timeout(120)
    void aSplitLockedAddRunsWhileAnotherVcpuSpinsWaitingForIt() throws Exception {
        try (EmuVm vm = race(0x9c, 0xae, 200_000)) { // the spinner is running by the time the add comes
            assertEquals(1, vm.memory.readLong(DATA + 0x38) >>> 48 | (vm.memory.readLong(DATA + 0x40) & 0xFFFF) << 16,
                    "the split add landed");
            assertEquals(1, vm.memory.readInt(DATA + 0x50), "and the flag after it, which ended the spin");
        }
    }

    /**
     * A core alone over its RAM makes a one-word locked instruction a plain load and store; a second core made over it
     * while the first runs (as a handoff makes them) turns that off for the first too, before the second runs: no
     * update of either is lost. With the first left plain, the two cores' adds to one word race.
     */
    @Test
    @Timeout(120)
    void aCoreMadeWhileAnotherRunsMakesBothAtomic() throws Exception {
        int n = 3_000_000;
        try (EmuVm vm = new EmuVm(hex(CODE))) {
            // the first adds (and counts them in RCX) until the second has made its n adds
            vm.vcpu.setRegisters(LongModeBoot.registers(EmuVm.CODE + 0xb5, vm.memory.size()).withGpr(3, DATA));
            ExecutorService threads = Executors.newFixedThreadPool(2);
            try {
                Future<VcpuExit> first = threads.submit(vm.vcpu::run);
                while (vm.memory.readLong(DATA) < 1000 && !first.isDone()) {
                    Thread.onSpinWait(); // the first core runs, alone: plain adds
                }
                EmulatedVcpu second = new EmulatedVcpu(1, vm.memory.mapping(), vm.model);
                second.setSpecialRegisters(vm.vcpu.specialRegisters());
                second.setRegisters(LongModeBoot.registers(EmuVm.CODE + 0xc5, vm.memory.size()).withGpr(3, DATA)
                        .withGpr(1, n));
                Future<VcpuExit> other = threads.submit(second::run);
                assertInstanceOf(VcpuExit.Hlt.class, other.get());
                assertInstanceOf(VcpuExit.Hlt.class, first.get());
            } finally {
                threads.shutdownNow();
            }
            long firstAdds = vm.vcpu.registers().gpr(1);
            assertEquals(firstAdds + n, vm.memory.readLong(DATA), "the first core's " + firstAdds + " locked adds and the second's " + n);
        }
    }

    /** The vector {@code code} raises after MOV RBX, DATA, or -1 at its end. */
    private static long vectorOf(String code) {
        return ExceptionsTest.vectorRaised("48 c7 c3 00 00 30 00", code);
    }

    @Test
    void lockWhereNoneIsAllowedIsInvalidOpcode() {
        assertEquals(6, vectorOf("f0 01 d8"), "lock add eax, ebx: a register destination");
        assertEquals(6, vectorOf("f0 89 03"), "lock mov [rbx], eax: not a read-modify-write");
        assertEquals(6, vectorOf("f0 39 03"), "lock cmp [rbx], eax");
        assertEquals(6, vectorOf("f0 83 3b 01"), "lock cmp dword [rbx], 1 (83 /7)");
        assertEquals(6, vectorOf("f0 0f b6 03"), "lock movzx eax, byte [rbx]");
        assertEquals(6, vectorOf("f0 0f ba 23 05"), "lock bt dword [rbx], 5 (0F BA /4: BT only reads)");
        assertEquals(-1, vectorOf("f0 01 03 f0 0f ba 2b 05 f0 48 0f c7 0b"), "lock add [rbx], eax; lock bts dword [rbx], 5; lock cmpxchg16b [rbx]");
    }
}

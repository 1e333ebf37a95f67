package io.jkvm.emu;

import io.jkvm.testing.EmuVm;
import io.jkvm.x86.VcpuExit;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.function.LongUnaryOperator;

import static io.jkvm.emu.ExceptionsTest.hex;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * MMIO on the software core as on KVM: every access of an instruction reaches the device exactly once and in order,
 * however many reads the instruction makes (each read is an exit, and the instruction then restarts replaying what
 * it already did); REP string instructions reach a device one iteration per exit; a fetch from where there is no
 * RAM is an emulation failure, not a device read.
 */
class MmioAccessTest {
    private static final long MMIO = 0x10000000L;

    record Access(boolean write, long address, int size, long value) {
    }

    /** Runs to HLT, answering each MMIO read with {@code device(address)}; the accesses in the order they came. */
    private static List<Access> run(EmuVm vm, LongUnaryOperator device, int limit) {
        List<Access> seen = new ArrayList<>();
        for (int i = 0; i <= limit; i++) {
            VcpuExit exit = vm.vcpu.run();
            switch (exit) {
                case VcpuExit.Hlt h -> {
                    return seen;
                }
                case VcpuExit.Mmio m when m.write() -> seen.add(new Access(true, m.address(), m.length(), m.data().get(0)));
                case VcpuExit.Mmio m -> {
                    long v = device.applyAsLong(m.address());
                    m.data().set(0, v);
                    seen.add(new Access(false, m.address(), m.length(), v));
                }
                default -> fail("unexpected exit " + exit + " after " + seen);
            }
        }
        throw new AssertionError("no HLT after " + limit + " exits: " + seen.subList(0, Math.min(10, seen.size())));
    }

    private static List<Access> reads(long... addressAndSize) {
        List<Access> out = new ArrayList<>();
        for (int i = 0; i < addressAndSize.length; i += 2) {
            out.add(new Access(false, addressAndSize[i], (int) addressAndSize[i + 1], 0));
        }
        return out;
    }

    /** The accesses without their values, for comparing order and count. */
    private static List<Access> shape(List<Access> accesses) {
        return accesses.stream().map(a -> new Access(a.write(), a.address(), a.size(), a.write() ? a.value() : 0)).toList();
    }

    @Test
    void movdquReadsEachHalfOnceAndGetsBoth() {
        try (EmuVm vm = new EmuVm(hex("f3 0f 6f 04 25 00 00 00 10 f4"))) { // movdqu xmm0, [MMIO]
            List<Access> seen = run(vm, a -> a * 3, 10);
            assertEquals(reads(MMIO, 8, MMIO + 8, 8), shape(seen));
            byte[] xmm0 = vm.vcpu.saveState().xsave().xmm(0);
            assertEquals(MMIO * 3, java.nio.ByteBuffer.wrap(xmm0).order(java.nio.ByteOrder.LITTLE_ENDIAN).getLong(0));
            assertEquals((MMIO + 8) * 3, java.nio.ByteBuffer.wrap(xmm0).order(java.nio.ByteOrder.LITTLE_ENDIAN).getLong(8));
        }
    }

    @Test
    void loadsAndStoresInARowReachTheDeviceOnceEachInOrder() {
        // mov eax, [MMIO]; mov ebx, [MMIO + 8]; mov [MMIO + 16], eax; mov [MMIO + 16], ebx: one block; each load an exit
        // and a restart, each store its own exit; the second store, the same as the first but for its value, is not
        // taken for a replay of the first (each instruction's log is dropped once it retires)
        try (EmuVm vm = new EmuVm(hex("8b 04 25 00 00 00 10 8b 1c 25 08 00 00 10 89 04 25 10 00 00 10 89 1c 25 10 00 00 10 f4"))) {
            List<Access> seen = run(vm, a -> a * 3, 10);
            List<Access> expected = new ArrayList<>(reads(MMIO, 4, MMIO + 8, 4));
            expected.add(new Access(true, MMIO + 16, 4, MMIO * 3 & 0xFFFFFFFFL));
            expected.add(new Access(true, MMIO + 16, 4, (MMIO + 8) * 3 & 0xFFFFFFFFL));
            assertEquals(expected, shape(seen));
        }
    }

    @Test
    void repeCmpsbAlternatesTheTwoOperandsOncePerIteration() {
        // esi = MMIO, edi = MMIO + 0x1000, ecx = 4; repe cmpsb: the device gives the low byte of the address
        try (EmuVm vm = new EmuVm(hex("be 00 00 00 10 bf 00 10 00 10 b9 04 00 00 00 f3 a6 f4"))) {
            List<Access> seen = run(vm, a -> a & 0xFF, 40);
            List<Access> expected = new ArrayList<>();
            for (int i = 0; i < 4; i++) {
                expected.addAll(reads(MMIO + i, 1, MMIO + 0x1000 + i, 1));
            }
            assertEquals(expected, shape(seen));
            assertEquals(0, vm.vcpu.registers().rcx());
        }
    }

    @Test
    void iretqFromAStackInMmioPopsEachSlotOnce() {
        long[] frame = {EmuVm.CODE + 0x100, 0x08, 0x2, 0x300000, 0x10}; // RIP, CS, RFLAGS, RSP, SS
        try (EmuVm vm = new EmuVm(hex("bc 00 00 00 10 48 cf"))) { // mov esp, MMIO; iretq
            vm.memory.write(EmuVm.CODE + 0x100, new byte[]{(byte) 0xF4}, 0, 1);
            List<Access> seen = run(vm, a -> frame[(int) ((a - MMIO) / 8)], 20);
            assertEquals(reads(MMIO, 8, MMIO + 8, 8, MMIO + 16, 8, MMIO + 24, 8, MMIO + 32, 8), shape(seen));
            assertEquals(EmuVm.CODE + 0x101, vm.vcpu.registers().rip());
            assertEquals(0x300000, vm.vcpu.registers().rsp());
        }
    }

    @Test
    void fxrstorFromMmioReadsTheWholeImageOnceInOrder() {
        try (EmuVm vm = new EmuVm(hex("0f ae 0c 25 00 00 00 10 f4"))) { // fxrstor [MMIO]
            List<Access> seen = run(vm, a -> a == MMIO + 24 ? 0x1F80 : 0, 200);
            assertEquals(64, seen.size());
            for (int i = 0; i < 64; i++) {
                assertEquals(new Access(false, MMIO + 8L * i, 8, 0), shape(seen).get(i));
            }
        }
    }

    @Test
    void cmpxchg16bOnMmioReadsBothHalvesOnceThenStores() {
        // rax:rdx = 0 = the device's value, so the exchange stores rbx:rcx (0 here) back
        try (EmuVm vm = new EmuVm(hex("48 0f c7 0c 25 00 00 00 10 f4"))) {
            List<Access> seen = run(vm, a -> 0, 20);
            assertEquals(List.of(new Access(false, MMIO, 8, 0), new Access(false, MMIO + 8, 8, 0),
                    new Access(true, MMIO, 8, 0), new Access(true, MMIO + 8, 8, 0)), seen);
        }
    }

    @Test
    void aQwordReadAcrossTwoMmioPagesReadsEachByteOnce() {
        try (EmuVm vm = new EmuVm(hex("48 8b 04 25 fc 0f 00 10 f4"))) { // mov rax, [MMIO + 0xFFC]
            List<Access> seen = run(vm, a -> a & 0xFF, 20);
            List<Access> expected = new ArrayList<>();
            for (int i = 0; i < 8; i++) {
                expected.addAll(reads(MMIO + 0xFFC + i, 1));
            }
            assertEquals(expected, shape(seen));
            assertEquals(0x03020100FFFEFDFCL, vm.vcpu.registers().rax());
        }
    }

    @Test
    void repStosbToMmioIsOneExitPerIterationWithRcxCountingDown() {
        int n = 20000;
        try (EmuVm vm = new EmuVm(hex("bf 00 00 00 10 b9 20 4e 00 00 b0 5a f3 aa f4"))) { // edi = MMIO; ecx = n; al = 0x5A; rep stosb
            for (int i = 0; i < n; i++) {
                VcpuExit exit = vm.vcpu.run();
                VcpuExit.Mmio m = assertInstanceOf(VcpuExit.Mmio.class, exit);
                assertTrue(m.write() && m.address() == MMIO + i && m.data().get(0) == 0x5A, m.toString());
                assertEquals(n - i - 1, vm.vcpu.registers().rcx(), "the iteration is done when its store is seen");
            }
            assertInstanceOf(VcpuExit.Hlt.class, vm.vcpu.run());
        }
    }

    @Test
    void aJumpToWhereThereIsNoRamIsAnEmulationFailure() {
        try (EmuVm vm = new EmuVm(hex("b8 00 00 00 10 ff e0"))) { // mov eax, MMIO; jmp rax
            VcpuExit exit = vm.vcpu.run();
            VcpuExit.CannotEmulate c = assertInstanceOf(VcpuExit.CannotEmulate.class, exit);
            assertEquals("instruction fetch from guest-physical 0x10000000, where there is no RAM", c.reason());
            assertEquals(MMIO, vm.vcpu.registers().rip());
        }
    }
}

package io.jkvm.kvm;

import io.jkvm.linux.EventFd;
import io.jkvm.testing.Asm;
import io.jkvm.testing.LongModeVm;
import io.jkvm.testing.RequiresKvm;
import io.jkvm.x86.VcpuExit;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * KVM_IOEVENTFD and KVM_IRQFD on the real /dev/kvm: a guest's MMIO write that matches a registration signals its
 * eventfd in the kernel with no exit (one that does not match still exits), taking it back makes the write an exit
 * again; an irqfd's signal raises its GSI at the in-kernel I/O APIC and holds it, and taking it back lowers it.
 */
@RequiresKvm
class IoEventFdTest {
    private static final long NOTIFY = 0xD0000050L; // outside RAM: without a registration, an MMIO exit

    /** {@code mov dword [NOTIFY], 1; mov dword [NOTIFY], 0; out 0x80, al}. */
    private static byte[] twoWrites() {
        return new Asm().movImm64(0, NOTIFY).raw("c7 00").immediate(1, 4).raw("c7 00").immediate(0, 4).outAl(0x80).bytes();
    }

    @Test
    void aMatchingWriteSignalsTheEventfdWithNoExit() {
        try (LongModeVm g = new LongModeVm(twoWrites()); EventFd queue1 = EventFd.create("queue 1")) {
            g.vm.ioEventFd(NOTIFY, 4, 1, queue1, true);
            VcpuExit first = g.vcpu.run();
            VcpuExit.Mmio mmio = assertInstanceOf(VcpuExit.Mmio.class, first, "the write of 0 does not match: " + first);
            assertEquals(NOTIFY, mmio.address());
            assertEquals(0, mmio.data().get(0), "the write of 1 was taken in the kernel: the first exit is the second write");
            assertEquals(1, queue1.take(), "and signalled the eventfd once");
            assertInstanceOf(VcpuExit.Io.class, g.vcpu.run());
            assertEquals(0, queue1.take(), "taking the count reset it");

            g.vm.ioEventFd(NOTIFY, 4, 1, queue1, false);
            g.vcpu.setRegisters(io.jkvm.machine.LongModeBoot.registers(LongModeVm.CODE, g.memory.size()));
            VcpuExit again = g.vcpu.run();
            assertEquals(1, assertInstanceOf(VcpuExit.Mmio.class, again).data().get(0), "taken back: the write of 1 exits");
            assertEquals(0, queue1.take());
        }
    }

    @Test
    void anIrqfdHoldsItsGsiUntilTakenBack() throws InterruptedException {
        try (Kvm kvm = Kvm.open(); Vm vm = kvm.createVm(); EventFd raise = EventFd.create("raise");
             EventFd resample = EventFd.create("resample")) {
            vm.createIrqchip();
            vm.setGsiRouting(KernelIrqchip.pcRouting());
            vm.irqFd(raise, 17, resample, true);
            assertEquals(0, vm.ioapic().irr() & (1 << 17));
            raise.signal();
            long deadline = System.nanoTime() + 5_000_000_000L;
            while ((vm.ioapic().irr() & (1 << 17)) == 0 && System.nanoTime() < deadline) {
                Thread.sleep(1); // KVM injects from its own work queue
            }
            assertEquals(1 << 17, vm.ioapic().irr() & (1 << 17), "the signal raised pin 17 (masked: its request stays)");
            Thread.sleep(50);
            assertEquals(1 << 17, vm.ioapic().irr() & (1 << 17), "and holds it: a resampled irqfd is a level");
            assertEquals(0, resample.take(), "no EOI, no resample");
            vm.irqFd(raise, 17, null, false);
            assertTrue((vm.ioapic().irr() & (1 << 17)) == 0, "taken back, the line is low");
        }
    }
}

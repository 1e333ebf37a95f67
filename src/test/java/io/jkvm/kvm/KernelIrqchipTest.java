package io.jkvm.kvm;

import io.jkvm.testing.RequiresKvm;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The in-kernel irqchip's state through the real /dev/kvm: what KVM_SET_IRQCHIP, KVM_SET_PIT2 and KVM_SET_LAPIC
 * write, the matching GETs read back, and an IRQ line raised shows in the chips' request registers.
 */
@RequiresKvm
class KernelIrqchipTest {

    @Test
    void picAndIoapicStateGoInAndComeBack() {
        try (Kvm kvm = Kvm.open(); Vm vm = kvm.createVm()) {
            vm.createIrqchip();
            KernelIrqchip.Pic master = new KernelIrqchip.Pic(0, 0, 0xA5, 0, 3, 0x20, 1, 0, 0, 0, 1, 0, 0, 1, 0x08, 0xF8);
            KernelIrqchip.Pic slave = new KernelIrqchip.Pic(0, 0, 0xFF, 0, 0, 0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0x0C, 0xDE);
            vm.setPic(KernelIrqchip.Chip.PIC_MASTER, master);
            vm.setPic(KernelIrqchip.Chip.PIC_SLAVE, slave);
            assertEquals(master, vm.pic(KernelIrqchip.Chip.PIC_MASTER));
            assertEquals(slave, vm.pic(KernelIrqchip.Chip.PIC_SLAVE));

            KernelIrqchip.Ioapic before = vm.ioapic();
            assertEquals(0xFEC00000L, before.baseAddress(), "the I/O APIC sits at its PC address");
            long[] table = before.redirectionTable();
            table[1] = 0x0300_0000_0000_0031L;          // vector 0x31, fixed, physical, to APIC 3, unmasked
            table[9] = 0x0000_0000_0001_A041L;          // vector 0x41, level-triggered, masked
            KernelIrqchip.Ioapic set = new KernelIrqchip.Ioapic(before.baseAddress(), 0x12, 5 << 24, 0, table);
            vm.setIoapic(set);
            KernelIrqchip.Ioapic after = vm.ioapic();
            assertArrayEquals(table, after.redirectionTable());
            assertEquals(0x12, after.ioregsel());
            assertEquals(5 << 24, after.id());
            assertThrows(IllegalArgumentException.class, () -> vm.pic(KernelIrqchip.Chip.IOAPIC));
        }
    }

    @Test
    void anIrqLineRaisedShowsInTheRequestRegisters() {
        try (Kvm kvm = Kvm.open(); Vm vm = kvm.createVm()) {
            vm.createIrqchip();
            KernelIrqchip.Pic master = vm.pic(KernelIrqchip.Chip.PIC_MASTER);
            assertEquals(0, master.irr() & (1 << 4));
            vm.irqLine(4, true);
            assertEquals(1 << 4, vm.pic(KernelIrqchip.Chip.PIC_MASTER).irr() & (1 << 4), "IRQ 4 pending at the PIC");
            assertEquals(1 << 4, vm.ioapic().irr() & (1 << 4), "and at pin 4 of the I/O APIC");
            vm.irqLine(4, false);
            assertEquals(0, vm.ioapic().irr() & (1 << 4), "an edge pin's request is gone when the line drops");
        }
    }

    /**
     * With a PC's routing the timer's line 0 reaches the master 8259's input 0 and the I/O APIC's pin 2 (KVM's default
     * would raise pin 0), line 9 the slave's input 1 and pin 9, and GSI 20 only pin 20.
     */
    @Test
    void aPcsRoutingSendsTheTimerToPinTwo() {
        try (Kvm kvm = Kvm.open(); Vm vm = kvm.createVm()) {
            vm.createIrqchip();
            vm.setGsiRouting(KernelIrqchip.pcRouting());
            vm.irqLine(0, true);
            assertEquals(1, vm.pic(KernelIrqchip.Chip.PIC_MASTER).irr() & 1, "line 0 at the master's input 0");
            assertEquals(1 << 2, vm.ioapic().irr() & 0b101, "and at pin 2, not pin 0");
            vm.irqLine(0, false);
            vm.irqLine(9, true);
            assertEquals(1 << 1, vm.pic(KernelIrqchip.Chip.PIC_SLAVE).irr() & (1 << 1), "line 9 at the slave's input 1");
            assertEquals(1 << 9, vm.ioapic().irr() & (1 << 9), "and at pin 9");
            vm.irqLine(9, false);
            vm.irqLine(20, true);
            assertEquals(1 << 20, vm.ioapic().irr() & (1 << 20), "GSI 20 at pin 20");
            assertEquals(0, vm.pic(KernelIrqchip.Chip.PIC_MASTER).irr() & ~0b101, "and at no 8259 input (0 and the cascade, 2, still latched)");
            assertEquals(1 << 1, vm.pic(KernelIrqchip.Chip.PIC_SLAVE).irr(), "the slave: line 9's request alone");
        }
        assertEquals(38, KernelIrqchip.pcRouting().size(), "15 lines to the 8259s, 23 to the I/O APIC");
    }

    @Test
    void pitChannelsGoInAndComeBack() {
        try (Kvm kvm = Kvm.open(); Vm vm = kvm.createVm()) {
            vm.createIrqchip();
            vm.createPit2();
            KernelIrqchip.Pit before = vm.pit();
            List<KernelIrqchip.PitChannel> channels = new ArrayList<>(before.channels());
            KernelIrqchip.PitChannel c0 = channels.get(0);
            channels.set(2, new KernelIrqchip.PitChannel(0x1234, 0, 0, 0, 0, 3, 3, 0, 3, 0, 0, 1, 0));
            vm.setPit(new KernelIrqchip.Pit(channels, before.flags()));
            KernelIrqchip.PitChannel c2 = vm.pit().channels().get(2);
            assertEquals(0x1234, c2.count());
            assertEquals(3, c2.rwMode());
            assertEquals(1, c2.gate());
            assertEquals(c0.mode(), vm.pit().channels().get(0).mode(), "channel 0 as it was");
        }
    }

    @Test
    void theLocalApicRegisterPageGoesInAndComesBack() {
        try (Kvm kvm = Kvm.open(); Vm vm = kvm.createVm()) {
            vm.createIrqchip();
            KvmVcpu vcpu = vm.createVcpu(0);
            byte[] page = vcpu.lapicRegisters();
            assertEquals(KernelIrqchip.lapicSize(), page.length);
            assertEquals(0x14, page[0x30] & 0xFF, "version register: an integrated APIC (0x14)");
            putInt(page, 0x80, 0x20);                  // TPR
            putInt(page, 0xF0, 0x1FF);                 // SPIV: enabled, spurious vector 0xFF
            putInt(page, 0x320, 0x0002_0040);          // LVT timer: periodic, vector 0x40
            putInt(page, 0x3E0, 0xB);                  // divide by 1
            vcpu.setLapicRegisters(page);
            byte[] back = vcpu.lapicRegisters();
            for (int reg : new int[]{0x80, 0xF0, 0x320, 0x3E0}) {
                assertEquals(getInt(page, reg), getInt(back, reg), "register 0x" + Integer.toHexString(reg));
            }
            assertThrows(IllegalArgumentException.class, () -> vcpu.setLapicRegisters(new byte[16]));
            assertTrue(getInt(back, 0x20) >>> 24 == 0, "vCPU 0's APIC ID");
        }
    }

    static int getInt(byte[] page, int at) {
        return java.nio.ByteBuffer.wrap(page, at, 4).order(java.nio.ByteOrder.LITTLE_ENDIAN).getInt();
    }

    static void putInt(byte[] page, int at, int value) {
        java.nio.ByteBuffer.wrap(page, at, 4).order(java.nio.ByteOrder.LITTLE_ENDIAN).putInt(value);
    }
}

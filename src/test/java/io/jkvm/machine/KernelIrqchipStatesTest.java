package io.jkvm.machine;

import io.jkvm.devices.Device;
import io.jkvm.devices.IoApic;
import io.jkvm.devices.LocalApic;
import io.jkvm.devices.Pic8259;
import io.jkvm.devices.Pit8254;
import io.jkvm.kvm.KernelIrqchip;
import io.jkvm.kvm.Kvm;
import io.jkvm.kvm.KvmVcpu;
import io.jkvm.kvm.Vm;
import io.jkvm.testing.RequiresKvm;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * jkvm's PICs, I/O APIC and local APIC, set up as a guest sets them up, moved into the real in-kernel irqchip
 * (KVM_SET_IRQCHIP, KVM_SET_LAPIC), read back (the GETs) and turned into jkvm's records again: the same records.
 */
@RequiresKvm
class KernelIrqchipStatesTest {

    @Test
    void picsSetUpAsAPcsComeBackFromTheKernelAsTheyWent() {
        Pic8259 pic = new Pic8259(raised -> { });
        Device master = pic.masterPorts(), slave = pic.slavePorts();
        master.write(0, 1, 0x11); // ICW1: edge, cascade, ICW4
        slave.write(0, 1, 0x11);
        master.write(1, 1, 0x20);
        slave.write(1, 1, 0x28);
        master.write(1, 1, 0x04);
        slave.write(1, 1, 0x02);
        master.write(1, 1, 0x03); // ICW4: 8086, auto-EOI
        slave.write(1, 1, 0x01);
        master.write(1, 1, 0xB8); // OCW1 masks
        slave.write(1, 1, 0x3F);
        master.write(0, 1, 0xC5); // OCW2: set priority, IR5 lowest
        pic.setIrq(1, true);      // IRQ 1 requested, its line high
        pic.setIrq(14, true);     // IRQ 14 at the slave
        slave.write(0, 1, 0x0B);  // OCW3: read ISR
        Pic8259.State s = pic.save();
        try (Kvm kvm = Kvm.open(); Vm vm = kvm.createVm()) {
            vm.createIrqchip();
            vm.setPic(KernelIrqchip.Chip.PIC_MASTER, KernelIrqchipStates.toKernel(s.master(), true));
            vm.setPic(KernelIrqchip.Chip.PIC_SLAVE, KernelIrqchipStates.toKernel(s.slave(), false));
            assertEquals(s.master(), KernelIrqchipStates.fromKernel(vm.pic(KernelIrqchip.Chip.PIC_MASTER), true));
            assertEquals(s.slave(), KernelIrqchipStates.fromKernel(vm.pic(KernelIrqchip.Chip.PIC_SLAVE), false));
        }
    }

    @Test
    void anIoApicComesBackFromTheKernelAsItWent() {
        List<LocalApic.Ipi> sent = new ArrayList<>();
        IoApic ioapic = new IoApic(sent::add);
        ioapic.write(0x00, 4, 0x00);        // IOREGSEL: ID
        ioapic.write(0x10, 4, 0x0300_0000); // ID 3
        for (int[] e : new int[][]{{1, 0x31, 0x01}, {9, 0x1A041, 0x02}, {23, 0x10051, 0xFF}}) { // pin, low, destination
            ioapic.write(0x00, 4, 0x10 + 2 * e[0]);
            ioapic.write(0x10, 4, e[1]);
            ioapic.write(0x00, 4, 0x11 + 2 * e[0]);
            ioapic.write(0x10, 4, e[2] << 24);
        }
        ioapic.setIrq(9, true); // level, masked: pending at the pin
        IoApic.State s = ioapic.save();
        try (Kvm kvm = Kvm.open(); Vm vm = kvm.createVm()) {
            vm.createIrqchip();
            vm.setIoapic(KernelIrqchipStates.toKernel(s, IoApic.BASE));
            IoApic.State back = KernelIrqchipStates.fromKernel(vm.ioapic());
            assertEquals(s.select(), back.select());
            assertEquals(3, back.id());
            assertArrayEquals(s.entries(), back.entries());
            assertArrayEquals(s.lines(), back.lines());
        }
    }

    @Test
    void aLocalApicComesBackFromTheKernelAsItWent() {
        LocalApic apic = new LocalApic(0, ipi -> { }, raised -> { }, null);
        apic.write(LocalApic.SPIV, 4, 0x1FF);
        apic.write(LocalApic.TPR, 4, 0x20);
        apic.write(LocalApic.LDR, 4, 0x0100_0000);
        apic.write(LocalApic.DFR, 4, 0x0FFF_FFFF);   // cluster model
        apic.write(LocalApic.LVT_LINT0, 4, 0x700);   // ExtINT
        apic.write(LocalApic.LVT_LINT1, 4, 0x400);   // NMI
        apic.write(LocalApic.LVT_ERROR, 4, 0xFE);
        apic.write(LocalApic.TIMER_DIVIDE, 4, 0x3);  // divide by 16
        apic.write(LocalApic.LVT_TIMER, 4, 0x2_0040); // periodic, vector 0x40: counted but not started
        apic.accept(0x51, true);                     // level-triggered 0x51 pending
        apic.accept(0x62, false);
        assertEquals(0x62, apic.acknowledge());      // 0x62 in service
        LocalApic.State s = apic.save();
        try (Kvm kvm = Kvm.open(); Vm vm = kvm.createVm()) {
            vm.createIrqchip();
            KvmVcpu vcpu = vm.createVcpu(0);
            vcpu.setLapicRegisters(KernelIrqchipStates.lapicPage(s));
            LocalApic.State back = KernelIrqchipStates.fromKernel(vcpu.lapicRegisters(), s.base(), s.tscDeadline(), s.deadlineNanos());
            assertEquals(List.of(s.id(), s.tpr(), s.ldr(), s.dfr(), s.spiv(), s.timerInitial(), s.timerDivide()),
                    List.of(back.id(), back.tpr(), back.ldr(), back.dfr(), back.spiv(), back.timerInitial(), back.timerDivide()));
            assertArrayEquals(s.lvt(), back.lvt(), "the LVT");
            assertArrayEquals(s.irr(), back.irr(), "IRR: 0x51 pending");
            assertArrayEquals(s.isr(), back.isr(), "ISR: 0x62 in service");
            assertArrayEquals(s.tmr(), back.tmr(), "TMR: 0x51 level-triggered");
            assertEquals(s.timerElapsedNanos(), back.timerElapsedNanos(), "no count running");
        }
    }

    /**
     * A PIT as a guest leaves it mid-programming (counter 0 periodic with a count latched and half read, counter 1's
     * mode set with half a count written, counter 2 gated through port 0x61 with its status latched) goes through
     * KVM_SET_PIT2 and KVM_GET_PIT2 and comes back the same, but for how long each count has run: the kernel restarts
     * a count when it is set.
     */
    @Test
    void aPitComesBackFromTheKernelAsItWent() {
        Pit8254 pit = new Pit8254(raised -> { });
        Device ports = pit.ports(), speaker = pit.speakerPort();
        ports.write(3, 1, 0x34);           // counter 0: LSB then MSB, mode 2
        ports.write(0, 1, 0xA9);
        ports.write(0, 1, 0x04);           // 1193: about 1 kHz
        ports.write(3, 1, 0x00);           // latch counter 0
        ports.read(0, 1);                  // its low byte read: the high byte is next
        ports.write(3, 1, 0x76);           // counter 1: LSB then MSB, mode 3
        ports.write(1, 1, 0x12);           // half a count
        speaker.write(0, 1, 0x03);         // gate 2 up, speaker data on
        ports.write(3, 1, 0xB0);           // counter 2: LSB then MSB, mode 0
        ports.write(2, 1, 0xFF);
        ports.write(2, 1, 0xFF);
        ports.write(3, 1, 0xE8);           // read-back: latch counter 2's status
        Pit8254.State s = pit.save();
        try (Kvm kvm = Kvm.open(); Vm vm = kvm.createVm()) {
            vm.createIrqchip();
            vm.createPit2();
            vm.setPit(KernelIrqchipStates.toKernel(s, System.nanoTime()));
            Pit8254.State back = KernelIrqchipStates.fromKernel(vm.pit(), System.nanoTime());
            assertEquals(s.speaker(), back.speaker(), "port 0x61: gate 2 and the speaker data");
            for (int i = 0; i < 3; i++) {
                Pit8254.CounterState want = s.counters().get(i), got = back.counters().get(i);
                assertEquals(new Pit8254.CounterState(want.mode(), want.access(), want.reload(), want.gate(), want.bcd(), 0,
                        want.writeHigh(), want.readHigh(), want.latched(), want.latchedStatus(), want.written()),
                        new Pit8254.CounterState(got.mode(), got.access(), got.reload(), got.gate(), got.bcd(), 0,
                                got.writeHigh(), got.readHigh(), got.latched(), got.latchedStatus(), got.written()),
                        "counter " + i);
                if (want.elapsedNanos() >= 0) { // one waiting for its count counts on in the kernel: it has no such state
                    assertTrue(got.elapsedNanos() >= 0 && got.elapsedNanos() < 10_000_000_000L, "counter " + i + " counts");
                }
            }
        }
    }
}

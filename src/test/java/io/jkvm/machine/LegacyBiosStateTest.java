package io.jkvm.machine;

import io.jkvm.devices.LocalApic;
import io.jkvm.devices.Pic8259;
import io.jkvm.devices.Pit8254;
import io.jkvm.testing.TestGuests;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.util.Optional;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * A multiboot kernel finds what a PC BIOS leaves (io.jkvm.boot.LegacyBios, as SeaBIOS under QEMU): an interrupt vector
 * table whose entries reach an IRET or an 8259 acknowledgement, the 8259s at vectors 0x08 and 0x70 with the timer
 * open, the PIT's counter 0 at 18.2 Hz, and the boot processor's APIC in virtual-wire mode.
 */
class LegacyBiosStateTest {

    @Test
    void aMultibootKernelFindsTheStateABiosLeaves() {
        MachineConfig config = new MachineConfig(Optional.empty(), 16L << 20, 2, "core", Backend.EMULATOR,
                MachineConfig.defaults().loadAddress(), MachineConfig.defaults().kvmPath(), false,
                Optional.of(new KernelConfig(TestGuests.path("multiboot_smp.elf"), "", Optional.empty(), false)));
        Console silent = new Console(new ByteArrayOutputStream(), null, new PrintStream(new ByteArrayOutputStream()));
        try (Machine m = Machine.create(config, silent)) {
            assertEquals(0xF000_FF00L, ivt(m, 0x11), "a software interrupt's vector: IRET");
            assertEquals(0xF000_FF01L, ivt(m, 0x08), "IRQ 0's vector: EOI to the master, IRET");
            assertEquals(0xF000_FF08L, ivt(m, 0x73), "IRQ 11's vector: EOI to both, IRET");
            assertEquals(0xCF, m.memory().readByte(0xFFF00) & 0xFF, "IRET");
            assertEquals(0x50, m.memory().readByte(0xFFF01) & 0xFF, "PUSH AX: the master's acknowledgement");
            assertEquals(0xCF, m.memory().readByte(0xFFF10) & 0xFF, "the slave's handler ends in IRET");

            var states = m.deviceStates();
            Pic8259.State pic = (Pic8259.State) states.get("pic");
            assertEquals(java.util.List.of(0x08, 0xFA, 0), java.util.List.of(pic.master().vectorBase(), pic.master().imr(),
                    pic.master().initStep()), "master: vectors 0x08, the timer and the cascade open, initialised");
            assertEquals(java.util.List.of(0x70, 0xFF), java.util.List.of(pic.slave().vectorBase(), pic.slave().imr()));
            Pit8254.CounterState counter0 = ((Pit8254.State) states.get("pit")).counters().get(0);
            assertEquals(java.util.List.of(3, 0x10000), java.util.List.of(counter0.mode(), counter0.reload()), "18.2 Hz");
            LocalApic.State bsp = (LocalApic.State) states.get("lapic0");
            assertEquals(java.util.List.of(0x1FF, 0x8700, 0x8400), java.util.List.of(bsp.spiv(), bsp.lvt()[3], bsp.lvt()[4]),
                    "the boot processor's APIC: enabled, LINT0 ExtINT, LINT1 NMI");
            LocalApic.State ap = (LocalApic.State) states.get("lapic1");
            assertEquals(0xFF, ap.spiv(), "an application processor's APIC as reset left it");
        }
    }

    private static long ivt(Machine m, int vector) {
        long v = 0;
        for (int i = 3; i >= 0; i--) {
            v = v << 8 | (m.memory().readByte(4L * vector + i) & 0xFF);
        }
        return v; // the far pointer as segment << 16 | offset
    }
}

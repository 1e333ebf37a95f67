package io.jkvm.boot;

import java.util.List;

/**
 * What a PC BIOS leaves behind for the operating system it boots, as SeaBIOS leaves it under QEMU (a multiboot
 * kernel there is started by SeaBIOS, and kvm-unit-tests' real-mode cases count on it): a real-mode interrupt vector
 * table whose every vector IRETs and whose hardware IRQ vectors acknowledge the 8259s first; the 8259s initialised
 * with vector bases 0x08 and 0x70 and every IRQ masked but the timer and the cascade; the PIT's counter 0 running at
 * 18.2 Hz (mode 3, count 65536); the boot processor's local APIC in virtual-wire mode. jkvm has no firmware: the machine applies these before a multiboot kernel's first
 * instruction, the memory directly and the port and APIC writes through its own devices, as the BIOS's code would.
 */
public final class LegacyBios {
    /** Where the interrupt handlers go: the top of the BIOS area (F000:FF00), above the ACPI tables at 0xF0000. */
    public static final long HANDLERS = 0xFFF00;
    private static final int SEGMENT = 0xF000, OFFSET = (int) (HANDLERS - 0xF0000);

    /** An OUT of one byte. */
    public record PortWrite(int port, int value) {
    }

    /** A 32-bit store to the boot processor's local APIC, at this offset from its base. */
    public record ApicWrite(int offset, int value) {
    }

    // iret
    private static final byte[] RETURN = {(byte) 0xCF};
    // push ax; mov al, 0x20; out 0x20, al; pop ax; iret: EOI to the master
    private static final byte[] MASTER_IRQ = {0x50, (byte) 0xB0, 0x20, (byte) 0xE6, 0x20, 0x58, (byte) 0xCF};
    // push ax; mov al, 0x20; out 0xA0, al; out 0x20, al; pop ax; iret: EOI to the slave, then to the master
    private static final byte[] SLAVE_IRQ = {0x50, (byte) 0xB0, 0x20, (byte) 0xE6, (byte) 0xA0, (byte) 0xE6, 0x20, 0x58, (byte) 0xCF};

    private LegacyBios() {
    }

    /** The vector table, for guest-physical 0 (256 far pointers, 1 KiB). */
    public static byte[] interruptVectors() {
        byte[] ivt = new byte[256 * 4];
        for (int v = 0; v < 256; v++) {
            int offset = OFFSET + (v >= 0x08 && v <= 0x0F ? RETURN.length : v >= 0x70 && v <= 0x77 ? RETURN.length + MASTER_IRQ.length : 0);
            ivt[4 * v] = (byte) offset;
            ivt[4 * v + 1] = (byte) (offset >>> 8);
            ivt[4 * v + 2] = (byte) SEGMENT;
            ivt[4 * v + 3] = (byte) (SEGMENT >>> 8);
        }
        return ivt;
    }

    /** The handlers the vectors point to, for {@link #HANDLERS}. */
    public static byte[] handlers() {
        byte[] code = new byte[RETURN.length + MASTER_IRQ.length + SLAVE_IRQ.length];
        System.arraycopy(RETURN, 0, code, 0, RETURN.length);
        System.arraycopy(MASTER_IRQ, 0, code, RETURN.length, MASTER_IRQ.length);
        System.arraycopy(SLAVE_IRQ, 0, code, RETURN.length + MASTER_IRQ.length, SLAVE_IRQ.length);
        return code;
    }

    /**
     * The boot processor's local APIC in virtual-wire mode, as SeaBIOS sets it: software-enabled (spurious vector
     * 0xFF), LINT0 the 8259's ExtINT and LINT1 NMI, both level-triggered; so the 8259's interrupts reach the processor.
     */
    public static List<ApicWrite> apicWrites() {
        return List.of(new ApicWrite(0xF0, 0x1FF), new ApicWrite(0x350, 0x8700), new ApicWrite(0x360, 0x8400));
    }

    /** The port writes that leave the 8259s and the PIT as the BIOS does, in order. */
    public static List<PortWrite> portWrites() {
        return List.of(
                new PortWrite(0x20, 0x11), new PortWrite(0xA0, 0x11), // ICW1: edge, cascade, ICW4 follows
                new PortWrite(0x21, 0x08), new PortWrite(0xA1, 0x70), // ICW2: vector bases
                new PortWrite(0x21, 0x04), new PortWrite(0xA1, 0x02), // ICW3: the slave on IR2, its ID 2
                new PortWrite(0x21, 0x01), new PortWrite(0xA1, 0x01), // ICW4: 8086 mode
                new PortWrite(0x21, 0xFA), new PortWrite(0xA1, 0xFF), // OCW1: the timer and the cascade open
                new PortWrite(0x43, 0x36), new PortWrite(0x40, 0x00), new PortWrite(0x40, 0x00)); // PIT 0: mode 3, 65536
    }
}

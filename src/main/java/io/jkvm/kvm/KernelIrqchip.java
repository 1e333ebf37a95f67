package io.jkvm.kvm;

import io.jkvm.linux.uapi.Uapi;
import io.jkvm.linux.uapi.kvm_ioapic_state;
import io.jkvm.linux.uapi.kvm_irqchip;
import io.jkvm.linux.uapi.kvm_lapic_state;
import io.jkvm.linux.uapi.kvm_pic_state;
import io.jkvm.linux.uapi.kvm_pit_channel_state;
import io.jkvm.linux.uapi.kvm_pit_state2;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;

/**
 * The in-kernel interrupt controllers' state as KVM_GET/SET_IRQCHIP, KVM_GET/SET_LAPIC and KVM_GET/SET_PIT2 move it,
 * field for field as the kernel's structs (arch/x86/include/uapi/asm/kvm.h) name them, and their marshalling.
 */
public final class KernelIrqchip {
    private KernelIrqchip() {
    }

    /** Which chip KVM_GET/SET_IRQCHIP reads or writes. */
    public enum Chip {
        PIC_MASTER(Uapi.KVM_IRQCHIP_PIC_MASTER()), PIC_SLAVE(Uapi.KVM_IRQCHIP_PIC_SLAVE()), IOAPIC(Uapi.KVM_IRQCHIP_IOAPIC());

        final int id;

        Chip(int id) {
            this.id = id;
        }
    }

    /** A GSI's route to one chip's pin (struct kvm_irq_routing_entry of type KVM_IRQ_ROUTING_IRQCHIP). */
    public record Route(int gsi, Chip chip, int pin) {
    }

    /**
     * A PC's wiring of its interrupt lines, as KVM_SET_GSI_ROUTING takes it: ISA lines 0-15 to the 8259s (the master
     * for 0-7, the slave for 8-15; line 2 is the cascade, never a device's) and to the I/O APIC's pin of the same
     * number, but line 0, the timer, to pin 2 (the MADT's interrupt source override); pins 16-23 from GSIs 16-23 alone.
     * KVM's default routing sends GSI 0 to pin 0 and GSI 2 to the master's cascade input, which no PC does.
     */
    public static List<Route> pcRouting() {
        List<Route> routes = new java.util.ArrayList<>();
        for (int gsi = 0; gsi < 16; gsi++) {
            if (gsi != 2) {
                routes.add(new Route(gsi, gsi < 8 ? Chip.PIC_MASTER : Chip.PIC_SLAVE, gsi & 7));
            }
        }
        for (int gsi = 0; gsi < 24; gsi++) {
            if (gsi != 2) {
                routes.add(new Route(gsi, Chip.IOAPIC, gsi == 0 ? 2 : gsi));
            }
        }
        return List.copyOf(routes);
    }

    /** struct kvm_pic_state: one 8259A, each field a byte. */
    public record Pic(int lastIrr, int irr, int imr, int isr, int priorityAdd, int irqBase, int readRegSelect, int poll,
                      int specialMask, int initState, int autoEoi, int rotateOnAutoEoi, int specialFullyNestedMode,
                      int init4, int elcr, int elcrMask) {
    }

    /** struct kvm_ioapic_state: the redirection table as 24 64-bit entries. */
    public record Ioapic(long baseAddress, int ioregsel, int id, int irr, long[] redirectionTable) {
        public Ioapic {
            if (redirectionTable.length != Uapi.KVM_IOAPIC_NUM_PINS()) {
                throw new IllegalArgumentException("an I/O APIC has " + Uapi.KVM_IOAPIC_NUM_PINS() + " pins, not "
                        + redirectionTable.length);
            }
            redirectionTable = redirectionTable.clone();
        }

        @Override
        public long[] redirectionTable() {
            return redirectionTable.clone();
        }
    }

    /** struct kvm_pit_channel_state. */
    public record PitChannel(int count, int latchedCount, int countLatched, int statusLatched, int status, int readState,
                             int writeState, int writeLatch, int rwMode, int mode, int bcd, int gate, long countLoadTime) {
    }

    /** struct kvm_pit_state2: three channels and the flags (KVM_PIT_FLAGS_SPEAKER_DATA_ON, ...). */
    public record Pit(List<PitChannel> channels, int flags) {
        public Pit {
            if (channels.size() != 3) {
                throw new IllegalArgumentException("a PIT has 3 channels, not " + channels.size());
            }
            channels = List.copyOf(channels);
        }
    }

    /** The bytes of a local APIC's register page (struct kvm_lapic_state, KVM_APIC_REG_SIZE of them). */
    public static int lapicSize() {
        return (int) Uapi.KVM_APIC_REG_SIZE();
    }

    static Pic readPic(MemorySegment irqchip) {
        MemorySegment s = kvm_irqchip.chip.pic(kvm_irqchip.chip(irqchip));
        return new Pic(u8(kvm_pic_state.last_irr(s)), u8(kvm_pic_state.irr(s)), u8(kvm_pic_state.imr(s)),
                u8(kvm_pic_state.isr(s)), u8(kvm_pic_state.priority_add(s)), u8(kvm_pic_state.irq_base(s)),
                u8(kvm_pic_state.read_reg_select(s)), u8(kvm_pic_state.poll(s)), u8(kvm_pic_state.special_mask(s)),
                u8(kvm_pic_state.init_state(s)), u8(kvm_pic_state.auto_eoi(s)), u8(kvm_pic_state.rotate_on_auto_eoi(s)),
                u8(kvm_pic_state.special_fully_nested_mode(s)), u8(kvm_pic_state.init4(s)), u8(kvm_pic_state.elcr(s)),
                u8(kvm_pic_state.elcr_mask(s)));
    }

    static void writePic(MemorySegment irqchip, Chip chip, Pic p) {
        kvm_irqchip.chip_id(irqchip, chip.id);
        MemorySegment s = kvm_irqchip.chip.pic(kvm_irqchip.chip(irqchip));
        kvm_pic_state.last_irr(s, (byte) p.lastIrr());
        kvm_pic_state.irr(s, (byte) p.irr());
        kvm_pic_state.imr(s, (byte) p.imr());
        kvm_pic_state.isr(s, (byte) p.isr());
        kvm_pic_state.priority_add(s, (byte) p.priorityAdd());
        kvm_pic_state.irq_base(s, (byte) p.irqBase());
        kvm_pic_state.read_reg_select(s, (byte) p.readRegSelect());
        kvm_pic_state.poll(s, (byte) p.poll());
        kvm_pic_state.special_mask(s, (byte) p.specialMask());
        kvm_pic_state.init_state(s, (byte) p.initState());
        kvm_pic_state.auto_eoi(s, (byte) p.autoEoi());
        kvm_pic_state.rotate_on_auto_eoi(s, (byte) p.rotateOnAutoEoi());
        kvm_pic_state.special_fully_nested_mode(s, (byte) p.specialFullyNestedMode());
        kvm_pic_state.init4(s, (byte) p.init4());
        kvm_pic_state.elcr(s, (byte) p.elcr());
        kvm_pic_state.elcr_mask(s, (byte) p.elcrMask());
    }

    static Ioapic readIoapic(MemorySegment irqchip) {
        MemorySegment s = kvm_irqchip.chip.ioapic(kvm_irqchip.chip(irqchip));
        long[] table = new long[Uapi.KVM_IOAPIC_NUM_PINS()];
        for (int pin = 0; pin < table.length; pin++) {
            table[pin] = kvm_ioapic_state.redirtbl.bits(kvm_ioapic_state.redirtbl(s, pin));
        }
        return new Ioapic(kvm_ioapic_state.base_address(s), kvm_ioapic_state.ioregsel(s), kvm_ioapic_state.id(s),
                kvm_ioapic_state.irr(s), table);
    }

    static void writeIoapic(MemorySegment irqchip, Ioapic a) {
        kvm_irqchip.chip_id(irqchip, Chip.IOAPIC.id);
        MemorySegment s = kvm_irqchip.chip.ioapic(kvm_irqchip.chip(irqchip));
        kvm_ioapic_state.base_address(s, a.baseAddress());
        kvm_ioapic_state.ioregsel(s, a.ioregsel());
        kvm_ioapic_state.id(s, a.id());
        kvm_ioapic_state.irr(s, a.irr());
        long[] table = a.redirectionTable();
        for (int pin = 0; pin < table.length; pin++) {
            kvm_ioapic_state.redirtbl.bits(kvm_ioapic_state.redirtbl(s, pin), table[pin]);
        }
    }

    static Pit readPit(MemorySegment s) {
        PitChannel[] channels = new PitChannel[3];
        for (int i = 0; i < 3; i++) {
            MemorySegment c = kvm_pit_state2.channels(s, i);
            channels[i] = new PitChannel(kvm_pit_channel_state.count(c), kvm_pit_channel_state.latched_count(c) & 0xFFFF,
                    u8(kvm_pit_channel_state.count_latched(c)), u8(kvm_pit_channel_state.status_latched(c)),
                    u8(kvm_pit_channel_state.status(c)), u8(kvm_pit_channel_state.read_state(c)),
                    u8(kvm_pit_channel_state.write_state(c)), u8(kvm_pit_channel_state.write_latch(c)),
                    u8(kvm_pit_channel_state.rw_mode(c)), u8(kvm_pit_channel_state.mode(c)), u8(kvm_pit_channel_state.bcd(c)),
                    u8(kvm_pit_channel_state.gate(c)), kvm_pit_channel_state.count_load_time(c));
        }
        return new Pit(List.of(channels), kvm_pit_state2.flags(s));
    }

    static void writePit(MemorySegment s, Pit p) {
        for (int i = 0; i < 3; i++) {
            MemorySegment c = kvm_pit_state2.channels(s, i);
            PitChannel ch = p.channels().get(i);
            kvm_pit_channel_state.count(c, ch.count());
            kvm_pit_channel_state.latched_count(c, (short) ch.latchedCount());
            kvm_pit_channel_state.count_latched(c, (byte) ch.countLatched());
            kvm_pit_channel_state.status_latched(c, (byte) ch.statusLatched());
            kvm_pit_channel_state.status(c, (byte) ch.status());
            kvm_pit_channel_state.read_state(c, (byte) ch.readState());
            kvm_pit_channel_state.write_state(c, (byte) ch.writeState());
            kvm_pit_channel_state.write_latch(c, (byte) ch.writeLatch());
            kvm_pit_channel_state.rw_mode(c, (byte) ch.rwMode());
            kvm_pit_channel_state.mode(c, (byte) ch.mode());
            kvm_pit_channel_state.bcd(c, (byte) ch.bcd());
            kvm_pit_channel_state.gate(c, (byte) ch.gate());
            kvm_pit_channel_state.count_load_time(c, ch.countLoadTime());
        }
        kvm_pit_state2.flags(s, p.flags());
    }

    static byte[] readLapic(MemorySegment s) {
        return kvm_lapic_state.regs(s).toArray(ValueLayout.JAVA_BYTE);
    }

    static void writeLapic(MemorySegment s, byte[] registers) {
        if (registers.length != lapicSize()) {
            throw new IllegalArgumentException("a local APIC register page is " + lapicSize() + " bytes, not " + registers.length);
        }
        MemorySegment.copy(MemorySegment.ofArray(registers), 0, kvm_lapic_state.regs(s), 0, registers.length);
    }

    private static int u8(byte b) {
        return b & 0xFF;
    }
}

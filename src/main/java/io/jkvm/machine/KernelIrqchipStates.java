package io.jkvm.machine;

import io.jkvm.devices.IoApic;
import io.jkvm.devices.LocalApic;
import io.jkvm.devices.Pic8259;
import io.jkvm.devices.Pit8254;
import io.jkvm.linux.uapi.Uapi;
import io.jkvm.kvm.KernelIrqchip;

import static io.jkvm.devices.LocalApic.DFR;
import static io.jkvm.devices.LocalApic.ESR;
import static io.jkvm.devices.LocalApic.ICR_HIGH;
import static io.jkvm.devices.LocalApic.ICR_LOW;
import static io.jkvm.devices.LocalApic.ID;
import static io.jkvm.devices.LocalApic.IRR;
import static io.jkvm.devices.LocalApic.ISR;
import static io.jkvm.devices.LocalApic.LDR;
import static io.jkvm.devices.LocalApic.LVT_TIMER;
import static io.jkvm.devices.LocalApic.SPIV;
import static io.jkvm.devices.LocalApic.TIMER_CURRENT;
import static io.jkvm.devices.LocalApic.TIMER_DIVIDE;
import static io.jkvm.devices.LocalApic.TIMER_INITIAL;
import static io.jkvm.devices.LocalApic.TMR;
import static io.jkvm.devices.LocalApic.TPR;
import static io.jkvm.devices.LocalApic.VERSION;
import static io.jkvm.devices.LocalApic.VERSION_VALUE;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * The platform devices' state records moved to and from the in-kernel irqchip's (KVM_GET/SET_IRQCHIP and _LAPIC), so
 * a machine's PICs, I/O APIC and local APICs keep one state whether jkvm or the kernel emulates them. What one side
 * has and the other does not is filled as a PC wires it (see each method).
 */
final class KernelIrqchipStates {
    /** The ELCR bits a PC's chipset lets software set: IRQs 0-2 (master) and 8 and 13 (slave) are always edge. */
    static final int MASTER_ELCR_MASK = 0xF8, SLAVE_ELCR_MASK = 0xDE;
    /** What a PC's PICs hold in ICW3: the master has its slave on IR2; the slave's ID is 2. */
    private static final int MASTER_ICW3 = 1 << 2, SLAVE_ICW3 = 2;

    private KernelIrqchipStates() {
    }

    /**
     * One 8259A as the kernel holds it. The kernel has no level-triggered mode (ICW1.LTIM) but a per-IRQ ELCR: a chip
     * in level mode becomes every IRQ its ELCR mask allows set to level.
     */
    static KernelIrqchip.Pic toKernel(Pic8259.ChipState c, boolean master) {
        int elcrMask = master ? MASTER_ELCR_MASK : SLAVE_ELCR_MASK;
        return new KernelIrqchip.Pic(c.lines(), c.irr(), c.imr(), c.isr(), (c.lowestPriority() + 1) & 7, c.vectorBase(),
                bit(c.readIsr()), bit(c.poll()), bit(c.specialMask()), c.initStep() == 0 ? 0 : c.initStep() - 1,
                bit(c.autoEoi()), bit(c.rotateOnAutoEoi()), bit(c.specialFullyNested()), bit(c.icw4Expected()),
                c.levelTriggered() ? elcrMask : 0, elcrMask);
    }

    /**
     * The kernel's 8259A as jkvm's: wired as a PC's (ICW3, cascaded); level mode when its whole ELCR mask is level. The
     * kernel pulses the master's cascade input (IR2 raised and lowered at once, so its last_irr bit stays clear) where
     * jkvm holds it as a level: a cascade request not yet taken counts as the slave's line high (jkvm's restore then
     * derives it from the slave anyway).
     */
    static Pic8259.ChipState fromKernel(KernelIrqchip.Pic k, boolean master) {
        int lines = master ? k.lastIrr() | (k.irr() & MASTER_ICW3) : k.lastIrr();
        return new Pic8259.ChipState(k.irr(), k.isr(), k.imr(), lines, k.irqBase() & 0xF8, (k.priorityAdd() + 7) & 7,
                master ? MASTER_ICW3 : SLAVE_ICW3, k.initState() == 0 ? 0 : k.initState() + 1, k.init4() != 0, false,
                k.elcrMask() != 0 && (k.elcr() & k.elcrMask()) == k.elcrMask(), k.autoEoi() != 0, k.rotateOnAutoEoi() != 0,
                k.specialFullyNestedMode() != 0, k.readRegSelect() != 0, k.poll() != 0, k.specialMask() != 0);
    }

    /** jkvm's I/O APIC as the kernel's at {@code baseAddress}: the pins' levels are the kernel's request register. */
    static KernelIrqchip.Ioapic toKernel(IoApic.State s, long baseAddress) {
        int irr = 0;
        for (int pin = 0; pin < s.lines().length; pin++) {
            irr |= s.lines()[pin] ? 1 << pin : 0;
        }
        return new KernelIrqchip.Ioapic(baseAddress, s.select(), s.id(), irr, s.entries());
    }

    static IoApic.State fromKernel(KernelIrqchip.Ioapic k) {
        long[] entries = k.redirectionTable();
        boolean[] lines = new boolean[entries.length];
        for (int pin = 0; pin < lines.length; pin++) {
            lines[pin] = (k.irr() & (1 << pin)) != 0;
        }
        return new IoApic.State(k.ioregsel() & 0xFF, k.id() & 0xF, entries, lines);
    }

    /**
     * A local APIC's register page as KVM_SET_LAPIC takes it, in the xAPIC layout (the ID in bits 31:24, as the kernel
     * keeps it without KVM_CAP_X2APIC_API). The kernel restarts a timer from its initial count.
     */
    static byte[] lapicPage(LocalApic.State s) {
        ByteBuffer page = ByteBuffer.allocate(KernelIrqchip.lapicSize()).order(ByteOrder.LITTLE_ENDIAN);
        page.putInt(ID, s.id() << 24).putInt(VERSION, VERSION_VALUE).putInt(TPR, s.tpr()).putInt(LDR, s.ldr())
                .putInt(DFR, s.dfr()).putInt(SPIV, s.spiv()).putInt(ESR, s.esr()).putInt(ICR_LOW, s.icrLow())
                .putInt(ICR_HIGH, s.icrHigh()).putInt(TIMER_INITIAL, s.timerInitial()).putInt(TIMER_DIVIDE, s.timerDivide());
        for (int i = 0; i < s.lvt().length; i++) {
            page.putInt(LVT_TIMER + 16 * i, s.lvt()[i]);
        }
        for (int w = 0; w < 8; w++) {
            page.putInt(ISR + 16 * w, s.isr()[w]).putInt(TMR + 16 * w, s.tmr()[w]).putInt(IRR + 16 * w, s.irr()[w]);
        }
        long initial = s.timerInitial() & 0xFFFFFFFFL;
        if (initial != 0 && s.timerElapsedNanos() >= 0) {
            long ticks = s.timerElapsedNanos() / LocalApic.timerDivisor(s.timerDivide());
            boolean periodic = ((s.lvt()[0] >>> 17) & 3) == 1;
            page.putInt(TIMER_CURRENT, (int) (periodic ? initial - ticks % initial : Math.max(initial - ticks, 0)));
        }
        return page.array();
    }

    /**
     * The kernel's register page as jkvm's local APIC record, with what the page does not hold: the APIC base MSR,
     * the TSC deadline MSR and the nanoseconds to that deadline (-1: none armed).
     */
    static LocalApic.State fromKernel(byte[] registers, long apicBase, long tscDeadline, long deadlineNanos) {
        ByteBuffer page = ByteBuffer.wrap(registers).order(ByteOrder.LITTLE_ENDIAN);
        int[] lvt = new int[6], irr = new int[8], isr = new int[8], tmr = new int[8];
        for (int i = 0; i < lvt.length; i++) {
            lvt[i] = page.getInt(LVT_TIMER + 16 * i);
        }
        for (int w = 0; w < 8; w++) {
            isr[w] = page.getInt(ISR + 16 * w);
            tmr[w] = page.getInt(TMR + 16 * w);
            irr[w] = page.getInt(IRR + 16 * w);
        }
        int divide = page.getInt(TIMER_DIVIDE);
        long initial = page.getInt(TIMER_INITIAL) & 0xFFFFFFFFL;
        long current = page.getInt(TIMER_CURRENT) & 0xFFFFFFFFL;
        long elapsed = initial == 0 ? -1 : (initial - Math.min(current, initial)) * LocalApic.timerDivisor(divide);
        return new LocalApic.State(apicBase, page.getInt(ID) >>> 24, page.getInt(TPR), page.getInt(LDR), page.getInt(DFR),
                page.getInt(SPIV), page.getInt(ESR), page.getInt(ICR_LOW), page.getInt(ICR_HIGH), lvt, (int) initial, divide,
                elapsed, irr, isr, tmr, tscDeadline, deadlineNanos);
    }

    /**
     * The nanoseconds to a local APIC's TSC deadline, as jkvm's record holds them: -1 when its timer (in the kernel's
     * register page {@code registers}) is not in TSC-deadline mode or none is armed, else how far {@code tscDeadline}
     * is past the vCPU's TSC {@code tsc} counting at {@code tscKhz} (0 when it has passed).
     */
    static long deadlineNanos(byte[] registers, long tscDeadline, long tsc, long tscKhz) {
        int timer = ByteBuffer.wrap(registers).order(ByteOrder.LITTLE_ENDIAN).getInt(LVT_TIMER);
        if (((timer >>> 17) & 3) != 2 || tscDeadline == 0) {
            return -1;
        }
        long delta = tscDeadline - tsc, khz = Math.max(1, tscKhz);
        return delta <= 0 ? 0 : delta / khz * 1_000_000 + delta % khz * 1_000_000 / khz;
    }

    /** The kernel's read/write states of a counter's port: the byte order its access mode gives (i8254.c's RW_STATE_*). */
    private static final int RW_LSB = 1, RW_MSB = 2, RW_WORD0 = 3, RW_WORD1 = 4;

    /**
     * jkvm's PIT as the kernel's, at {@code nowNanos} on CLOCK_MONOTONIC (System.nanoTime here; the kernel's ktime):
     * a counter's load time is now less what it has counted, 0 for one with no count loaded (the kernel has no such
     * state; KVM_SET_PIT2 restarts each count from its reload value anyway). Port 0x61's gate bit is counter 2's gate.
     */
    static KernelIrqchip.Pit toKernel(Pit8254.State s, long nowNanos) {
        java.util.List<KernelIrqchip.PitChannel> channels = new java.util.ArrayList<>();
        for (Pit8254.CounterState c : s.counters()) {
            int latchState = c.latched() < 0 ? 0 : c.access() == 3 ? (c.readHigh() ? RW_WORD1 : RW_WORD0) : c.access();
            channels.add(new KernelIrqchip.PitChannel(c.reload(), Math.max(c.latched(), 0), latchState,
                    bit(c.latchedStatus() >= 0), Math.max(c.latchedStatus(), 0), byteState(c.access(), c.readHigh()),
                    byteState(c.access(), c.writeHigh()), c.written(), c.access(), c.mode(), bit(c.bcd()), bit(c.gate()),
                    c.elapsedNanos() < 0 ? 0 : nowNanos - c.elapsedNanos()));
        }
        return new KernelIrqchip.Pit(channels, (s.speaker() & 2) != 0 ? Uapi.KVM_PIT_FLAGS_SPEAKER_DATA_ON() : 0);
    }

    /** The kernel's PIT as jkvm's, at {@code nowNanos} on the kernel's clock (see {@link #toKernel(Pit8254.State, long)}). */
    static Pit8254.State fromKernel(KernelIrqchip.Pit k, long nowNanos) {
        java.util.List<Pit8254.CounterState> counters = new java.util.ArrayList<>();
        for (KernelIrqchip.PitChannel c : k.channels()) {
            counters.add(new Pit8254.CounterState(c.mode(), c.rwMode(), c.count(), c.gate() != 0, c.bcd() != 0,
                    c.countLoadTime() == 0 ? -1 : Math.max(nowNanos - c.countLoadTime(), 0), c.writeState() == RW_WORD1,
                    c.readState() == RW_WORD1, c.countLatched() == 0 ? -1 : c.latchedCount(),
                    c.statusLatched() != 0 ? c.status() : -1,
                    c.writeState() == RW_WORD1 ? c.writeLatch() : c.count() & 0xFFFF)); // the kernel keeps only a half-written count's low byte
        }
        int gate2 = k.channels().get(2).gate() != 0 ? 1 : 0;
        return new Pit8254.State(counters, gate2 | ((k.flags() & Uapi.KVM_PIT_FLAGS_SPEAKER_DATA_ON()) != 0 ? 2 : 0));
    }

    /** A port's byte state: the access mode itself for LSB or MSB only, else which byte of the word comes next. */
    private static int byteState(int access, boolean high) {
        return access == 3 ? (high ? RW_WORD1 : RW_WORD0) : access;
    }

    private static int bit(boolean b) {
        return b ? 1 : 0;
    }
}

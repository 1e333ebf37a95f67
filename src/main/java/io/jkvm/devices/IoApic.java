package io.jkvm.devices;

import java.util.function.Consumer;

/**
 * The I/O APIC (82093AA) at 0xFEC00000: IOREGSEL at offset 0, IOWIN at 0x10 and the EOI register at 0x40 (version
 * 0x20); 24 pins, each with a redirection entry (vector, delivery mode, physical or logical destination, polarity,
 * edge or level trigger, mask, remote IRR). An edge pin delivers on each rising edge while unmasked; a level pin
 * delivers while asserted, then waits with remote IRR set until the destination's EOI of that vector. Messages go out
 * as the local APICs' own ({@link LocalApic.Ipi}), for the machine to route.
 */
public final class IoApic implements Device, Persist<IoApic.State> {
    public static final long BASE = 0xFEC00000L, SIZE = 0x1000;
    public static final int PINS = 24;
    private static final int MASKED = 1 << 16, LEVEL = 1 << 15, REMOTE_IRR = 1 << 14, ACTIVE_LOW = 1 << 13;
    /** The bits of an entry's low word software writes (delivery status and remote IRR are the chip's). */
    private static final int WRITABLE_LOW = 0x1AFFF;

    /** IOREGSEL, the chip's ID, the 24 redirection entries (remote IRR included) and the pins' asserted levels. */
    public record State(int select, int id, long[] entries, boolean[] lines) {
    }

    private final Consumer<LocalApic.Ipi> deliver;
    private int select, id;
    private final long[] entries = new long[PINS];
    private final boolean[] lines = new boolean[PINS];

    public IoApic(Consumer<LocalApic.Ipi> deliver) {
        this.deliver = deliver;
        for (int i = 0; i < PINS; i++) {
            entries[i] = MASKED;
        }
    }

    @Override
    public long read(long offset, int size) {
        synchronized (this) {
            return switch ((int) offset) {
                case 0x00 -> select;
                case 0x10 -> register(select) & 0xFFFFFFFFL;
                default -> 0;
            };
        }
    }

    private int register(int index) {
        return switch (index) {
            case 0x00 -> id << 24;
            case 0x01 -> 0x20 | (PINS - 1) << 16; // version 0x20 (with the EOI register), 24 entries
            case 0x02 -> id << 24; // arbitration ID
            default -> {
                int pin = (index - 0x10) >>> 1;
                if (index < 0x10 || pin >= PINS) {
                    yield 0;
                }
                yield (index & 1) == 0 ? (int) entries[pin] : (int) (entries[pin] >>> 32);
            }
        };
    }

    @Override
    public void write(long offset, int size, long value) {
        int v = (int) value;
        synchronized (this) {
            switch ((int) offset) {
                case 0x00 -> select = v & 0xFF;
                case 0x10 -> {
                    if (select == 0x00) {
                        id = (v >>> 24) & 0xF;
                    } else if (select >= 0x10 && ((select - 0x10) >>> 1) < PINS) {
                        int pin = (select - 0x10) >>> 1;
                        long e = entries[pin];
                        entries[pin] = (select & 1) == 0 ? (e & ~(long) WRITABLE_LOW) | (v & WRITABLE_LOW)
                                : (e & 0xFFFFFFFFL) | ((long) (v & 0xFF000000) << 32);
                        if ((entries[pin] & LEVEL) == 0) {
                            entries[pin] &= ~REMOTE_IRR; // an edge pin has no remote IRR
                        }
                    }
                }
                case 0x40 -> {
                    eoi(v & 0xFF);
                    return;
                }
                default -> {
                    return;
                }
            }
        }
        service();
    }

    /** ISA or PCI interrupt line {@code pin} set to {@code level} (the electrical level: active-low pins invert it). */
    public void setIrq(int pin, boolean level) {
        if (pin < 0 || pin >= PINS) {
            return;
        }
        LocalApic.Ipi edge = null;
        synchronized (this) {
            boolean asserted = level != ((entries[pin] & ACTIVE_LOW) != 0);
            boolean rising = asserted && !lines[pin];
            lines[pin] = asserted;
            long e = entries[pin];
            if (rising && (e & LEVEL) == 0 && (e & MASKED) == 0) {
                edge = message(e);
            }
        }
        if (edge != null) {
            deliver.accept(edge);
        }
        service();
    }

    /** A local APIC's EOI of a level-triggered {@code vector}: the pins waiting on it may deliver again. */
    public void eoi(int vector) {
        synchronized (this) {
            for (int pin = 0; pin < PINS; pin++) {
                if ((entries[pin] & 0xFF) == vector && (entries[pin] & LEVEL) != 0) {
                    entries[pin] &= ~REMOTE_IRR;
                }
            }
        }
        service();
    }

    /** Delivers every asserted, unmasked level pin without a message in service. */
    private void service() {
        while (true) {
            LocalApic.Ipi m = null;
            synchronized (this) {
                for (int pin = 0; pin < PINS && m == null; pin++) {
                    long e = entries[pin];
                    if (lines[pin] && (e & LEVEL) != 0 && (e & MASKED) == 0 && (e & REMOTE_IRR) == 0) {
                        entries[pin] |= REMOTE_IRR;
                        m = message(e);
                    }
                }
            }
            if (m == null) {
                return;
            }
            deliver.accept(m);
        }
    }

    @Override
    public synchronized State save() {
        return new State(select, id, entries.clone(), lines.clone());
    }

    @Override
    public synchronized void restore(State s) {
        if (s.entries().length != PINS || s.lines().length != PINS) {
            throw new IllegalArgumentException("I/O APIC: the record has " + s.entries().length + " entries and "
                    + s.lines().length + " pin levels, not " + PINS);
        }
        if ((s.select() & ~0xFF) != 0 || (s.id() & ~0xF) != 0) {
            throw new IllegalArgumentException("I/O APIC: IOREGSEL " + s.select() + " or ID " + s.id() + " is out of range");
        }
        select = s.select();
        id = s.id();
        System.arraycopy(s.entries(), 0, entries, 0, PINS);
        System.arraycopy(s.lines(), 0, lines, 0, PINS);
    }

    private static LocalApic.Ipi message(long e) {
        return new LocalApic.Ipi(-1, (int) e & 0xFF, (int) (e >>> 8) & 7, (e & (1 << 11)) != 0, (int) (e >>> 56) & 0xFF,
                LocalApic.Ipi.NO_SHORTHAND, true, (e & LEVEL) != 0);
    }
}

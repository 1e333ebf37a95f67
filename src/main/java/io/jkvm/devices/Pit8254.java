package io.jkvm.devices;

import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.LongSupplier;

/**
 * The 8254 programmable interval timer at ports 0x40-0x43, clocked at 1.193182 MHz from the host's monotonic clock:
 * three counters in modes 0-5 with the LSB/MSB access modes, counter latch and read-back commands; counter 0's OUT
 * is IRQ 0 (a rising edge per period in modes 2 and 3, one at the terminal count in modes 0 and 1), counter 2 is
 * gated by port 0x61 bit 0 and its OUT reads back there as bit 5, which is how kernels calibrate their TSC.
 */
public final class Pit8254 implements Persist<Pit8254.State> {
    /**
     * One counter as a snapshot keeps it: mode, access mode, reload value, gate, BCD, the nanoseconds it has counted
     * since its count was loaded (-1: no count yet), the byte order of its port, its latches (-1: none) and the
     * count written so far.
     */
    public record CounterState(int mode, int access, int reload, boolean gate, boolean bcd, long elapsedNanos,
                               boolean writeHigh, boolean readHigh, int latched, int latchedStatus, int written) {
    }

    /** The three counters and port 0x61's two writable bits. */
    public record State(java.util.List<CounterState> counters, int speaker) {
    }

    public static final int PORT = 0x40, PORTS = 4, SPEAKER_PORT = 0x61;
    public static final long HZ = 1_193_182;
    private static final ScheduledExecutorService TICKS = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "pit");
        t.setDaemon(true);
        return t;
    });

    private final InterruptLine irq0;
    private final LongSupplier nanoTime;
    private final Counter[] counters = {new Counter(), new Counter(), new Counter()};
    private int speaker; // port 0x61 bits 0 (gate 2) and 1 (speaker data)
    private ScheduledFuture<?> tick;

    /** One counter: its programmed mode and count, when counting began, and the read/write state of its port. */
    private static final class Counter {
        int mode, access = 3, reload = 0x10000;
        boolean gate = true, bcd;
        boolean loaded; // a count has been written since the mode was set
        long start; // nanoTime when the count was loaded (or the gate rose)
        boolean writeHigh, readHigh;
        int latched = -1, latchedStatus = -1;
        int written;
    }

    public Pit8254(InterruptLine irq0, LongSupplier nanoTime) {
        this.irq0 = irq0;
        this.nanoTime = nanoTime;
        counters[2].gate = false;
    }

    public Pit8254(InterruptLine irq0) {
        this(irq0, System::nanoTime);
    }

    private long ticksSince(Counter c) {
        return ClockTicks.in(nanoTime.getAsLong() - c.start, HZ);
    }

    /** The counter's value now: counting down from the reload value, repeating in modes 2 and 3. */
    private int count(Counter c) {
        if (!c.loaded) {
            return 0;
        }
        if (!c.gate && c.mode != 1 && c.mode != 5) {
            return c.reload & 0xFFFF; // a low gate holds the count (taken as its reload value)
        }
        long t = ticksSince(c);
        long n = c.reload;
        return switch (c.mode) {
            case 2 -> (int) (n - t % n) & 0xFFFF;
            case 3 -> (int) ((n - (2 * t) % n) & 0xFFFE);
            default -> (int) ((n - t) & 0xFFFF); // modes 0, 1, 4, 5 wrap past 0
        };
    }

    /** The counter's OUT line now. */
    private boolean out(Counter c) {
        if (!c.loaded) {
            return c.mode != 0;
        }
        long t = ticksSince(c), n = c.reload;
        return switch (c.mode) {
            case 0, 1 -> t >= n;
            case 2 -> !c.gate || t % n != n - 1;
            case 3 -> !c.gate || (t % n) < (n + 1) / 2;
            default -> t != n; // modes 4 and 5: one tick low at the count
        };
    }

    public Device ports() {
        return new Device() {
            @Override
            public long read(long at, int size) {
                synchronized (Pit8254.this) {
                    return at < 3 ? readCounter(counters[(int) at]) : 0xFF;
                }
            }

            @Override
            public void write(long at, int size, long value) {
                synchronized (Pit8254.this) {
                    if (at == 3) {
                        command((int) value & 0xFF);
                    } else {
                        writeCounter((int) at, (int) value & 0xFF);
                    }
                }
            }
        };
    }

    /** Port 0x61: bits 0 and 1 as written, bit 4 the refresh toggle (every 15 µs), bit 5 counter 2's OUT. */
    public Device speakerPort() {
        return new Device() {
            @Override
            public long read(long at, int size) {
                synchronized (Pit8254.this) {
                    boolean refresh = (nanoTime.getAsLong() / 15_000) % 2 == 1;
                    return speaker | (refresh ? 0x10 : 0) | (out(counters[2]) ? 0x20 : 0);
                }
            }

            @Override
            public void write(long at, int size, long value) {
                synchronized (Pit8254.this) {
                    boolean gate = (value & 1) != 0;
                    Counter c = counters[2];
                    if (gate && !c.gate && c.loaded && (c.mode == 1 || c.mode == 5 || c.mode == 2 || c.mode == 3)) {
                        c.start = nanoTime.getAsLong(); // a rising gate (re)starts these modes
                    }
                    c.gate = gate;
                    speaker = (int) value & 3;
                }
            }
        };
    }

    private int readCounter(Counter c) {
        if (c.latchedStatus >= 0) {
            int s = c.latchedStatus;
            c.latchedStatus = -1;
            return s;
        }
        int value = c.latched >= 0 ? c.latched : count(c);
        int result;
        switch (c.access) {
            case 1 -> result = value & 0xFF;
            case 2 -> result = (value >>> 8) & 0xFF;
            default -> {
                result = c.readHigh ? (value >>> 8) & 0xFF : value & 0xFF;
                c.readHigh = !c.readHigh;
                if (c.readHigh) {
                    return result; // the latch holds for the second byte
                }
            }
        }
        c.latched = -1;
        return result;
    }

    private void command(int v) {
        int select = v >>> 6;
        if (select == 3) { // read-back: bits 1-3 pick counters, bit 5 clear latches counts, bit 4 clear latches status
            for (int i = 0; i < 3; i++) {
                if ((v & (2 << i)) != 0) {
                    Counter c = counters[i];
                    if ((v & 0x20) == 0 && c.latched < 0) {
                        c.latched = count(c);
                    }
                    if ((v & 0x10) == 0 && c.latchedStatus < 0) {
                        c.latchedStatus = (out(c) ? 0x80 : 0) | (c.loaded ? 0 : 0x40) | c.access << 4 | c.mode << 1 | (c.bcd ? 1 : 0);
                    }
                }
            }
            return;
        }
        Counter c = counters[select];
        int access = (v >>> 4) & 3;
        if (access == 0) { // counter latch
            if (c.latched < 0) {
                c.latched = count(c);
            }
            return;
        }
        c.access = access;
        c.mode = (v >>> 1) & 7;
        if (c.mode > 5) {
            c.mode -= 4; // 6 and 7 are modes 2 and 3
        }
        c.bcd = (v & 1) != 0;
        c.writeHigh = false;
        c.readHigh = false;
        c.latched = -1;
        c.loaded = false; // a new mode stops the count until one is written
        if (select == 0) {
            reschedule();
        }
    }

    private void writeCounter(int i, int v) {
        Counter c = counters[i];
        switch (c.access) {
            case 1 -> c.written = v;
            case 2 -> c.written = v << 8;
            default -> {
                if (!c.writeHigh) {
                    c.written = (c.written & 0xFF00) | v;
                    c.writeHigh = true;
                    return;
                }
                c.written = (c.written & 0xFF) | v << 8;
                c.writeHigh = false;
            }
        }
        c.reload = c.written == 0 ? 0x10000 : c.written;
        c.start = nanoTime.getAsLong();
        c.loaded = true;
        if (i == 0) {
            reschedule();
        }
    }

    /** Counter 0's next rising OUT edge, as an IRQ 0 pulse. */
    private void reschedule() {
        if (tick != null) {
            tick.cancel(false);
            tick = null;
        }
        Counter c = counters[0];
        if (!c.loaded) {
            return;
        }
        long periodNanos = c.reload * 1_000_000_000L / HZ;
        boolean periodic = c.mode == 2 || c.mode == 3;
        long elapsed = nanoTime.getAsLong() - c.start;
        long due = periodic ? periodNanos - elapsed % periodNanos : periodNanos - elapsed;
        if (due <= 0 && !periodic) {
            return; // a one-shot count already at its end
        }
        tick = TICKS.schedule(this::fired, Math.max(due, 1000), TimeUnit.NANOSECONDS);
    }

    private void fired() {
        boolean periodic;
        synchronized (this) {
            periodic = counters[0].mode == 2 || counters[0].mode == 3;
            tick = null;
        }
        irq0.pulse(); // a rising edge on IRQ 0
        synchronized (this) {
            if (periodic && tick == null) {
                reschedule();
            }
        }
    }

    @Override
    public synchronized State save() {
        long now = nanoTime.getAsLong();
        java.util.List<CounterState> saved = new java.util.ArrayList<>();
        for (Counter c : counters) {
            saved.add(new CounterState(c.mode, c.access, c.reload, c.gate, c.bcd, c.loaded ? now - c.start : -1,
                    c.writeHigh, c.readHigh, c.latched, c.latchedStatus, c.written));
        }
        return new State(saved, speaker);
    }

    @Override
    public synchronized void restore(State s) {
        if (s.counters() == null || s.counters().size() != counters.length) {
            throw new IllegalArgumentException("PIT: the record has " + (s.counters() == null ? 0 : s.counters().size())
                    + " counters, not 3");
        }
        for (int i = 0; i < counters.length; i++) {
            CounterState c = s.counters().get(i);
            String bad = c.mode() < 0 || c.mode() > 5 ? "mode " + c.mode()
                    : c.access() < 1 || c.access() > 3 ? "access mode " + c.access()
                    : c.reload() < 1 || c.reload() > 0x10000 ? "reload value " + c.reload()
                    : c.latched() < -1 || c.latched() > 0xFFFF ? "latched count " + c.latched()
                    : c.latchedStatus() < -1 || c.latchedStatus() > 0xFF ? "latched status " + c.latchedStatus()
                    : c.written() < 0 || c.written() > 0xFFFF ? "written count " + c.written()
                    : c.elapsedNanos() < -1 ? "elapsed time " + c.elapsedNanos() : null;
            if (bad != null) {
                throw new IllegalArgumentException("PIT counter " + i + ": " + bad + " is out of range");
            }
        }
        if ((s.speaker() & ~3) != 0) {
            throw new IllegalArgumentException("PIT: port 0x61 value " + s.speaker() + " has bits other than 0 and 1");
        }
        long now = nanoTime.getAsLong();
        for (int i = 0; i < counters.length; i++) {
            CounterState from = s.counters().get(i);
            Counter c = counters[i];
            c.mode = from.mode();
            c.access = from.access();
            c.reload = from.reload();
            c.gate = from.gate();
            c.bcd = from.bcd();
            c.loaded = from.elapsedNanos() >= 0;
            c.start = c.loaded ? now - from.elapsedNanos() : 0;
            c.writeHigh = from.writeHigh();
            c.readHigh = from.readHigh();
            c.latched = from.latched();
            c.latchedStatus = from.latchedStatus();
            c.written = from.written();
        }
        speaker = s.speaker();
        reschedule();
    }

    public synchronized void close() {
        if (tick != null) {
            tick.cancel(false);
        }
    }
}

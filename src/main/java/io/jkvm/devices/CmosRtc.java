package io.jkvm.devices;

import java.time.Clock;
import java.time.ZoneOffset;
import java.time.ZonedDateTime;

/**
 * The MC146818 real-time clock and CMOS memory at ports 0x70 (index; bit 7 the NMI mask) and 0x71 (data): the time
 * and date from the host's clock in UTC, in BCD or binary and 12- or 24-hour form as register B asks, the century at
 * 0x32, register A's update-in-progress bit in the 244 µs before each second, D's valid-RAM bit, and the other 114
 * bytes of CMOS memory as storage. The alarm (seconds, minutes and hours at 1, 3 and 5, 0xC0 and up matching any value,
 * enabled by register B's AIE) also wakes the machine from ACPI S3 ({@link #onAlarm}); {@link #nanosToAlarm} says
 * when it next matches.
 * Its three interrupts go to IRQ 8 as register B enables them: periodic (PIE, at the rate register A's RS selects from
 * 256 Hz to 2 Hz and up to 8192 Hz), update-ended (UIE, once a second) and alarm (AIE). Each sets its flag in register
 * C (PF, UF, AF) and IRQF, and the IRQ 8 line stays raised until the guest reads C, which clears them, as the
 * MC146818's open-drain IRQ output does (Linux's rtc-cmos handler reads C). Flags are raised for enabled interrupts
 * only, and time writes are ignored: the time is the host's.
 */
public final class CmosRtc implements Device, Persist<CmosRtc.State> {
    /** The index register and the 128 bytes of CMOS memory (the time registers read the host's clock, not these). */
    public record State(int index, byte[] memory) {
    }

    public static final int PORT = 0x70, PORTS = 2;
    private static final int SECONDS = 0, MINUTES = 2, HOURS = 4, WEEKDAY = 6, DAY = 7, MONTH = 8, YEAR = 9,
            A = 0x0A, B = 0x0B, C = 0x0C, D = 0x0D, CENTURY = 0x32, SECONDS_ALARM = 1, MINUTES_ALARM = 3, HOURS_ALARM = 5;
    private static final int PIE = 0x40, AIE = 0x20, UIE = 0x10, SET = 0x80, PF = 0x40, AF = 0x20, UF = 0x10, IRQF = 0x80;
    private static final java.util.concurrent.ScheduledExecutorService TICKS =
            java.util.concurrent.Executors.newSingleThreadScheduledExecutor(r -> {
                Thread t = new Thread(r, "rtc");
                t.setDaemon(true);
                return t;
            });

    private final Clock clock;
    private final InterruptLine irq8;
    private final byte[] memory = new byte[128];
    private int index;
    /** The IRQ 8 line as this clock drives it: raised with IRQF, until C is read. */
    private boolean raised;
    private java.util.concurrent.ScheduledFuture<?> periodic, update, alarm;
    private boolean closed;
    /** Told each time the alarm goes off (the machine's S3 wake), outside the clock's lock. */
    private volatile Runnable alarmListener = () -> { };

    public CmosRtc(Clock clock, InterruptLine irq8) {
        this.clock = clock;
        this.irq8 = irq8;
        memory[A] = 0x26; // 32.768 kHz time base, 1024 Hz periodic rate
        memory[B] = 0x02; // 24-hour, BCD
    }

    public CmosRtc(Clock clock) {
        this(clock, level -> { });
    }

    public CmosRtc(InterruptLine irq8) {
        this(Clock.systemUTC(), irq8);
    }

    @Override
    public synchronized long read(long at, int size) {
        if (at == 0) {
            return 0xFF; // the index port reads back nothing meaningful
        }
        return switch (index) {
            case SECONDS, MINUTES, HOURS, WEEKDAY, DAY, MONTH, YEAR, CENTURY -> timeField(index);
            case A -> (memory[A] & 0x7F) | (updating() ? 0x80 : 0);
            case C -> {
                int flags = memory[C] & 0xFF;
                memory[C] = 0; // reading C acknowledges its flags
                if (raised) {
                    raised = false;
                    irq8.lower();
                }
                yield flags;
            }
            case D -> 0x80; // the CMOS memory is valid
            default -> memory[index] & 0xFF;
        };
    }

    @Override
    public synchronized void write(long at, int size, long value) {
        int v = (int) value & 0xFF;
        if (at == 0) {
            index = v & 0x7F;
            return;
        }
        switch (index) {
            case SECONDS, MINUTES, HOURS, WEEKDAY, DAY, MONTH, YEAR, CENTURY, C, D -> {
            }
            case A -> {
                memory[A] = (byte) (v & 0x7F);
                schedule();
            }
            case B, SECONDS_ALARM, MINUTES_ALARM, HOURS_ALARM -> {
                memory[index] = (byte) v;
                schedule();
            }
            default -> memory[index] = (byte) v;
        }
    }

    /**
     * The periodic interval register A selects, in nanoseconds: RS 3-15 give 8192 Hz down to 2 Hz, RS 1 and 2 the
     * 256 and 128 Hz of the slower taps; 0 for RS 0 or a divider not running from the 32.768 kHz base (DV != 010).
     */
    static long periodNanos(int registerA) {
        int rs = registerA & 0xF, dv = (registerA >> 4) & 7;
        if (rs == 0 || dv != 2) {
            return 0;
        }
        int shift = rs <= 2 ? rs + 7 : rs;
        return (1_000_000_000L << (shift - 1)) / 32768;
    }

    /** (Re)arms the timers of the interrupts register B enables, after a write to A, B or an alarm register. */
    private void schedule() {
        cancelTimers();
        if (closed) {
            return;
        }
        int b = memory[B] & 0xFF;
        long period = periodNanos(memory[A]);
        if ((b & PIE) != 0 && period > 0) {
            periodic = TICKS.scheduleAtFixedRate(() -> flag(PF), period, period, java.util.concurrent.TimeUnit.NANOSECONDS);
        }
        if ((b & UIE) != 0 && (b & SET) == 0) {
            long toSecond = 1_000_000_000L - clock.instant().getNano();
            update = TICKS.scheduleAtFixedRate(() -> flag(UF), toSecond, 1_000_000_000L, java.util.concurrent.TimeUnit.NANOSECONDS);
        }
        long toAlarm = (b & SET) == 0 ? nanosToAlarm() : -1;
        if (toAlarm >= 0) {
            alarm = TICKS.schedule(this::alarmDue, toAlarm, java.util.concurrent.TimeUnit.NANOSECONDS);
        }
    }

    private void cancelTimers() {
        for (java.util.concurrent.ScheduledFuture<?> f : new java.util.concurrent.ScheduledFuture<?>[]{periodic, update, alarm}) {
            if (f != null) {
                f.cancel(false);
            }
        }
        periodic = update = alarm = null;
    }

    private void alarmDue() {
        synchronized (this) {
            if (alarm == null) {
                return; // disarmed since
            }
            flag(AF);
            schedule(); // the next match
        }
        alarmListener.run();
    }

    /** {@code listener} runs each time the alarm goes off, after its flags are set. */
    public void onAlarm(Runnable listener) {
        alarmListener = listener;
    }

    /** An event sets its flag in C; with its interrupt enabled, IRQF too, and IRQ 8 rises if it is not up already. */
    private synchronized void flag(int bit) {
        memory[C] |= (byte) bit;
        if ((memory[B] & memory[C] & (PIE | AIE | UIE)) != 0) {
            memory[C] |= (byte) IRQF;
            if (!raised) {
                raised = true;
                irq8.raise();
            }
        }
    }

    /** Stops the timers for good: the machine is closing. */
    public synchronized void close() {
        closed = true;
        cancelTimers();
    }

    @Override
    public synchronized State save() {
        return new State(index, memory.clone());
    }

    @Override
    public synchronized void restore(State s) {
        if (s.memory() == null || s.memory().length != memory.length || (s.index() & ~0x7F) != 0) {
            throw new IllegalArgumentException("CMOS: the record has " + (s.memory() == null ? 0 : s.memory().length)
                    + " bytes of memory and index " + s.index() + ", not 128 bytes and an index below 128");
        }
        index = s.index();
        System.arraycopy(s.memory(), 0, memory, 0, memory.length);
        raised = (memory[C] & IRQF) != 0; // the interrupt controllers' records hold the line as it was
        schedule();
    }

    /** Register A's UIP: set during the 244 µs before the time registers change each second. */
    private boolean updating() {
        long micros = clock.instant().getNano() / 1000;
        return micros >= 1_000_000 - 244;
    }

    private int timeField(int field) {
        return timeField(field, clock.instant());
    }

    /** How many nanoseconds from now the alarm next matches the time (to the second); -1 while AIE is off. */
    public synchronized long nanosToAlarm() {
        if ((memory[B] & AIE) == 0) {
            return -1;
        }
        java.time.Instant now = clock.instant(), second = now.truncatedTo(java.time.temporal.ChronoUnit.SECONDS);
        for (int k = 1; k <= 86_400; k++) {
            java.time.Instant t = second.plusSeconds(k);
            if (alarmMatches(SECONDS_ALARM, SECONDS, t) && alarmMatches(MINUTES_ALARM, MINUTES, t) && alarmMatches(HOURS_ALARM, HOURS, t)) {
                return java.time.Duration.between(now, t).toNanos();
            }
        }
        return -1; // an alarm no time of day matches
    }

    private boolean alarmMatches(int alarm, int field, java.time.Instant t) {
        int a = memory[alarm] & 0xFF;
        return (a & 0xC0) == 0xC0 || a == timeField(field, t);
    }

    private int timeField(int field, java.time.Instant instant) {
        ZonedDateTime t = ZonedDateTime.ofInstant(instant, ZoneOffset.UTC);
        boolean binary = (memory[B] & 0x04) != 0, hours24 = (memory[B] & 0x02) != 0;
        int value;
        boolean pm = false;
        switch (field) {
            case SECONDS -> value = t.getSecond();
            case MINUTES -> value = t.getMinute();
            case HOURS -> {
                value = t.getHour();
                if (!hours24) {
                    pm = value >= 12;
                    value = value % 12 == 0 ? 12 : value % 12;
                }
            }
            case WEEKDAY -> value = t.getDayOfWeek().getValue() % 7 + 1; // Sunday is 1
            case DAY -> value = t.getDayOfMonth();
            case MONTH -> value = t.getMonthValue();
            case YEAR -> value = t.getYear() % 100;
            default -> value = t.getYear() / 100;
        }
        int encoded = binary ? value : (value / 10) << 4 | value % 10;
        return encoded | (pm ? 0x80 : 0);
    }
}

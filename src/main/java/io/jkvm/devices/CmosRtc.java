package io.jkvm.devices;

import java.time.Clock;
import java.time.ZoneOffset;
import java.time.ZonedDateTime;

/**
 * The MC146818 real-time clock and CMOS memory at ports 0x70 (index; bit 7 the NMI mask) and 0x71 (data): the time
 * and date from the host's clock in UTC, in BCD or binary and 12- or 24-hour form as register B asks, the century at
 * 0x32, register A's update-in-progress bit in the 244 µs before each second, D's valid-RAM bit, and the other 114
 * bytes of CMOS memory as storage. The alarm (seconds, minutes and hours at 1, 3 and 5, 0xC0 and up matching any value,
 * enabled by register B's AIE) is what wakes the machine from ACPI S3: {@link #nanosToAlarm} says when it next
 * matches and {@link #alarmFired} sets register C's AF and IRQF, which a read of C clears. Its interrupts (periodic,
 * alarm, update) are not raised on IRQ 8; time writes are ignored.
 */
public final class CmosRtc implements Device, Persist<CmosRtc.State> {
    /** The index register and the 128 bytes of CMOS memory (the time registers read the host's clock, not these). */
    public record State(int index, byte[] memory) {
    }

    public static final int PORT = 0x70, PORTS = 2;
    private static final int SECONDS = 0, MINUTES = 2, HOURS = 4, WEEKDAY = 6, DAY = 7, MONTH = 8, YEAR = 9,
            A = 0x0A, B = 0x0B, C = 0x0C, D = 0x0D, CENTURY = 0x32, SECONDS_ALARM = 1, MINUTES_ALARM = 3, HOURS_ALARM = 5;
    private static final int AIE = 0x20, AF = 0x20, IRQF = 0x80;

    private final Clock clock;
    private final byte[] memory = new byte[128];
    private int index;

    public CmosRtc(Clock clock) {
        this.clock = clock;
        memory[A] = 0x26; // 32.768 kHz time base, 1024 Hz periodic rate
        memory[B] = 0x02; // 24-hour, BCD
    }

    public CmosRtc() {
        this(Clock.systemUTC());
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
            case A -> memory[A] = (byte) (v & 0x7F);
            default -> memory[index] = (byte) v;
        }
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

    /** The alarm went off: register C's AF and IRQF are set until the guest reads C. */
    public synchronized void alarmFired() {
        memory[C] |= (byte) (IRQF | AF);
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

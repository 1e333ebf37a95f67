package io.jkvm.devices;

import java.util.function.IntConsumer;
import java.util.function.LongSupplier;

/**
 * The ACPI fixed-hardware power-management registers the FADT points at, in 12 ports from its base: PM1a status
 * (write 1 to clear) and enable at +0 and +2, PM1a control at +4 (SCI_EN always set, as there is no SMM to hand
 * ACPI over from; SLP_TYP, and SLP_EN, which puts the machine in that sleep state), and the 32-bit PM timer at +8,
 * counting at 3.579545 MHz from the host's monotonic clock. The SCI is not raised: no event here needs one.
 */
public final class AcpiPm implements Device, Persist<AcpiPm.State> {
    public static final int PORTS = 12;
    public static final long TIMER_HZ = 3_579_545;
    /** PM1 status bits: the timer carry, the power button, the RTC alarm and wake. */
    public static final int TMR_STS = 1, PWRBTN_STS = 1 << 8, RTC_STS = 1 << 10, WAK_STS = 1 << 15;
    private static final int STATUS_BITS = TMR_STS | 1 << 4 | 1 << 5 | PWRBTN_STS | 1 << 9 | RTC_STS | 1 << 14 | WAK_STS;
    private static final int ENABLE_BITS = 1 | 1 << 5 | 1 << 8 | 1 << 9 | 1 << 10 | 1 << 14;
    private static final int SCI_EN = 1, SLP_TYP_SHIFT = 10, SLP_EN = 1 << 13, CONTROL_BITS = 0x1C07;

    /** PM1a status, enable and control as the guest reads them. */
    public record State(int status, int enable, int control) {
    }

    private final IntConsumer sleep;
    private final LongSupplier nanoTime;
    private int status, enable, control = SCI_EN;

    /** {@code sleep}: what SLP_EN with a SLP_TYP does (called outside the device's lock); the timer reads {@code nanoTime}. */
    public AcpiPm(IntConsumer sleep, LongSupplier nanoTime) {
        this.sleep = sleep;
        this.nanoTime = nanoTime;
    }

    public AcpiPm(IntConsumer sleep) {
        this(sleep, System::nanoTime);
    }

    @Override
    public synchronized long read(long offset, int size) {
        long image = (status & 0xFFFFL) | (enable & 0xFFFFL) << 16 | (long) (control | SCI_EN) << 32;
        long value;
        if (offset >= 8) {
            value = (ClockTicks.in(nanoTime.getAsLong(), TIMER_HZ) & 0xFFFFFFFFL) >>> (8 * (offset - 8));
        } else {
            value = image >>> (8 * offset);
        }
        return size >= 8 ? value : value & ((1L << (8 * size)) - 1);
    }

    @Override
    public void write(long offset, int size, long value) {
        int slpTyp = -1;
        synchronized (this) {
            for (int i = 0; i < size && offset + i < 8; i++) {
                int at = (int) offset + i, b = (int) (value >>> (8 * i)) & 0xFF, shift = 8 * (at & 1);
                switch (at >>> 1) {
                    case 0 -> status &= ~((b << shift) & STATUS_BITS); // write 1 to clear
                    case 1 -> enable = (enable & ~(0xFF << shift)) | ((b << shift) & ENABLE_BITS);
                    case 2 -> {
                        int bits = b << shift;
                        control = (control & ~(0xFF << shift)) | (bits & CONTROL_BITS) | SCI_EN;
                        if ((bits & SLP_EN) != 0) {
                            slpTyp = (control >>> SLP_TYP_SHIFT) & 7;
                        }
                    }
                    default -> {
                    }
                }
            }
        }
        if (slpTyp >= 0) {
            sleep.accept(slpTyp);
        }
    }

    /** The machine woke from a sleep state: WAK_STS and {@code cause} (e.g. {@link #RTC_STS}) are set. */
    public synchronized void woke(int cause) {
        status |= WAK_STS | (cause & STATUS_BITS);
    }

    /** Whether the guest enabled the RTC alarm as a wake event (PM1 RTC_EN). */
    public synchronized boolean rtcWakeEnabled() {
        return (enable & RTC_STS) != 0;
    }

    @Override
    public synchronized State save() {
        return new State(status, enable, control);
    }

    @Override
    public synchronized void restore(State s) {
        if ((s.status() & ~STATUS_BITS) != 0 || (s.enable() & ~ENABLE_BITS) != 0 || (s.control() & ~CONTROL_BITS) != 0) {
            throw new IllegalArgumentException(String.format("ACPI PM: status 0x%x, enable 0x%x or control 0x%x has bits the"
                    + " registers do not hold", s.status(), s.enable(), s.control()));
        }
        status = s.status();
        enable = s.enable();
        control = s.control() | SCI_EN;
    }
}

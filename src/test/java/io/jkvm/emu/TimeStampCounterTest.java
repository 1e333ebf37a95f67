package io.jkvm.emu;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The core's TSC: the clock scaled to a rate exactly, without overflow, and unbroken across a change of rate;
 * IA32_TSC_ADJUST (tsc_adjust) moving with the guest's writes to either MSR, and not with the machine's.
 */
class TimeStampCounterTest {
    @Test
    void theClockScalesToTheRateExactly() {
        assertEquals(1_234_567_891L, TimeStampCounter.ticks(1_234_567_891L, 1_000_000), "1 GHz: nanoseconds");
        assertEquals(3_000_000_000L, TimeStampCounter.ticks(1_500_000_000L, 2_000_000));
        assertEquals(2_596_130_000L + 1_298_065L, TimeStampCounter.ticks(1_000_500_000L, 2_596_130));
        assertEquals(1_000L, TimeStampCounter.ticks(1_000_000L, 1_000), "1 MHz");
        long thirtySixYears = Long.MAX_VALUE / 8;
        long seconds = thirtySixYears / 1_000_000_000L, rest = thirtySixYears % 1_000_000_000L;
        assertEquals(seconds * 4_000_000_000L + rest * 4, TimeStampCounter.ticks(thirtySixYears, 4_000_000),
                "decades of uptime at 4 GHz do not overflow");
    }

    @Test
    void aNewRateGoesOnFromTheValueAndCountsAtThatRate() throws InterruptedException {
        TimeStampCounter tsc = new TimeStampCounter();
        assertEquals(TimeStampCounter.DEFAULT_KHZ, tsc.khz());
        tsc.write(5_000_000_000L);
        long before = tsc.read();
        tsc.setKhz(2_000_000);
        long after = tsc.read();
        assertEquals(2_000_000, tsc.khz());
        assertTrue(after >= before && after < before + 1_000_000_000L, "unbroken: " + before + " then " + after);

        long outerStart = System.nanoTime();
        long a = tsc.read();
        long innerStart = System.nanoTime();
        Thread.sleep(5);
        long innerEnd = System.nanoTime();
        long b = tsc.read();
        long outerEnd = System.nanoTime();
        // Each read samples the clock between the outer and the inner bounds: two ticks per nanosecond between them.
        assertTrue(b - a <= 2 * (outerEnd - outerStart) + 1, "at most 2 GHz: " + (b - a));
        assertTrue(b - a >= 2 * (innerEnd - innerStart) - 1, "at least 2 GHz: " + (b - a));
        assertThrows(IllegalArgumentException.class, () -> tsc.setKhz(0));
    }

    /** The SDM's rule (17.17.3): a guest's write to IA32_TSC moves IA32_TSC_ADJUST by as much, and the reverse. */
    @Test
    void tscAdjustFollowsTheGuestsWritesAndNotTheMachines() {
        TimeStampCounter tsc = new TimeStampCounter();
        assertEquals(0, tsc.adjust());
        long before = tsc.read();
        tsc.guestWriteAdjust(10_000_000_000L);
        long after = tsc.read();
        assertTrue(after - before >= 10_000_000_000L && after - before < 11_000_000_000L, "the TSC moved by the adjust: " + (after - before));
        long value = tsc.read();
        tsc.guestWrite(0);
        long adjust = tsc.adjust();
        assertTrue(Math.abs(adjust - (10_000_000_000L - value)) < 1_000_000_000L,
                "the TSC set back by its value: the adjust by as much: " + adjust + " after " + value);
        tsc.write(1L << 40); // a restore
        tsc.setAdjust(7);
        assertEquals(7, tsc.adjust(), "the machine's writes set each alone");
        assertTrue(tsc.read() >= 1L << 40 && tsc.read() < (1L << 40) + 1_000_000_000L);
    }
}

package io.jkvm.emu;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The core's TSC: the clock scaled to a rate exactly, without overflow, and unbroken across a change of rate. */
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
}

package io.jkvm.devices;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The ACPI PM1a registers and PM timer: write-1-to-clear status, SCI_EN, SLP_EN's sleep type, the 3.58 MHz count. */
class AcpiPmTest {
    private final AtomicLong now = new AtomicLong(5_000_000_000L);
    private final List<Integer> sleeps = new ArrayList<>();
    private final AcpiPm pm = new AcpiPm(sleeps::add, now::get);

    @Test
    void theTimerCountsAt3579545HzFromTheHostClock() {
        long before = pm.read(8, 4);
        now.addAndGet(1_000_000_000L);
        assertEquals(AcpiPm.TIMER_HZ, (pm.read(8, 4) - before) & 0xFFFFFFFFL, "one second");
        now.set(3_000_000_000_000L); // 50 minutes: past where nanos x Hz overflows a long
        assertEquals((3000 * AcpiPm.TIMER_HZ) & 0xFFFFFFFFL, pm.read(8, 4));
        assertEquals((3000 * AcpiPm.TIMER_HZ >>> 16) & 0xFF, pm.read(10, 1), "a byte of it");
    }

    @Test
    void statusClearsOnWritingOnesAndSlpEnSleepsWithItsType() {
        assertEquals(1, pm.read(4, 2), "SCI_EN: ACPI is on, there is no SMM to hand it over");
        pm.woke(AcpiPm.RTC_STS);
        assertEquals(AcpiPm.WAK_STS | AcpiPm.RTC_STS, pm.read(0, 2));
        pm.write(0, 2, AcpiPm.RTC_STS);
        assertEquals(AcpiPm.WAK_STS, pm.read(0, 2), "only the bit written as 1 cleared");
        assertFalse(pm.rtcWakeEnabled());
        pm.write(2, 2, AcpiPm.RTC_STS);
        assertTrue(pm.rtcWakeEnabled());
        assertEquals((long) AcpiPm.RTC_STS << 16 | AcpiPm.WAK_STS, pm.read(0, 4), "status and enable in one dword");
        pm.write(4, 2, 5 << 10);
        assertEquals(List.of(), sleeps, "SLP_TYP alone does nothing");
        pm.write(4, 2, 1 << 10 | 1 << 13);
        assertEquals(List.of(1), sleeps, "SLP_EN with SLP_TYP 1");
        assertEquals(1 << 10 | 1, pm.read(4, 2), "SLP_EN reads 0");
        AcpiPm other = new AcpiPm(t -> { }, now::get);
        other.restore(pm.save());
        assertEquals(pm.read(0, 4), other.read(0, 4));
        assertThrows(IllegalArgumentException.class, () -> other.restore(new AcpiPm.State(0, 0, 1 << 13)));
    }
}

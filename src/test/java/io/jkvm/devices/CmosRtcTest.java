package io.jkvm.devices;

import org.junit.jupiter.api.Test;

import java.time.Clock;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The CMOS clock's time in each of its formats, its status registers, memory and IRQ 8; the 8042's reset line. */
class CmosRtcTest {
    private final CmosRtc rtc = new CmosRtc(Clock.fixed(Instant.parse("2026-11-30T21:07:05.500Z"), ZoneOffset.UTC));

    @org.junit.jupiter.api.AfterEach
    void stopTimers() {
        rtc.close();
    }

    private int read(int index) {
        rtc.write(0, 1, index | 0x80); // bit 7: NMIs masked, as kernels write it
        return (int) rtc.read(1, 1);
    }

    @Test
    void theTimeInBcdBinaryAnd12HourForms() {
        assertEquals(0x05, read(0));
        assertEquals(0x07, read(2));
        assertEquals(0x21, read(4), "24-hour BCD after reset");
        assertEquals(0x30, read(7));
        assertEquals(0x11, read(8));
        assertEquals(0x26, read(9));
        assertEquals(0x20, read(0x32), "the century");
        assertEquals(2, read(6), "Monday: Sunday is 1");
        rtc.write(0, 1, 0x0B);
        rtc.write(1, 1, 0x04); // binary, 12-hour
        assertEquals(0x80 | 9, read(4), "9 PM");
        assertEquals(30, read(7));
    }

    @Test
    void statusRegistersAndMemory() {
        assertEquals(0x26, read(0x0A), "not updating half a second before the next second");
        assertEquals(0x80, read(0x0D), "valid RAM");
        rtc.write(0, 1, 0x40);
        rtc.write(1, 1, 0x5A);
        assertEquals(0x5A, read(0x40), "CMOS memory keeps what was written");
        rtc.write(0, 1, 0);
        rtc.write(1, 1, 0x59);
        assertEquals(0x05, read(0), "time writes are ignored: the host's clock");
    }

    @Test
    void the8042ResetsOnCommandFeOrAClearedOutputPortResetBit() {
        AtomicInteger resets = new AtomicInteger();
        I8042 kbc = new I8042(resets::incrementAndGet);
        assertEquals(0x1C, kbc.commandPort().read(0, 1), "buffers empty");
        kbc.commandPort().write(0, 1, 0xAD); // some other command
        assertEquals(0, resets.get());
        kbc.commandPort().write(0, 1, 0xFE);
        assertEquals(1, resets.get());
        kbc.commandPort().write(0, 1, 0xD1);
        kbc.dataPort().write(0, 1, 0xFE); // output port with bit 0 (reset) clear
        assertEquals(2, resets.get());
        kbc.commandPort().write(0, 1, 0xD1);
        kbc.dataPort().write(0, 1, 0xFF);
        assertEquals(2, resets.get(), "bit 0 set: no reset");
    }

    /** Memory, register B's format and the index move with the record; a record of the wrong size is one line. */
    @Test
    void itsRecordCarriesMemoryFormatAndIndex() {
        rtc.write(0, 1, 0x0B);
        rtc.write(1, 1, 0x06); // binary, 24-hour
        rtc.write(0, 1, 0x50);
        rtc.write(1, 1, 0xA5);
        rtc.write(0, 1, 0x51); // the index a restored guest reads next
        CmosRtc other = new CmosRtc(Clock.fixed(Instant.parse("2026-11-30T21:07:05.500Z"), ZoneOffset.UTC));
        other.restore(rtc.save());
        assertEquals(0, other.read(1, 1), "index 0x51, never written");
        other.write(0, 1, 0x50);
        assertEquals(0xA5, other.read(1, 1));
        other.write(0, 1, 4);
        assertEquals(21, other.read(1, 1), "the hour in binary, as register B says");
        IoApicTest.assertThrowsOneLine(() -> other.restore(new CmosRtc.State(0, new byte[64])), "64 bytes");
    }

    /** The alarm with don't-care fields matches at the next second; a set hour waits for it; AF and IRQF read once. */
    @Test
    void theAlarmSaysWhenItNextMatchesAndRegisterCReportsItOnce() throws InterruptedException {
        assertEquals(-1, rtc.nanosToAlarm(), "AIE off: no alarm");
        for (int alarm : new int[]{1, 3, 5}) {
            rtc.write(0, 1, alarm);
            rtc.write(1, 1, 0xC0); // don't care
        }
        rtc.write(0, 1, 0x0B);
        rtc.write(1, 1, 0x22); // AIE, 24-hour BCD
        assertEquals(500_000_000L, rtc.nanosToAlarm(), "at 21:07:05.5, the next second");
        rtc.write(0, 1, 5);
        rtc.write(1, 1, 0x23); // 23:xx:xx, BCD
        assertEquals((2 * 3600 - 7 * 60 - 5) * 1_000_000_000L - 500_000_000L, rtc.nanosToAlarm(), "23:00:00");
        assertEquals(0, read(0x0C));
        java.util.concurrent.CountDownLatch wentOff = new java.util.concurrent.CountDownLatch(1);
        rtc.onAlarm(wentOff::countDown);
        rtc.write(0, 1, 5);
        rtc.write(1, 1, 0xC0); // any hour again: the next second, 500 ms ahead
        assertTrue(wentOff.await(5, java.util.concurrent.TimeUnit.SECONDS), "the alarm's own timer went off");
        assertEquals(0xA0, read(0x0C), "IRQF and AF");
        assertEquals(0, read(0x0C), "a read clears them");
    }

    /** IRQ 8 as a device it drives sees it: every level change, in order, with a way to wait for the next rise. */
    private static final class Line implements InterruptLine {
        final java.util.List<Boolean> changes = java.util.Collections.synchronizedList(new java.util.ArrayList<>());
        private final java.util.concurrent.Semaphore rises = new java.util.concurrent.Semaphore(0);

        @Override
        public void set(boolean level) {
            changes.add(level);
            if (level) {
                rises.release();
            }
        }

        boolean roseWithin(long millis) throws InterruptedException {
            return rises.tryAcquire(millis, java.util.concurrent.TimeUnit.MILLISECONDS);
        }
    }

    private static int read(CmosRtc c, int index) {
        c.write(0, 1, index);
        return (int) c.read(1, 1);
    }

    private static void write(CmosRtc c, int index, int value) {
        c.write(0, 1, index);
        c.write(1, 1, value);
    }

    @Test
    void theRateSelectGivesThePeriodsOfTheDatasheet() {
        assertEquals(976_562, CmosRtc.periodNanos(0x26), "RS 6: 1024 Hz, the reset rate");
        assertEquals(122_070, CmosRtc.periodNanos(0x23), "RS 3: 8192 Hz");
        assertEquals(3_906_250, CmosRtc.periodNanos(0x21), "RS 1: 256 Hz");
        assertEquals(7_812_500, CmosRtc.periodNanos(0x22), "RS 2: 128 Hz");
        assertEquals(500_000_000, CmosRtc.periodNanos(0x2F), "RS 15: 2 Hz");
        assertEquals(0, CmosRtc.periodNanos(0x20), "RS 0: none");
        assertEquals(0, CmosRtc.periodNanos(0x66), "the divider held in reset: none");
    }

    /** PIE: IRQ 8 rises with PF and IRQF in C, stays up until C is read, and rises again at a later period. */
    @Test
    void thePeriodicInterruptRaisesIrq8UntilRegisterCIsRead() throws InterruptedException {
        Line line = new Line();
        CmosRtc c = new CmosRtc(line);
        try {
            assertTrue(!line.roseWithin(50), "no interrupt enabled after reset");
            write(c, 0x0A, 0x23); // 8192 Hz
            write(c, 0x0B, 0x42); // PIE, 24-hour BCD
            assertTrue(line.roseWithin(1000));
            Thread.sleep(5); // many periods: the line stays up, no second rise
            assertEquals(java.util.List.of(true), java.util.List.copyOf(line.changes));
            assertEquals(0xC0, read(c, 0x0C), "IRQF and PF");
            // at 8192 Hz the next period (122 us on) may already have raised it again: the first two changes count
            assertEquals(java.util.List.of(true, false), java.util.List.copyOf(line.changes).subList(0, 2), "reading C lowers IRQ 8");
            assertTrue(line.roseWithin(1000), "the next period raises it again");
            write(c, 0x0B, 0x02); // PIE off
            read(c, 0x0C);
            int changes = line.changes.size();
            Thread.sleep(20);
            assertEquals(0, read(c, 0x0C) & 0x80, "no IRQF with PIE off");
            assertEquals(changes, line.changes.size(), "and IRQ 8 stays low");
        } finally {
            c.close();
        }
    }

    /** UIE: once a second, UF and IRQF; AIE with every alarm byte "don't care": each second too, AF and IRQF. */
    @Test
    void theUpdateAndAlarmInterruptsComeOnceASecond() throws InterruptedException {
        for (int[] setup : new int[][]{{0x12, 0x90}, {0x22, 0xA0}}) {
            Line line = new Line();
            CmosRtc c = new CmosRtc(line);
            try {
                for (int alarm : new int[]{1, 3, 5}) {
                    write(c, alarm, 0xC0);
                }
                write(c, 0x0B, setup[0]);
                assertTrue(line.roseWithin(1500), "within a second and a half");
                assertEquals(setup[1], read(c, 0x0C));
                assertTrue(line.roseWithin(1500), "and again the next second");
            } finally {
                c.close();
            }
        }
    }

    @Test
    void aRestoredClockArmsTheInterruptsItsRecordEnables() throws InterruptedException {
        Line line = new Line();
        CmosRtc source = new CmosRtc(level -> { });
        write(source, 0x0A, 0x23);
        write(source, 0x0B, 0x42);
        CmosRtc.State state = source.save();
        source.close();
        CmosRtc restored = new CmosRtc(line);
        try {
            restored.restore(state);
            read(restored, 0x0C); // the record may hold IRQF from a period before the save: acknowledged here
            assertTrue(line.roseWithin(1000), "PIE at 8192 Hz from the record");
        } finally {
            restored.close();
        }
    }
}

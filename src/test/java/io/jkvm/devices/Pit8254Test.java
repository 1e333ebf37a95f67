package io.jkvm.devices;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The 8254 as kernels use it: counter 2 gated through port 0x61 for TSC calibration, latches, read-back, IRQ 0. */
class Pit8254Test {
    private final AtomicLong now = new AtomicLong(1_000_000_000L);
    private final AtomicInteger edges = new AtomicInteger();
    private final Pit8254 pit = new Pit8254(level -> {
        if (level) {
            edges.incrementAndGet();
        }
    }, now::get);
    private final Device ports = pit.ports(), speaker = pit.speakerPort();

    private void advanceTicks(long ticks) {
        now.addAndGet(ticks * 1_000_000_000L / Pit8254.HZ + 1);
    }

    @Test
    void counterTwoInModeZeroRaisesOutWhenItReachesZeroAsCalibrationPollsIt() {
        speaker.write(0, 1, 1); // gate 2 high, speaker off
        ports.write(3, 1, 0xB0); // counter 2, LSB then MSB, mode 0
        ports.write(2, 1, 0xFF);
        ports.write(2, 1, 0xFF); // 0xFFFF ticks: about 55 ms
        assertEquals(0, speaker.read(0, 1) & 0x20, "OUT2 low while counting");
        advanceTicks(1000);
        ports.write(3, 1, 0x80); // latch counter 2
        int count = (int) ports.read(2, 1) | (int) ports.read(2, 1) << 8;
        assertTrue(count <= 0xFFFF - 1000 && count > 0xFFFF - 1010, "counted down 1000 ticks: 0x" + Integer.toHexString(count));
        advanceTicks(0xFFFF);
        assertEquals(0x20, speaker.read(0, 1) & 0x20, "OUT2 high at the terminal count");
    }

    @Test
    void readBackGivesTheStatusAndTheCount() {
        ports.write(3, 1, 0x34); // counter 0, LSB/MSB, mode 2
        ports.write(0, 1, 0x00);
        ports.write(0, 1, 0x10); // 0x1000
        advanceTicks(0x100);
        ports.write(3, 1, 0xC2); // read-back: counter 0, count and status
        int status = (int) ports.read(0, 1);
        assertEquals(0x34, status & 0x3F, "access 3 (LSB then MSB), mode 2, binary");
        int count = (int) ports.read(0, 1) | (int) ports.read(0, 1) << 8;
        assertTrue(Math.abs(count - 0xF00) <= 2, "0x1000 - 0x100: 0x" + Integer.toHexString(count));
        pit.close();
    }

    @Test
    @Timeout(10)
    void counterZeroInModeTwoPulsesIrqZeroEveryPeriod() throws InterruptedException {
        Pit8254 real = new Pit8254(level -> {
            if (level) {
                edges.incrementAndGet();
            }
        });
        Device p = real.ports();
        p.write(3, 1, 0x34);
        p.write(0, 1, 0xA9);
        p.write(0, 1, 0x04); // 1193 ticks: 1 ms
        while (edges.get() < 5) {
            Thread.sleep(1);
        }
        real.close();
        assertTrue(edges.get() >= 5, "five rising edges on IRQ 0");
    }

    /** A counting counter's record keeps how far it had counted: restored an hour of host time later, it goes on from there. */
    @Test
    void itsRecordKeepsTheCountAcrossAnyGapInHostTime() {
        ports.write(3, 1, 0xB0); // counter 2, LSB then MSB, mode 0
        ports.write(2, 1, 0x00);
        ports.write(2, 1, 0x80); // 0x8000
        speaker.write(0, 1, 1);
        advanceTicks(0x1000);
        Pit8254.State saved = pit.save();
        AtomicLong later = new AtomicLong(now.get() + 3_600_000_000_000L);
        Pit8254 other = new Pit8254(level -> { }, later::get);
        other.restore(saved);
        Device otherPorts = other.ports();
        otherPorts.write(3, 1, 0x80); // latch counter 2
        int count = (int) otherPorts.read(2, 1) | (int) otherPorts.read(2, 1) << 8;
        assertTrue(Math.abs(count - 0x7000) <= 2, "0x8000 - 0x1000: 0x" + Integer.toHexString(count));
        assertEquals(saved, other.save(), "the same record back");
        Pit8254.CounterState c = saved.counters().get(2);
        IoApicTest.assertThrowsOneLine(() -> other.restore(new Pit8254.State(java.util.List.of(c, c,
                new Pit8254.CounterState(7, 3, 1, true, false, -1, false, false, -1, -1, 0)), 0)), "counter 2: mode 7");
        pit.close();
        other.close();
    }

    /** Hours after its count was loaded, a periodic counter still reads where the 1.193182 MHz clock puts it. */
    @Test
    void aCounterReadsRightHoursAfterItsCountWasLoaded() {
        ports.write(3, 1, 0x34); // counter 0, LSB/MSB, mode 2
        ports.write(0, 1, 0x00);
        ports.write(0, 1, 0x10); // 0x1000
        long hours = 3 * 3_600_000_000_000L; // nanos x 1193182 passes 2^63 after 2.1 hours
        now.addAndGet(hours);
        long ticks = java.math.BigInteger.valueOf(hours).multiply(java.math.BigInteger.valueOf(Pit8254.HZ))
                .divide(java.math.BigInteger.valueOf(1_000_000_000L)).longValueExact();
        ports.write(3, 1, 0x00); // latch counter 0
        int count = (int) ports.read(0, 1) | (int) ports.read(0, 1) << 8;
        assertEquals(0x1000 - ticks % 0x1000, count);
        pit.close();
    }
}

package io.jkvm.devices;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.util.concurrent.atomic.AtomicLong;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The TSC-deadline timer's expiries (SDM 11.5.4.1): each deadline fires at its time, whichever expiry on the timers'
 * thread brings it there, and a guest's re-arms reuse the expiry already on its way where it comes no later than the
 * new deadline, as a tick's re-arm after a fire finds the look-ahead one. The TSC runs at 1 GHz here: ticks are
 * nanoseconds.
 */
class LocalApicDeadlineTest {
    private static final long GHZ_KHZ = 1_000_000, MS = 1_000_000;
    /** The host time the interrupt line first went up (0: not yet). */
    private final AtomicLong raisedAt = new AtomicLong();
    private final LocalApic apic = new LocalApic(0, ipi -> { }, up -> {
        if (up) {
            raisedAt.compareAndSet(0, System.nanoTime());
        }
    }, null);

    LocalApicDeadlineTest() {
        apic.write(LocalApic.SPIV, 4, 0x1FF);
        apic.write(LocalApic.LVT_TIMER, 4, 0x40042); // TSC-deadline mode, vector 0x42
    }

    @AfterEach
    void close() {
        apic.close();
    }

    /** Arms the deadline {@code ms} ahead of now (the TSC as the host's clock); returns the host time armed at. */
    private long armIn(long ms) {
        long now = System.nanoTime();
        apic.setTscDeadline(now + ms * MS, now, GHZ_KHZ, now);
        return now;
    }

    private long waitForTheInterrupt() throws InterruptedException {
        while (raisedAt.get() == 0) {
            Thread.sleep(1);
        }
        assertEquals(0x42, apic.acknowledge());
        apic.write(LocalApic.EOI, 4, 0); // in service no more: the next one is delivered
        return raisedAt.get();
    }

    @Test
    @Timeout(10)
    void aLaterDeadlineReusesTheExpiryOnItsWayAndFiresAtItsOwnTime() throws InterruptedException {
        armIn(200);
        assertEquals(1, apic.deadlineExpiriesScheduled());
        long armed = armIn(600);
        assertEquals(1, apic.deadlineExpiriesScheduled(), "no second expiry: the first comes sooner and waits on");
        long fired = waitForTheInterrupt();
        assertTrue(fired - armed >= 600 * MS, "fired " + (fired - armed) / MS + " ms after the later arm, not at the earlier deadline");
        assertEquals(0, apic.tscDeadline(), "fired: the MSR reads 0");
    }

    @Test
    @Timeout(10)
    void anEarlierDeadlineGetsAnExpiryOfItsOwn() throws InterruptedException {
        armIn(5_000);
        long armed = armIn(100);
        assertEquals(2, apic.deadlineExpiriesScheduled());
        long fired = waitForTheInterrupt();
        assertTrue(fired - armed >= 100 * MS && fired - armed < 4_000 * MS, "fired " + (fired - armed) / MS + " ms after");
    }

    @Test
    @Timeout(20)
    void aTicksNextArmFindsTheExpiryItsLastFireLeftAtTheNextPeriod() throws InterruptedException {
        long period = 100 * MS, start = System.nanoTime();
        for (int tick = 1; tick <= 3; tick++) { // deadlines at whole periods, each armed as the one before fired
            long now = System.nanoTime();
            apic.setTscDeadline(start + tick * period, now, GHZ_KHZ, now);
            long fired = waitForTheInterrupt();
            raisedAt.set(0);
            assertTrue(fired - start >= tick * period, "tick " + tick + " fired " + (fired - start) / MS + " ms in");
        }
        long scheduled = apic.deadlineExpiriesScheduled();
        long now = System.nanoTime();
        apic.setTscDeadline(start + 4 * period, now, GHZ_KHZ, now);
        assertEquals(scheduled, apic.deadlineExpiriesScheduled(), "the expiry the third tick left brings the fourth");
        long fired = waitForTheInterrupt();
        assertTrue(fired - start >= 4 * period, "the fourth fired " + (fired - start) / MS + " ms in");
    }

    @Test
    @Timeout(10)
    void aDisarmedDeadlineNeverFires() throws InterruptedException {
        armIn(50);
        armIn(200); // the expiry at 50 ms waits on for it
        long now = System.nanoTime();
        apic.setTscDeadline(0, now, GHZ_KHZ, now);
        Thread.sleep(300);
        assertEquals(0, raisedAt.get(), "the expiry on its way found nothing armed");
        assertEquals(1, apic.deadlineExpiriesScheduled(), "and did not go on to the deadline disarmed");
    }

    @Test
    void aSnapshotKeepsTheDeadlinesTimeNotTheExpirysOnItsWay() {
        armIn(200);
        armIn(5_000);
        long left = apic.save().deadlineNanos();
        assertTrue(left > 4_000 * MS && left <= 5_000 * MS, "left " + left / MS + " ms");
    }
}

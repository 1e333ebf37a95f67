package io.jkvm.devices;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The local APIC's registers and interrupt logic as the SDM gives them (Vol. 3A, chapter 11): reset values, software
 * enable, IRR to ISR on acknowledge and EOI, the task priority holding back a lower class, the ICR's messages, the
 * timer, LINT0's ExtINT pass-through, destinations, and the state record.
 */
class LocalApicTest {
    private final List<LocalApic.Ipi> sent = new ArrayList<>();
    private final AtomicBoolean intr = new AtomicBoolean();
    private int picVector = 0x30;
    private final LocalApic apic = new LocalApic(2, sent::add, intr::set, () -> picVector);

    private int reg(int offset) {
        return (int) apic.read(offset, 4);
    }

    private void set(int offset, int value) {
        apic.write(offset, 4, value);
    }

    @Test
    void resetValues() {
        assertEquals(2 << 24, reg(LocalApic.ID));
        assertEquals(0x00050014, reg(LocalApic.VERSION));
        assertEquals(0xFF, reg(LocalApic.SPIV), "software-disabled, spurious vector 0xFF");
        assertEquals(0xFFFFFFFF, reg(LocalApic.DFR), "flat model");
        for (int lvt = LocalApic.LVT_TIMER; lvt <= LocalApic.LVT_ERROR; lvt += 0x10) {
            assertEquals(LocalApic.MASKED, reg(lvt), "LVT 0x" + Integer.toHexString(lvt) + " masked");
        }
        assertEquals(LocalApic.DEFAULT_BASE, apic.mappedAt());
    }

    @Test
    void theParavirtualIpiSendsTheIcrMessageToEachApicIdOfItsBitmap() {
        int reached = apic.sendToApicIds(0b1010, 5, (LocalApic.Ipi.NMI << 8) | 0x42);
        assertEquals(2, reached);
        assertEquals(List.of(6, 8), sent.stream().map(LocalApic.Ipi::destination).toList(), "IDs 5 + 1 and 5 + 3");
        assertTrue(sent.stream().allMatch(i -> i.vector() == 0x42 && i.deliveryMode() == LocalApic.Ipi.NMI
                && !i.logical() && i.shorthand() == LocalApic.Ipi.NO_SHORTHAND && i.source() == 2));
        sent.clear();
        assertEquals(0, apic.sendToApicIds(1, 0x1_0000_0000L, 0x30), "no APIC ID is wider than 32 bits");
        assertTrue(sent.isEmpty());
    }

    @Test
    void interruptsWaitForTheSoftwareEnableThenGoThroughIsrAndEoi() {
        apic.accept(0x41, false);
        assertFalse(intr.get(), "software-disabled: held in IRR");
        set(LocalApic.SPIV, 0x1FF);
        assertTrue(intr.get());
        assertEquals(1 << 1, reg(LocalApic.IRR + 0x20), "vector 0x41: IRR word 2, bit 1");
        assertEquals(0x41, apic.acknowledge());
        assertFalse(intr.get());
        assertEquals(1 << 1, reg(LocalApic.ISR + 0x20));
        assertEquals(0x40, reg(LocalApic.PPR), "the class in service");
        set(LocalApic.EOI, 0);
        assertEquals(0, reg(LocalApic.ISR + 0x20));
        assertEquals(0xFF, apic.acknowledge(), "nothing pending: the spurious vector");
    }

    @Test
    void theTaskPriorityHoldsBackLowerClasses() {
        set(LocalApic.SPIV, 0x1FF);
        set(LocalApic.TPR, 0x50);
        apic.accept(0x45, false);
        assertFalse(intr.get(), "class 4 below TPR's class 5");
        apic.accept(0x61, false);
        assertTrue(intr.get());
        assertEquals(0x61, apic.acknowledge());
        apic.setTaskPriorityClass(0);
        assertEquals(0, apic.taskPriorityClass(), "CR8 is TPR[7:4]");
        assertFalse(intr.get(), "0x45 is below 0x61 in service");
        set(LocalApic.EOI, 0);
        assertTrue(intr.get(), "then it goes");
    }

    @Test
    void theIcrSendsItsMessageAndReadsAsSent() {
        set(LocalApic.ICR_HIGH, 0x03000000);
        set(LocalApic.ICR_LOW, 0x000C4608); // STARTUP vector 8, all but self, assert
        assertEquals(List.of(new LocalApic.Ipi(2, 8, LocalApic.Ipi.STARTUP, false, 3, LocalApic.Ipi.ALL_BUT_SELF, true, false)), sent);
        assertEquals(0, reg(LocalApic.ICR_LOW) & (1 << 12), "delivery status idle");
        assertEquals(0x03000000, reg(LocalApic.ICR_HIGH));
    }

    @Test
    void destinations() {
        assertTrue(apic.matches(false, 2));
        assertTrue(apic.matches(false, 0xFF), "physical broadcast");
        assertFalse(apic.matches(false, 3));
        set(LocalApic.LDR, 0x04000000);
        assertTrue(apic.matches(true, 0x06), "flat logical: a bit in common");
        assertFalse(apic.matches(true, 0x01));
        set(LocalApic.DFR, 0x0FFFFFFF); // cluster model: cluster 0, member bit 2
        assertTrue(apic.matches(true, 0x04));
        assertFalse(apic.matches(true, 0x14));
    }

    @Test
    @Timeout(10)
    void theOneShotTimerFiresOnce() throws InterruptedException {
        set(LocalApic.SPIV, 0x1FF);
        set(LocalApic.TIMER_DIVIDE, 0xB); // divide by 1
        set(LocalApic.LVT_TIMER, 0x40);
        set(LocalApic.TIMER_INITIAL, 100_000_000); // 100 ms at 1 GHz
        assertTrue(reg(LocalApic.TIMER_CURRENT) > 0, "counting down");
        while (!intr.get()) {
            Thread.sleep(1);
        }
        assertEquals(0x40, apic.acknowledge());
        assertEquals(0, reg(LocalApic.TIMER_CURRENT), "one-shot: stays at 0");
        set(LocalApic.EOI, 0);
        Thread.sleep(20);
        assertFalse(intr.get(), "and does not fire again");
    }

    /**
     * A 1 ms count that runs out before its vCPU has retired 1000 instructions (one per microsecond) waits for them,
     * or for the vCPU to halt: a slow software core still sees the interrupt arrive after what it ran next.
     */
    @Test
    @Timeout(10)
    void theTimerWaitsForItsVcpuToMakeProgress() throws InterruptedException {
        java.util.concurrent.atomic.AtomicLong retired = new java.util.concurrent.atomic.AtomicLong();
        AtomicBoolean halted = new AtomicBoolean();
        Object vcpu = new Object();
        GuestProgress progress = steppedBy(vcpu, retired, halted);
        for (boolean byHalting : new boolean[]{false, true}) {
            AtomicBoolean line = new AtomicBoolean();
            LocalApic gated = new LocalApic(0, sent::add, line::set, null, progress);
            gated.write(LocalApic.SPIV, 4, 0x1FF);
            gated.write(LocalApic.TIMER_DIVIDE, 4, 0xB);
            gated.write(LocalApic.LVT_TIMER, 4, 0x40);
            retired.addAndGet(5000); // before the count: not progress since it began
            halted.set(false);
            gated.write(LocalApic.TIMER_INITIAL, 4, 1_000_000); // 1 ms at 1 GHz
            Thread.sleep(30);
            assertEquals(0, gated.read(LocalApic.TIMER_CURRENT, 4), "the count has run out");
            assertFalse(line.get(), "but the vCPU has not got anywhere: no interrupt yet");
            if (byHalting) {
                halted.set(true);
            } else {
                retired.addAndGet(999);
                Thread.sleep(5);
                assertFalse(line.get(), "999 instructions are not enough for 1 ms");
                retired.addAndGet(1);
            }
            long deadline = System.nanoTime() + 5_000_000_000L;
            while (!line.get() && System.nanoTime() < deadline) {
                Thread.sleep(1);
            }
            assertTrue(line.get(), byHalting ? "a halted vCPU takes it" : "1000 instructions later it fires");
            assertEquals(0x40, gated.acknowledge());
            gated.close();
        }
    }

    /** A vCPU that has retired {@code retired} instructions and waits for an interrupt while {@code halted} is set. */
    private static GuestProgress steppedBy(Object vcpu, java.util.concurrent.atomic.AtomicLong retired, AtomicBoolean halted) {
        return new GuestProgress() {
            @Override
            public Mark mark() {
                return new Mark(vcpu, retired.get(), 0);
            }

            @Override
            public long retiredSince(Mark mark) {
                return halted.get() ? Long.MAX_VALUE : retired.get() - mark.instructions();
            }
        };
    }

    /**
     * A stall of the vCPU (its thread descheduled, a JVM pause) between two reads of a running count is no time to the
     * count: read at once and again after 30 ms without an instruction retired, a 10 ms count has hardly moved and has
     * not fired. Time the vCPU runs (an instruction per microsecond or more) or waits in HLT counts in full.
     */
    @Test
    @Timeout(10)
    void aStallOfTheVcpuIsNoTimeToTheCount() throws InterruptedException {
        java.util.concurrent.atomic.AtomicLong retired = new java.util.concurrent.atomic.AtomicLong();
        AtomicBoolean halted = new AtomicBoolean();
        for (boolean byHalting : new boolean[]{false, true}) {
            AtomicBoolean line = new AtomicBoolean();
            LocalApic gated = new LocalApic(0, sent::add, line::set, null, steppedBy(new Object(), retired, halted));
            gated.write(LocalApic.SPIV, 4, 0x1FF);
            gated.write(LocalApic.TIMER_DIVIDE, 4, 0xB);
            gated.write(LocalApic.LVT_TIMER, 4, 0x40); // one-shot: a count stalled through its end would read 0
            halted.set(false);
            gated.write(LocalApic.TIMER_INITIAL, 4, 10_000_000); // 10 ms at 1 GHz
            assertTrue(gated.read(LocalApic.TIMER_CURRENT, 4) > 5_000_000, "the guest reads the count at once");
            Thread.sleep(30);
            long count = gated.read(LocalApic.TIMER_CURRENT, 4);
            assertTrue(count > 5_000_000, "30 ms of stall took less than half of the count: " + count);
            assertFalse(line.get(), "and it has not fired");
            if (byHalting) {
                halted.set(true); // the guest waits in HLT: time counts
            }
            long deadline = System.nanoTime() + 5_000_000_000L;
            while (!line.get() && System.nanoTime() < deadline) {
                retired.addAndGet(byHalting ? 0 : 5_000); // the guest runs: more than an instruction a microsecond
                Thread.sleep(1);
            }
            assertTrue(line.get(), byHalting ? "a halted vCPU's count runs out and fires" : "a running vCPU's count fires");
            assertEquals(0x40, gated.acknowledge());
            gated.close();
        }
    }

    @Test
    @Timeout(10)
    void betweenOneShotAndPeriodicTheCountGoesOnAndIntoTscDeadlineModeItStops() throws InterruptedException {
        set(LocalApic.SPIV, 0x1FF);
        set(LocalApic.TIMER_DIVIDE, 0xB);
        set(LocalApic.LVT_TIMER, 0x40); // one-shot
        set(LocalApic.TIMER_INITIAL, 1_000_000_000); // 1 s at 1 GHz
        Thread.sleep(20);
        set(LocalApic.LVT_TIMER, 0x20040); // periodic
        assertEquals(1_000_000_000, reg(LocalApic.TIMER_INITIAL), "the initial count stays");
        int count = reg(LocalApic.TIMER_CURRENT);
        assertTrue(count > 0 && count < 1_000_000_000 - 10_000_000, "counting on from where it was: " + count);
        set(LocalApic.LVT_TIMER, 0x40040); // TSC-deadline
        assertEquals(0, reg(LocalApic.TIMER_INITIAL), "into TSC-deadline mode the timer stops");
        assertEquals(0, reg(LocalApic.TIMER_CURRENT));
        set(LocalApic.LVT_TIMER, 0x40); // one-shot, run out at once
        set(LocalApic.TIMER_INITIAL, 1000);
        while (!intr.get()) {
            Thread.sleep(1);
        }
        set(LocalApic.LVT_TIMER, 0x20040);
        assertEquals(0, reg(LocalApic.TIMER_CURRENT), "a one-shot count that ran out stays at 0 in periodic mode");
    }

    @Test
    void lint0PassesThe8259ThroughWhileTheApicIsDisabledOrInExtIntMode() {
        apic.baseChanged(LocalApic.DEFAULT_BASE); // EN clear
        assertEquals(-1, apic.mappedAt());
        apic.lint0(true);
        assertTrue(intr.get());
        assertEquals(0x30, apic.acknowledge(), "the 8259's vector");
        apic.baseChanged(LocalApic.DEFAULT_BASE | 0x800);
        set(LocalApic.SPIV, 0x1FF);
        assertFalse(intr.get(), "LINT0 masked after the reset a disable brings");
        set(LocalApic.LVT_LINT0, 0x700); // ExtINT, unmasked
        assertTrue(intr.get());
    }

    @Test
    void theStateRecordRoundTrips() {
        set(LocalApic.SPIV, 0x1FF);
        set(LocalApic.TPR, 0x20);
        apic.accept(0x80, true);
        apic.accept(0x90, false);
        apic.acknowledge();
        LocalApic.State s = apic.save();
        LocalApic copy = new LocalApic(2, sent::add, b -> { }, null);
        copy.restore(s);
        for (int r = LocalApic.ISR; r < LocalApic.IRR + 0x80; r += 0x10) {
            assertEquals(reg(r), (int) copy.read(r, 4), "register 0x" + Integer.toHexString(r));
        }
        assertEquals(reg(LocalApic.PPR), (int) copy.read(LocalApic.PPR, 4));
    }

    /** x2APIC: entered from xAPIC only, its MSRs then (32-bit ID, derived LDR, 64-bit ICR, SELF IPI), the MMIO page gone. */
    @Test
    void x2apicModeTakesTheMsrsAndForbidsTheWayBack() {
        long enabled = LocalApic.DEFAULT_BASE | 0x800, x2 = enabled | 0x400;
        assertTrue(throwsRefused(() -> apic.readMsr(0x802)), "the MSRs #GP while x2APIC is off");
        assertTrue(throwsRefused(() -> apic.baseChanged(LocalApic.DEFAULT_BASE | 0x400)), "EXTD without EN");
        apic.baseChanged(x2);
        assertEquals(-1, apic.mappedAt(), "no MMIO page in x2APIC mode");
        assertEquals(2, apic.readMsr(0x802), "ID: the whole 32 bits");
        assertEquals(1 << 2, apic.readMsr(0x80D), "LDR: cluster 0, member bit 2");
        assertTrue(throwsRefused(() -> apic.writeMsr(0x80D, 0)), "LDR is read-only");
        assertTrue(throwsRefused(() -> apic.writeMsr(0x80B, 1)), "EOI takes only 0");
        assertTrue(throwsRefused(() -> apic.readMsr(0x80B)), "EOI is write-only");
        apic.writeMsr(0x80F, 0x1FF);
        apic.writeMsr(0x830, 5L << 32 | 0x4031); // fixed vector 0x31 to APIC 5
        assertEquals(new LocalApic.Ipi(2, 0x31, LocalApic.Ipi.FIXED, false, 5, 0, true, false), sent.getLast());
        assertEquals(5L << 32 | 0x4031, apic.readMsr(0x830));
        assertTrue(throwsRefused(() -> apic.writeMsr(0x83F, 0x177)), "SELF IPI: bits above the vector reserved");
        apic.writeMsr(0x83F, 0x77); // SELF IPI
        assertTrue(intr.get());
        assertEquals(0x77, apic.acknowledge());
        assertTrue(throwsRefused(() -> apic.baseChanged(enabled)), "x2APIC to xAPIC directly");
        apic.baseChanged(LocalApic.DEFAULT_BASE); // disabled, then xAPIC: the way back
        apic.baseChanged(enabled);
        assertEquals(LocalApic.DEFAULT_BASE, apic.mappedAt());
    }

    private static boolean throwsRefused(Runnable r) {
        try {
            r.run();
            return false;
        } catch (io.jkvm.x86.LocalApicPort.Refused e) {
            return true;
        }
    }

    /**
     * A one-shot count that ran out while its vCPU got nowhere (paused for a snapshot or a migration's stop) has not
     * fired yet: its record keeps it due, and the restored APIC fires it. Before, the record read as a count long
     * spent, and the restored guest waited for that interrupt forever.
     */
    @Test
    @Timeout(10)
    void aOneShotCountThatRanOutWhileHeldBackFiresWhereItIsRestored() throws InterruptedException {
        GuestProgress never = steppedBy(null, new java.util.concurrent.atomic.AtomicLong(), new AtomicBoolean()); // paused
        AtomicBoolean line = new AtomicBoolean(), restoredLine = new AtomicBoolean();
        LocalApic paused = new LocalApic(0, sent::add, line::set, null, never);
        paused.write(LocalApic.SPIV, 4, 0x1FF);
        paused.write(LocalApic.TIMER_DIVIDE, 4, 0xB);
        paused.write(LocalApic.LVT_TIMER, 4, 0x41);
        paused.write(LocalApic.TIMER_INITIAL, 4, 1_000_000); // 1 ms at 1 GHz
        Thread.sleep(30);
        assertFalse(line.get(), "held back: the vCPU got nowhere");
        LocalApic.State saved = paused.save();
        paused.close();
        LocalApic restored = new LocalApic(0, sent::add, restoredLine::set, null);
        restored.restore(saved);
        long deadline = System.nanoTime() + 2_000_000_000L;
        while (!restoredLine.get() && System.nanoTime() < deadline) {
            Thread.sleep(1);
        }
        assertTrue(restoredLine.get(), "the restored timer fires the interrupt the saved one still owed");
        assertEquals(0x41, restored.acknowledge());
        restored.close();
    }

    @Test
    @Timeout(10)
    void theTscDeadlineTimerFiresAtItsDeadline() throws InterruptedException {
        set(LocalApic.SPIV, 0x1FF);
        set(LocalApic.LVT_TIMER, 0x40042); // TSC-deadline mode, vector 0x42
        // 300 ms ahead at 1 GHz: far enough that a test thread descheduled under load still reads it before it fires
        apic.setTscDeadline(1_000_000 + 300_000_000, 1_000_000, 1_000_000, System.nanoTime());
        assertEquals(301_000_000, apic.tscDeadline());
        while (!intr.get()) {
            Thread.sleep(1);
        }
        assertEquals(0x42, apic.acknowledge());
        assertEquals(0, apic.tscDeadline(), "fired: the MSR reads 0");
        set(LocalApic.TIMER_INITIAL, 1000);
        assertEquals(0, reg(LocalApic.TIMER_INITIAL), "the initial count is ignored in TSC-deadline mode");
    }

    @Test
    void aTscDeadlineAlreadyPassedIsPendingWhenTheWriteReturns() {
        set(LocalApic.SPIV, 0x1FF);
        set(LocalApic.LVT_TIMER, 0x40042);
        apic.setTscDeadline(500, 1_000, 1_000_000, System.nanoTime());
        assertTrue(intr.get(), "pending at once, as kvm-unit-tests' apic expects after WRMSR and a serializing instruction");
        assertEquals(0, apic.tscDeadline());
    }

    @Test
    void illegalVectorsAreErrorsThatTheLvtErrorEntrySignals() {
        set(LocalApic.SPIV, 0x1FF);
        set(LocalApic.LVT_ERROR, 0x50);
        apic.accept(3, false);
        assertEquals(LocalApic.RECEIVED_ILLEGAL_VECTOR, reg(LocalApic.ESR), "received illegal vector");
        assertEquals(0, reg(LocalApic.IRR), "vector 3 never pending");
        assertTrue(intr.get(), "the LVT error entry's interrupt");
        assertEquals(0x50, apic.acknowledge());
        set(LocalApic.EOI, 0);
        set(LocalApic.ESR, 0);
        assertEquals(0, reg(LocalApic.ESR), "a write clears it");
        set(LocalApic.ICR_LOW, 0x00000005); // fixed, vector 5, to APIC 0
        assertEquals(LocalApic.SEND_ILLEGAL_VECTOR, reg(LocalApic.ESR), "send illegal vector");
        assertEquals(5, sent.getLast().vector(), "sent all the same: its receivers report it");
        assertEquals(1 << 16, reg(LocalApic.IRR + 0x20), "the error's interrupt pending again (vector 0x50)");
        set(LocalApic.ICR_LOW, 0x00000400); // NMI, whose vector field means nothing
        assertEquals(LocalApic.SEND_ILLEGAL_VECTOR, reg(LocalApic.ESR), "no error for an NMI");
        set(LocalApic.LVT_ERROR, 0x10050); // masked
        apic.acknowledge();
        set(LocalApic.EOI, 0);
        set(LocalApic.LVT_TIMER, 0x00002); // an expiring one-shot with an illegal vector
        set(LocalApic.TIMER_DIVIDE, 0xB);
        set(LocalApic.TIMER_INITIAL, 1);
        long deadline = System.nanoTime() + 5_000_000_000L;
        while ((reg(LocalApic.ESR) & LocalApic.RECEIVED_ILLEGAL_VECTOR) == 0 && System.nanoTime() < deadline) {
            Thread.onSpinWait();
        }
        assertEquals(LocalApic.SEND_ILLEGAL_VECTOR | LocalApic.RECEIVED_ILLEGAL_VECTOR, reg(LocalApic.ESR), "the timer's vector 2");
        assertEquals(0, reg(LocalApic.IRR + 0x20), "masked: no error interrupt");
    }
}

package io.jkvm.devices;

import io.jkvm.x86.InterruptSource;
import io.jkvm.x86.LocalApicPort;
import io.jkvm.x86.LocalApicPort.Refused;

import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;

/**
 * One vCPU's local APIC in xAPIC mode, its registers at IA32_APIC_BASE (0xFEE00000 after reset), as the SDM (Vol. 3A,
 * chapter 11) gives them: ID, version, TPR, PPR, EOI, LDR and DFR, the spurious-interrupt vector (software enable),
 * ISR, TMR and IRR, the error status, the ICR sending fixed, lowest-priority, INIT and STARTUP IPIs (by the
 * {@link Messages} the machine routes), the LVT entries, and the timer in one-shot and periodic mode counting at
 * 1 GHz before its divider (as QEMU's), or in TSC-deadline mode; x2APIC mode with its MSRs (32-bit IDs, the 64-bit
 * ICR, SELF IPI) where the CPU model has it. LINT0 in ExtINT mode, or the APIC disabled, passes the 8259's INTR through.
 * Accesses come from its vCPU's thread, interrupts and IPIs from any: one lock covers the state.
 */
public final class LocalApic implements Device, LocalApicPort, Persist<LocalApic.State> {
    public static final long DEFAULT_BASE = 0xFEE00000L, SIZE = 0x1000;
    /** The registers' offsets in the APIC page (SDM Vol. 3A, table 11-1). */
    public static final int ID = 0x20, VERSION = 0x30, TPR = 0x80, APR = 0x90, PPR = 0xA0, EOI = 0xB0, LDR = 0xD0, DFR = 0xE0,
            SPIV = 0xF0, ISR = 0x100, TMR = 0x180, IRR = 0x200, ESR = 0x280, ICR_LOW = 0x300, ICR_HIGH = 0x310,
            LVT_TIMER = 0x320, LVT_THERMAL = 0x330, LVT_PERF = 0x340, LVT_LINT0 = 0x350, LVT_LINT1 = 0x360, LVT_ERROR = 0x370,
            TIMER_INITIAL = 0x380, TIMER_CURRENT = 0x390, TIMER_DIVIDE = 0x3E0;
    static final int MASKED = 1 << 16, ENABLE_BIT = 1 << 8;
    /** Error status bits: an illegal vector (0-15) sent, or received (from a message or a local source). */
    static final int SEND_ILLEGAL_VECTOR = 1 << 5, RECEIVED_ILLEGAL_VECTOR = 1 << 6;
    /** What the version register reads: version 0x14 (an integrated APIC), six LVT entries. */
    public static final int VERSION_VALUE = 0x00050014;
    private static final int[] LVT_OFFSETS = {LVT_TIMER, LVT_THERMAL, LVT_PERF, LVT_LINT0, LVT_LINT1, LVT_ERROR};
    private static final int[] LVT_WRITABLE = {0x700FF, 0x107FF, 0x107FF, 0x1A7FF, 0x1A7FF, 0x100FF};
    private static final ScheduledExecutorService TIMERS = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "apic-timers");
        t.setDaemon(true);
        return t;
    });

    /** An interprocessor interrupt the ICR sent, for the machine to deliver. */
    public record Ipi(int source, int vector, int deliveryMode, boolean logical, int destination, int shorthand, boolean assertLevel,
                      boolean levelTriggered) {
        public static final int FIXED = 0, LOWEST = 1, SMI = 2, NMI = 4, INIT = 5, STARTUP = 6, EXTINT = 7;
        public static final int NO_SHORTHAND = 0, SELF = 1, ALL = 2, ALL_BUT_SELF = 3;
    }

    /** Where the ICR's messages go: the machine, which knows every APIC and vCPU. */
    public interface Messages {
        void send(Ipi ipi);

        /** Whether an APIC has this ID: the paravirtual IPI counts the ones it reached. */
        default boolean present(long apicId) {
            return true;
        }

        /** The EOI of a level-triggered vector, broadcast to the I/O APICs. */
        default void eoi(int vector) {
        }
    }

    /**
     * The registers a snapshot keeps: the timer as its initial count and the nanoseconds it has run; in TSC-deadline
     * mode IA32_TSC_DEADLINE and the nanoseconds left until it fires (-1: not armed).
     */
    public record State(long base, int id, int tpr, int ldr, int dfr, int spiv, int esr, int icrLow, int icrHigh, int[] lvt,
                        int timerInitial, int timerDivide, long timerElapsedNanos, int[] irr, int[] isr, int[] tmr,
                        long tscDeadline, long deadlineNanos) {
    }

    private final int initialId;
    private final Messages messages;
    private final InterruptLine intr;
    private final InterruptSource extInt;
    private long base = DEFAULT_BASE | (1 << 11);
    private int id, tpr, ldr, dfr = -1, spiv = 0xFF, esr, icrLow, icrHigh;
    private final int[] lvt = new int[LVT_OFFSETS.length];
    private final int[] irr = new int[8], isr = new int[8], tmr = new int[8];
    private int timerInitial, timerDivide;
    private long timerStart;
    private ScheduledFuture<?> timerExpiry;
    private final GuestProgress progress;
    /** Where the vCPU was when the running count began, and the instructions it must retire before the count may fire. */
    private GuestProgress.Mark timerMark;
    private long timerInstructions;
    /** Nanoseconds of count per instruction its vCPU must retire (or halt) before the timer fires: 1 per microsecond. */
    private static final long NANOS_PER_INSTRUCTION = 1000;
    /** How often a count that ran out looks again whether its vCPU has got far enough. */
    private static final long PROGRESS_RECHECK_NANOS = 50_000;
    /** When and where in its vCPU's progress the running count was last looked at: by a read, a mode change, an expiry. */
    private long countSeenAt;
    private GuestProgress.Mark countSeenMark;
    /** The guest has read the running count (TMCCT) since it was written: it measures time with it. */
    private boolean countRead;
    /** A stall shorter than this is left in the count: a thread's ordinary wake-up, not a lost time slice. */
    private static final long STALL_SLACK_NANOS = 200_000;
    /** Looks further apart than this are a measurement across them (Linux calibrating against the PIT), not a wait. */
    private static final long STALL_WINDOW_NANOS = 50_000_000;
    private boolean lint0;
    private boolean output;

    /**
     * APIC {@code id} of a vCPU whose INTR input is {@code intr}; {@code extInt} is the 8259 on LINT0 (the boot
     * processor's), or null.
     */
    public LocalApic(int id, Messages messages, InterruptLine intr, InterruptSource extInt) {
        this(id, messages, intr, extInt, GuestProgress.HOST_TIME);
    }

    /**
     * As {@link #LocalApic(int, Messages, InterruptLine, InterruptSource)}, with the one-shot and periodic timer held back,
     * once its count has run out, until its vCPU has made {@code progress}: one instruction per microsecond counted.
     */
    public LocalApic(int id, Messages messages, InterruptLine intr, InterruptSource extInt, GuestProgress progress) {
        this.progress = progress;
        this.initialId = id;
        this.messages = messages;
        this.intr = intr;
        this.extInt = extInt;
        reset();
    }

    /** The power-on and INIT state: every LVT masked, the APIC software-disabled, nothing pending. */
    public synchronized void reset() {
        held = false;
        id = initialId;
        tpr = ldr = esr = icrLow = icrHigh = 0;
        dfr = -1;
        spiv = 0xFF;
        java.util.Arrays.fill(lvt, MASKED);
        java.util.Arrays.fill(irr, 0);
        java.util.Arrays.fill(isr, 0);
        java.util.Arrays.fill(tmr, 0);
        timerInitial = timerDivide = 0;
        cancelTimer();
        update();
    }

    public synchronized int id() {
        return id;
    }

    /** The physical base the registers are mapped at, in xAPIC mode; -1 while the APIC is disabled or in x2APIC mode. */
    public synchronized long mappedAt() {
        return hardwareEnabled() && !x2apic() ? base & ~0xFFFL & 0xF_FFFF_FFFF_FFFFL : -1;
    }

    private boolean hardwareEnabled() {
        return (base & (1 << 11)) != 0;
    }

    private boolean softwareEnabled() {
        return hardwareEnabled() && (spiv & ENABLE_BIT) != 0;
    }

    @Override
    public synchronized void baseChanged(long apicBase) {
        boolean wasEnabled = hardwareEnabled(), wasX2 = x2apic();
        boolean enable = (apicBase & (1 << 11)) != 0, x2 = (apicBase & (1 << 10)) != 0;
        if ((x2 && !enable) || (wasX2 && enable && !x2) || (!wasEnabled && x2)) {
            throw new Refused(); // EXTD without EN, x2APIC to xAPIC, disabled to x2APIC (SDM 11.12.5)
        }
        base = apicBase;
        if (wasEnabled && !hardwareEnabled()) {
            reset(); // a disabled APIC loses its state; re-enabled, it starts from the reset values (SDM 11.4.3)
        }
        if (x2 && !wasX2) {
            id = initialId; // the x2APIC ID is the initial APIC ID, whatever software wrote to the xAPIC ID
            ldr = ((id >>> 4) << 16) | (1 << (id & 0xF)); // x2APIC's logical ID follows from the APIC ID
        }
        update();
    }

    private boolean x2apic() {
        return (base & (3 << 10)) == (3 << 10);
    }

    @Override
    public synchronized int taskPriorityClass() {
        return tpr >>> 4;
    }

    @Override
    public synchronized void setTaskPriorityClass(int cr8) {
        tpr = (cr8 & 0xF) << 4;
        update();
    }

    // ---- interrupts in -----------------------------------------------------------------------------------------

    /** A fixed interrupt of {@code vector} arrives (edge, or level-triggered with TMR set). */
    public synchronized void accept(int vector, boolean levelTriggered) {
        pend(vector, levelTriggered);
        update();
    }

    /** {@code vector} pending in IRR; vectors 0-15 are illegal: an error (received illegal vector) instead. */
    private void pend(int vector, boolean levelTriggered) {
        if (vector < 16) {
            error(RECEIVED_ILLEGAL_VECTOR);
            return;
        }
        set(irr, vector, true);
        set(tmr, vector, levelTriggered);
    }

    /** An error the APIC detected: its bit in the error status, and the LVT error entry's interrupt unless masked. */
    private void error(int bit) {
        esr |= bit;
        int entry = lvt[5];
        if ((entry & MASKED) == 0 && (entry & 0xFF) >= 16) { // an illegal vector here is not reported again
            pend(entry & 0xFF, false);
        }
    }

    /** The 8259's INTR output, on LINT0. */
    public synchronized void lint0(boolean raised) {
        lint0 = raised;
        update();
    }

    private boolean extIntPassing() {
        if (extInt == null || !lint0) {
            return false;
        }
        if (!hardwareEnabled()) {
            return true; // the APIC out of the way: the 8259 reaches the processor as without one
        }
        int entry = lvt[3];
        return softwareEnabled() && (entry & MASKED) == 0 && ((entry >>> 8) & 7) == 7;
    }

    private int processorPriority() {
        int isrv = highest(isr);
        return (tpr >>> 4) >= (Math.max(isrv, 0) >>> 4) ? tpr & 0xFF : isrv & 0xF0;
    }

    private int deliverable() {
        int v = highest(irr);
        return v >= 0 && softwareEnabled() && (v & 0xF0) > (processorPriority() & 0xF0) ? v : -1;
    }

    /** The INTR output to the vCPU as last driven (a vCPU connected afresh takes its level from here). */
    public synchronized boolean output() {
        return output;
    }

    private void update() {
        boolean raised = deliverable() >= 0 || extIntPassing();
        if (raised != output) {
            output = raised;
            intr.set(raised);
        }
    }

    @Override
    public int acknowledge() {
        synchronized (this) {
            int v = deliverable();
            if (v >= 0) {
                set(irr, v, false);
                set(isr, v, true);
                update();
                return v;
            }
            if (!extIntPassing()) {
                update();
                return spiv & 0xFF; // withdrawn since INTR rose: the spurious vector
            }
        }
        return extInt.acknowledge(); // outside the lock: the 8259 reports its INTR change back through lint0
    }

    // ---- registers ---------------------------------------------------------------------------------------------

    @Override
    public synchronized long read(long offset, int size) {
        int reg = (int) offset & ~0xF;
        long v = register(reg) & 0xFFFFFFFFL;
        return (v >>> (8 * (offset & 3))) & (size >= 4 ? 0xFFFFFFFFL : (1L << (8 * size)) - 1);
    }

    private int register(int reg) {
        if (reg >= ISR && reg < ISR + 0x80) {
            return isr[(reg - ISR) >>> 4];
        }
        if (reg >= TMR && reg < TMR + 0x80) {
            return tmr[(reg - TMR) >>> 4];
        }
        if (reg >= IRR && reg < IRR + 0x80) {
            return irr[(reg - IRR) >>> 4];
        }
        for (int i = 0; i < LVT_OFFSETS.length; i++) {
            if (reg == LVT_OFFSETS[i]) {
                return lvt[i];
            }
        }
        return switch (reg) {
            case ID -> x2apic() ? id : id << 24;
            case VERSION -> VERSION_VALUE;
            case TPR -> tpr;
            case PPR -> processorPriority();
            case LDR -> ldr;
            case 0x3F0 -> 0;
            case DFR -> dfr | 0x0FFFFFFF;
            case SPIV -> spiv;
            case ESR -> esr;
            case ICR_LOW -> icrLow & ~(1 << 12); // delivery status: every IPI is sent at once
            case ICR_HIGH -> icrHigh;
            case TIMER_INITIAL -> timerInitial;
            case TIMER_CURRENT -> seenCount(true);
            case TIMER_DIVIDE -> timerDivide;
            default -> 0;
        };
    }

    @Override
    public void write(long offset, int size, long value) {
        Ipi send = null;
        int levelEoi = -1;
        synchronized (this) {
            int reg = (int) offset & ~0xF;
            int v = (int) value;
            for (int i = 0; i < LVT_OFFSETS.length; i++) {
                if (reg == LVT_OFFSETS[i]) {
                    int oldMode = timerMode();
                    int countBefore = i == 0 ? seenCount(false) : currentCount();
                    lvt[i] = (v & LVT_WRITABLE[i]) | (softwareEnabled() ? 0 : MASKED);
                    int newMode = timerMode();
                    if (i == 0 && newMode != oldMode) {
                        timerModeChanged(oldMode, newMode, countBefore);
                    }
                    update();
                    return;
                }
            }
            switch (reg) {
                case ID -> id = v >>> 24;
                case TPR -> tpr = v & 0xFF;
                case EOI -> {
                    int v0 = highest(isr);
                    if (v0 >= 0) {
                        set(isr, v0, false);
                        if ((tmr[v0 >>> 5] & (1 << (v0 & 31))) != 0) {
                            levelEoi = v0;
                        }
                    }
                }
                case LDR -> ldr = v & 0xFF000000;
                case DFR -> dfr = v | 0x0FFFFFFF;
                case SPIV -> {
                    spiv = v & 0x13FF;
                    if ((spiv & ENABLE_BIT) == 0) { // software-disabled: every LVT entry masked
                        for (int i = 0; i < lvt.length; i++) {
                            lvt[i] |= MASKED;
                        }
                    }
                }
                case ESR -> esr = 0;
                case ICR_HIGH -> icrHigh = v & 0xFF000000;
                case ICR_LOW -> {
                    icrLow = v & 0xCCFFF;
                    send = ipi(v, x2apic() ? icrHigh : icrHigh >>> 24);
                    if ((send.deliveryMode() == Ipi.FIXED || send.deliveryMode() == Ipi.LOWEST) && send.vector() < 16) {
                        error(SEND_ILLEGAL_VECTOR); // sent all the same: its receivers find it illegal too
                    }
                }
                case TIMER_INITIAL -> {
                    if (timerMode() != 2) { // ignored in TSC-deadline mode
                        timerInitial = v;
                        timerStart = 0;
                        rearmTimer();
                    }
                }
                case TIMER_DIVIDE -> {
                    timerDivide = v & 0xB;
                    rearmTimer();
                }
                default -> {
                }
            }
            update();
        }
        if (send != null) {
            messages.send(send); // outside the lock: delivery takes other APICs' locks, and this one's for a self IPI
        }
        if (levelEoi >= 0) {
            messages.eoi(levelEoi);
        }
    }

    @Override
    public int sendToApicIds(long bitmap, long minId, int icr) {
        int reached = 0;
        for (long bits = bitmap; bits != 0; bits &= bits - 1) {
            long apicId = minId + Long.numberOfTrailingZeros(bits);
            if (apicId <= 0xFFFFFFFFL && messages.present(apicId)) { // physical IDs only: never the broadcast ID
                messages.send(ipi(icr & ~(1 << 11 | 3 << 18), (int) apicId)); // physical, no shorthand
                reached++;
            }
        }
        return reached;
    }

    private Ipi ipi(int icr, int destination) {
        return new Ipi(id, icr & 0xFF, (icr >>> 8) & 7, (icr & (1 << 11)) != 0, destination, (icr >>> 18) & 3,
                (icr & (1 << 14)) != 0, (icr & (1 << 15)) != 0);
    }

    /** Whether this APIC is a destination of a message with {@code logical} destination {@code destination}. */
    public synchronized boolean matches(boolean logical, int destination) {
        if (x2apic()) { // 32-bit destinations: 0xFFFFFFFF broadcasts; logical ones are cluster (bits 31:16) and member bits
            if (!logical) {
                return destination == -1 || destination == id;
            }
            return destination == -1 || ((destination >>> 16) == (ldr >>> 16) && (destination & ldr & 0xFFFF) != 0);
        }
        if (!logical) {
            return destination == 0xFF || destination == id;
        }
        int logicalId = ldr >>> 24;
        if ((dfr >>> 28) == 0xF) { // flat model
            return (logicalId & destination) != 0;
        }
        return (destination >>> 4) == (logicalId >>> 4) && (destination & logicalId & 0xF) != 0; // cluster model
    }

    // ---- x2APIC ------------------------------------------------------------------------------------------------

    private static final int X2APIC_FIRST = 0x800, SELF_IPI = 0x3F0;

    @Override
    public long readMsr(int msr) {
        synchronized (this) {
            int reg = (msr - X2APIC_FIRST) << 4;
            if (!x2apic() || reg == EOI || reg == SELF_IPI || reg == DFR || reg == ICR_HIGH || !readable(reg)) {
                throw new Refused();
            }
            if (reg == ICR_LOW) {
                return (icrLow & ~(1 << 12) & 0xFFFFFFFFL) | (icrHigh & 0xFFFFFFFFL) << 32;
            }
            return register(reg) & 0xFFFFFFFFL;
        }
    }

    private static boolean readable(int reg) {
        return switch (reg) {
            case ID, VERSION, TPR, PPR, LDR, SPIV, ESR, ICR_LOW, LVT_TIMER, LVT_THERMAL, LVT_PERF, LVT_LINT0, LVT_LINT1,
                 LVT_ERROR, TIMER_INITIAL, TIMER_CURRENT, TIMER_DIVIDE -> true;
            default -> reg >= ISR && reg < IRR + 0x80;
        };
    }

    @Override
    public void writeMsr(int msr, long value) {
        int reg = (msr - X2APIC_FIRST) << 4;
        synchronized (this) {
            boolean writable = switch (reg) {
                case TPR, SPIV, ESR, ICR_LOW, LVT_TIMER, LVT_THERMAL, LVT_PERF, LVT_LINT0, LVT_LINT1, LVT_ERROR, TIMER_INITIAL,
                     TIMER_DIVIDE -> true;
                case SELF_IPI -> (value & ~0xFFL) == 0; // the vector alone
                case EOI -> value == 0;
                default -> false;
            };
            boolean reservedBits = reg != ICR_LOW && (value >>> 32) != 0;
            if (!x2apic() || !writable || reservedBits) {
                throw new Refused();
            }
            if (reg == ICR_LOW) {
                icrHigh = (int) (value >>> 32);
            }
        }
        if (reg == SELF_IPI) {
            accept((int) value & 0xFF, false);
        } else {
            write(reg, 4, value);
        }
    }

    // ---- timer -------------------------------------------------------------------------------------------------

    private long tscDeadline;
    private final DeadlineExpiries deadlineExpiries = new DeadlineExpiries(TIMERS, this, this::deadlineDue);

    @Override
    public synchronized void setTscDeadline(long deadline, long tscNow, long tscKhz, long hostNanos) {
        tscDeadline = deadline;
        if (timerMode() != 2) {
            return; // outside TSC-deadline mode the MSR only holds it
        }
        if (deadline == 0) {
            deadlineExpiries.disarm(); // an expiry on its way runs to nothing
            return;
        }
        if (Long.compareUnsigned(deadline, tscNow) <= 0) {
            deadlineFires(); // already passed: pending before the instruction after the WRMSR, not a timer tick later
            return;
        }
        deadlineExpiries.arm(hostNanos + (deadline - tscNow) * 1_000_000 / Math.max(tscKhz, 1), System.nanoTime());
    }

    @Override
    public synchronized long tscDeadline() {
        return tscDeadline;
    }

    /** How many expiries TSC-deadline mode scheduled (for the tests). */
    synchronized long deadlineExpiriesScheduled() {
        return deadlineExpiries.scheduled();
    }

    /** An expiry reached the deadline: it fires, unless none is armed (disarmed, out of the mode, or held). */
    private boolean deadlineDue() {
        if (held || tscDeadline == 0 || timerMode() != 2) {
            return false;
        }
        deadlineFires();
        return true;
    }

    /** The armed deadline fires: the MSR reads 0 again, and the LVT timer's vector is pending unless masked. */
    private void deadlineFires() {
        tscDeadline = 0;
        deadlineExpiries.disarm();
        if ((lvt[0] & MASKED) == 0) {
            pend(lvt[0] & 0xFF, false);
        }
        update();
    }

    /** The count's expiry is not on its way. */
    private void cancelCountExpiry() {
        if (timerExpiry != null) {
            timerExpiry.cancel(false);
            timerExpiry = null;
        }
    }

    private int divisor() {
        return timerDivisor(timerDivide);
    }

    /** The timer's divisor a divide configuration register value selects (bits 0, 1 and 3: 2 to 128, or 1). */
    public static int timerDivisor(int divideRegister) {
        int code = (divideRegister & 3) | ((divideRegister >>> 1) & 4);
        return code == 7 ? 1 : 2 << code;
    }

    private long periodNanos() {
        return (timerInitial & 0xFFFFFFFFL) * divisor();
    }

    /** The LVT timer's mode: 0 one-shot, 1 periodic, 2 TSC-deadline. */
    private int timerMode() {
        return (lvt[0] >>> 17) & 3;
    }

    private int currentCount() {
        return currentCount(System.nanoTime());
    }

    /** The count at host time {@code now}. */
    private int currentCount(long now) {
        if (timerInitial == 0 || timerStart == 0) {
            return 0;
        }
        long elapsed = (now - timerStart) / divisor();
        long initial = timerInitial & 0xFFFFFFFFL;
        boolean periodic = timerMode() == 1;
        if (elapsed >= initial) {
            return periodic ? (int) (initial - elapsed % initial) : 0;
        }
        return (int) (initial - elapsed);
    }

    /**
     * The count as its vCPU sees it, by a read of TMCCT ({@code read}) or a change of the timer's mode: its stalls
     * since the last look taken out first ({@link #discountStall}).
     */
    private int seenCount(boolean read) {
        long now = System.nanoTime(); // the count the guest gets is the one the stall was measured to
        countRead |= read;
        if (discountStall(now)) {
            rearmTimer();
        }
        return currentCount(now);
    }

    /**
     * Starts the running count later by the time its vCPU stalled since the count was last looked at, and looks at it
     * at host time {@code now}. A descheduled thread or a JVM pause between two reads of the count is no time to the
     * guest, which on a CPU runs on: kvm-unit-tests' apic test reads a 10 ms count a few instructions apart and wants
     * it to have moved less than half. One instruction retired per microsecond counts as running (as for an expiry),
     * a wait for an interrupt counts in full; a one-shot count that ran out and fired stays run out, and no count goes
     * back past what was last seen of it. Only a count the guest reads, between looks under 50 ms apart: one it only
     * waits for fires on host time (a Linux vCPU slowed by compiling would see its ticks fall behind the others'), and
     * a count read across PIT ticks to calibrate it keeps host time. True when the count moved and still runs: its
     * expiry is to be armed again.
     */
    private boolean discountStall(long now) {
        GuestProgress.Mark seen = countSeenMark;
        long gap = now - countSeenAt;
        countSeenAt = now;
        countSeenMark = progress.mark();
        boolean fired = timerMode() == 0 && timerExpiry == null;
        if (seen == null || timerStart == 0 || !countRead || fired || held || gap <= STALL_SLACK_NANOS
                || gap > STALL_WINDOW_NANOS) {
            return false;
        }
        long retired = Math.max(progress.retiredSince(seen), 0); // a count read on another thread may lag the mark
        long stalled = retired >= gap / NANOS_PER_INSTRUCTION ? 0 : gap - retired * NANOS_PER_INSTRUCTION;
        if (stalled <= STALL_SLACK_NANOS) {
            return false;
        }
        timerStart += Math.min(stalled, now - timerStart); // not before the count began
        return timerMode() == 1 || now - timerStart < periodNanos(); // else its held-back expiry stays
    }

    /** A count just written or restored: looked at first at host time {@code now}, and not read yet. */
    private void lookFrom(long now) {
        countSeenAt = now;
        countSeenMark = progress.mark();
        countRead = false;
    }

    /**
     * Stops the timer's expiry while another emulation of this APIC (KVM's in-kernel one) runs it: its count state
     * stays, to be replaced by what that one hands back ({@link #restore}).
     */
    public synchronized void holdTimer() {
        held = true;
        cancelCountExpiry();
        deadlineExpiries.cancel();
    }

    /** {@link #restore} with the timer held at once, for a copy of an APIC another emulation runs. */
    public synchronized void restoreHeld(State s) {
        restore(s);
        holdTimer();
    }

    /** The timer is held ({@link #holdTimer}): an expiry already on its way does nothing. */
    private boolean held;

    private void cancelTimer() {
        cancelCountExpiry();
        deadlineExpiries.cancel();
        timerStart = 0;
    }

    /**
     * Into or out of TSC-deadline mode the timer stops, its count and deadline cleared (SDM 11.5.4.1); between one-shot
     * and periodic it counts on from where it was, and a one-shot count that has run out stays at 0 (as KVM does).
     */
    private void timerModeChanged(int oldMode, int newMode, int countBefore) {
        if (oldMode == 2 || newMode == 2) {
            timerInitial = 0;
            tscDeadline = 0;
            cancelTimer();
        } else if (timerStart != 0 && countBefore == 0) {
            cancelTimer();
        } else if (timerStart != 0) {
            long counted = (timerInitial & 0xFFFFFFFFL) - (countBefore & 0xFFFFFFFFL);
            timerStart = System.nanoTime() - counted * divisor();
            rearmTimer();
        }
    }

    private void rearmTimer() {
        cancelCountExpiry();
        if (timerInitial == 0) {
            timerStart = 0;
            return;
        }
        boolean armed = timerStart == 0; // a count written now, not one counting on
        if (armed) {
            timerStart = System.nanoTime();
            lookFrom(timerStart);
        }
        long elapsed = System.nanoTime() - timerStart, period = periodNanos();
        long due = armed ? Math.max(period - elapsed, 1) : period - elapsed % period;
        if (!armed && elapsed >= period && timerMode() != 1) {
            return; // a one-shot count that ran out before a mode change stays out; one just written fires, however short
        }
        scheduleExpiry(due, armed ? period : Math.max(due, 1)); // a whole count, or what is left of one
    }

    /** The count's expiry in {@code dueNanos}, delivered once its vCPU has also run {@code countedNanos} of instructions. */
    private void scheduleExpiry(long dueNanos, long countedNanos) {
        timerMark = progress.mark();
        timerInstructions = countedNanos / NANOS_PER_INSTRUCTION;
        timerExpiry = TIMERS.schedule(this::timerFired, Math.max(dueNanos, 1), TimeUnit.NANOSECONDS);
    }

    private void timerFired() {
        synchronized (this) {
            if (held || timerInitial == 0 || timerStart == 0) {
                return;
            }
            if (discountStall(System.nanoTime())) { // its vCPU stalled since it last looked: the count runs on, due later
                rearmTimer();
                return;
            }
            if (!progress.reached(timerMark, timerInstructions)) { // the count ran out before the guest got anywhere
                timerExpiry = TIMERS.schedule(this::timerFired, PROGRESS_RECHECK_NANOS, TimeUnit.NANOSECONDS);
                return;
            }
            int entry = lvt[0];
            if ((entry & MASKED) == 0) {
                pend(entry & 0xFF, false);
            }
            boolean periodic = ((entry >>> 17) & 3) == 1;
            timerExpiry = null;
            if (periodic) {
                rearmTimer();
            }
            update();
        }
    }

    // ---- state -------------------------------------------------------------------------------------------------

    @Override
    public synchronized State save() {
        long elapsed = timerStart == 0 ? -1 : System.nanoTime() - timerStart;
        if (elapsed >= 0 && timerMode() == 0 && timerExpiry != null && elapsed >= periodNanos()) {
            // a one-shot count that ran out but is held back until the vCPU gets somewhere (it was paused for this
            // save): kept as 1 ns short of its end, so the restored timer fires at once instead of counting as spent
            elapsed = periodNanos() - 1;
        }
        boolean deadlineArmed = timerMode() == 2 && tscDeadline != 0 && deadlineExpiries.pending();
        long left = deadlineArmed ? deadlineExpiries.left(System.nanoTime()) : -1;
        return new State(base, id, tpr, ldr, dfr, spiv, esr, icrLow, icrHigh, lvt.clone(), timerInitial, timerDivide, elapsed,
                irr.clone(), isr.clone(), tmr.clone(), tscDeadline, left);
    }

    @Override
    public synchronized void restore(State s) {
        if (s.lvt().length != lvt.length || s.irr().length != 8 || s.isr().length != 8 || s.tmr().length != 8) {
            throw new IllegalArgumentException("local APIC " + initialId + ": the record has " + s.lvt().length
                    + " LVT entries and " + s.irr().length + " IRR words, not 6 and 8");
        }
        cancelTimer();
        held = false;
        base = s.base();
        id = s.id();
        tpr = s.tpr();
        ldr = s.ldr();
        dfr = s.dfr();
        spiv = s.spiv();
        esr = s.esr();
        icrLow = s.icrLow();
        icrHigh = s.icrHigh();
        System.arraycopy(s.lvt(), 0, lvt, 0, lvt.length);
        System.arraycopy(s.irr(), 0, irr, 0, 8);
        System.arraycopy(s.isr(), 0, isr, 0, 8);
        System.arraycopy(s.tmr(), 0, tmr, 0, 8);
        timerInitial = s.timerInitial();
        timerDivide = s.timerDivide();
        tscDeadline = s.tscDeadline();
        if (timerMode() == 2) {
            if (s.deadlineNanos() >= 0 && tscDeadline != 0) {
                long now = System.nanoTime();
                deadlineExpiries.arm(now + s.deadlineNanos(), now);
            }
        } else if (s.timerElapsedNanos() >= 0 && timerInitial != 0) {
            long now = System.nanoTime();
            lookFrom(now); // the restored vCPU's stalls count from here
            timerStart = now - s.timerElapsedNanos();
            if (timerMode() == 0 && s.timerElapsedNanos() < periodNanos()) {
                // a one-shot count still owed: due in what was left of it when saved, not in what is left of it now
                long due = Math.max(periodNanos() - s.timerElapsedNanos(), 1);
                scheduleExpiry(due, due);
            } else {
                rearmTimer();
            }
        }
        update();
    }

    /** Stops the timer: the machine is closing. */
    public synchronized void close() {
        cancelTimer();
    }

    // ---- 256-bit registers -------------------------------------------------------------------------------------

    private static void set(int[] bits, int vector, boolean on) {
        if (on) {
            bits[vector >>> 5] |= 1 << (vector & 31);
        } else {
            bits[vector >>> 5] &= ~(1 << (vector & 31));
        }
    }

    private static int highest(int[] bits) {
        for (int w = 7; w >= 0; w--) {
            if (bits[w] != 0) {
                return 32 * w + 31 - Integer.numberOfLeadingZeros(bits[w]);
            }
        }
        return -1;
    }
}

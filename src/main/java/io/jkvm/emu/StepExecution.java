package io.jkvm.emu;

import io.jkvm.linux.Mapping;
import io.jkvm.x86.RamLayout;
import io.jkvm.x86.Segment;
import io.jkvm.x86.ControlBits;
import io.jkvm.x86.CpuidTable;

/**
 * One instruction at a time: interrupts and NMIs at instruction boundaries, faults and their delivery, locked
 * instructions, single-step and breakpoints, and what many instructions share (the stack, privilege checks).
 */
abstract sealed class StepExecution extends InstructionFetch permits BlockExecution {
    StepExecution(Mapping ram, RamLayout layout, CpuidTable cpuid, int mxcsrMask, IoPort io) {
        super(ram, layout, cpuid, mxcsrMask, io);
    }

    /** Decodes and runs the instruction at RIP: the interpreter ({@link Core}). */
    abstract void execute();

    /** Executes {@code decoded}, the instruction at RIP as a decoded block read it (64-bit code): no fetch, no decode. */
    abstract void execute(Instruction decoded);

    /** The flags of the last {@link Core#shifted}, set by the caller once the result is written (a fault leaves them). */
    long shiftFlags;

    /** A branch in 64-bit mode to a non-canonical address faults on the branch (#GP(0)), not on the fetch after it. */
    long canonicalTarget(long target) {
        if (code64 && !canonical(target)) {
            throw GuestFault.withCode(GuestFault.GP, 0);
        }
        return target;
    }

    // ---- execution --------------------------------------------------------------------------------------------

    /** The interrupt controller's INTR output as last reported, looked at on every instruction boundary. */
    volatile boolean interruptLine;
    io.jkvm.x86.InterruptSource interrupts;
    /** The local APIC, when the machine gives the vCPU one: APIC_BASE writes and CR8 reach it. */
    io.jkvm.x86.LocalApicPort apic;

    /** An NMI raised and not yet taken; NMIs are blocked from the delivery of one until the next IRET. */
    volatile boolean nmiPending;
    boolean nmiBlocked;
    /** NMIs raised and not taken: two while none is in service (the second one latched behind the first), else one. */
    private int nmisQueued;
    private final Object nmiLock = new Object();

    /** An NMI from another vCPU's APIC or the machine; any thread. */
    void raiseNmi() {
        synchronized (nmiLock) {
            nmisQueued = Math.min(nmisQueued + 1, nmiBlocked ? 1 : 2);
            nmiPending = true;
        }
    }

    /** The state record's pending NMI, restored. */
    void setNmiPending(boolean pending) {
        synchronized (nmiLock) {
            nmisQueued = pending ? 1 : 0;
            nmiPending = pending;
        }
    }

    /**
     * An event is to be taken at this boundary: INTR up with IF set, or an NMI not blocked, either outside an STI or
     * MOV SS shadow (which holds NMIs back too, as KVM keeps it on VMX and SVM).
     */
    boolean interruptDue() {
        return !interruptShadow && ((interruptLine && (flagBits & IF) != 0 && interrupts != null) || (nmiPending && !nmiBlocked));
    }

    /** Executes one instruction (or delivers a fault raised by it), or takes a pending external interrupt. */
    void step() {
        step(null);
    }

    /**
     * As {@link #step()}, running {@code decoded} when it is not null: the instruction at RIP as the decoded block that
     * ends before it read it ({@link DecodedBlock#slow}), its bytes checked with the block's, so it is not fetched and
     * looked up again.
     */
    void step(Instruction decoded) {
        if (interruptDue()) {
            if (nmiPending && !nmiBlocked) {
                synchronized (nmiLock) {
                    nmisQueued = Math.max(nmisQueued - 1, 0);
                    nmiPending = nmisQueued > 0;
                    nmiBlocked = true;
                }
                Interrupts.deliverEvent(core(), 2, false, 0, rip, 0, true); // vector 2, no INTA
                return;
            }
            Interrupts.deliverEvent(core(), interrupts.acknowledge(), false, 0, rip, 0, true); // INTA, then the IDT as for any external event
            return;
        }
        long start = rip;
        boolean singleStep = (flagBits & TF) != 0;
        // Intel's parts take no instruction breakpoint on the instruction after MOV SS or POP SS; AMD's do (docs/vendors.md)
        if ((flagBits & Breakpoints.RF) == 0 && Breakpoints.armed(core()) && !(movSsShadow && interruptShadow && !vendor.followsApm())) {
            int hits = Breakpoints.instructionHits(core(), code64 ? rip : (csBase + rip) & 0xFFFFFFFFL);
            if (hits != 0) {
                dr6 = (dr6 & ~0xFL) | hits; // an instruction breakpoint: a fault, before the instruction
                deliver(GuestFault.DB, false, 0, rip, 0);
                return;
            }
        }
        saveFlags();
        flagBits &= ~Breakpoints.RF; // RF has kept this instruction's breakpoint quiet; IRET may set it again
        mmioReplayed = 0;
        dataBreakpointHits = 0;
        watchingData = Breakpoints.armed(core());
        slowAccess = watchingData;
        System.arraycopy(r, 0, gprsAtStart, 0, 32);
        gprsSaved = 32;
        try {
            interruptShadow = false;
            movSsShadow = false;
            softwareEvent = false;
            stepsOnNewFlags = false;
            executeLocked(start, decoded);
            mmioRetired();
            instructions++;
            if (movSsShadow || softwareEvent) {
                // MOV SS and POP SS delay the single-step #DB past the next instruction (SDM 6.8.3); INT n, INT3 and
                // INT1 enter their handler with TF clear, and their own single step is not reported
                singleStep = false;
            }
            if (stepsOnNewFlags) {
                singleStep = (flagBits & TF) != 0;
            }
            int held = trapHeldByMovSs;
            trapHeldByMovSs = 0;
            if (movSsShadow) { // MOV SS and POP SS hold their own data-breakpoint trap past the next instruction too
                trapHeldByMovSs = dataBreakpointHits;
                dataBreakpointHits = held;
            } else {
                dataBreakpointHits |= held;
            }
            if (singleStep || dataBreakpointHits != 0) {
                dr6 = (dr6 & ~0xFL) | dataBreakpointHits | (singleStep ? 0x4000 : 0); // BS, B0-B3: traps, after it
                dataBreakpointHits = 0;
                deliver(GuestFault.DB, false, 0, rip, 0);
            }
        } catch (GuestFault f) {
            dataBreakpointHits = 0;
            trapHeldByMovSs = 0;
            mmioRetired();
            restoreFlags(); // a read-modify-write whose store faulted had already set them
            faulted(f, start);
        } catch (Stop stop) {
            if (stop.reason == Reason.MMIO_READ) {
                backToStart(start); // POPs of IRETQ, REP iterations may have moved registers: the restart replays the log
            } else {
                mmioRetired(); // a port exit ends the instruction (or its REP iteration): nothing of it is replayed
                if (stop.reason == Reason.IO || stop.reason == Reason.HLT) { // its #DB traps follow the port's answer, or the wakeup
                    pendingDebugTrap = (singleStep ? 0x4000 : 0) | dataBreakpointHits | trapHeldByMovSs;
                }
                trapHeldByMovSs = 0;
                dataBreakpointHits = 0;
            }
            throw stop;
        }
    }

    /** The data-breakpoint bits (B0-B3) of a MOV SS or POP SS, owed after the instruction that follows it. */
    int trapHeldByMovSs;

    /** The DR6 bits of the #DB trap (BS, B0-B3) an instruction owes whose port exit ended the run before it was taken. */
    private int pendingDebugTrap;

    /** Takes the #DB trap a port exit put off (single step, an I/O or data breakpoint), now the machine has answered. */
    void takePendingSingleStep() {
        if (pendingDebugTrap != 0) {
            int bits = pendingDebugTrap;
            pendingDebugTrap = 0;
            dr6 = (dr6 & ~0xFL) | bits;
            deliver(GuestFault.DB, false, 0, rip, 0);
        }
    }

    /** How many instructions a decoded block had the interpreter run inside it (for the tests). */
    long interpretedInBlocks;

    /**
     * Runs the instruction at RIP through the interpreter inside a decoded block ({@link BlockOp#INTERPRETED}), as
     * {@link #step} runs it but for the boundary's work, which blocks never meet: no event due, no breakpoint armed,
     * no single step. An MMIO read's exit puts back what it had changed, as step's does, to restart it. The block
     * gives the instruction as it decoded it, its bytes checked with the block's.
     */
    void interpretInBlock(Instruction decoded) {
        long start = rip;
        saveFlags();
        System.arraycopy(r, 0, gprsAtStart, 0, 16); // a legacy or REX encoding reaches no register above R15
        gprsSaved = 16;
        interpretedInBlocks++;
        try {
            executeLocked(start, decoded);
        } catch (Stop stop) {
            if (stop.reason == Reason.MMIO_READ) {
                backToStart(start);
            }
            throw stop;
        }
    }

    /** How many instructions ran exclusive, every other vCPU over the RAM stopped (for the tests). */
    long exclusiveRuns;

    /**
     * Executes the instruction at {@code start}; a locked one whose word another vCPU changed between its read and
     * its store runs again from the start (registers and flags as they were), and one that is not a single word runs
     * again exclusive ({@link SplitLock}). {@code decoded}: the instruction as a block decoded it, or null to fetch it.
     */
    private void executeLocked(long start, Instruction decoded) {
        if (decoded != null && LockPrefix.wide(decoded) && !underSplitLock) {
            runExclusive(); // as the retry below would, without the exception's cost
        }
        try {
            while (true) {
                try {
                    if (decoded == null) {
                        execute();
                    } else {
                        execute(decoded);
                    }
                    return;
                } catch (LockRetry retry) {
                    backToStart(start);
                    releaseShared();
                    if (retry.wider && !underSplitLock) {
                        runExclusive();
                    }
                }
            }
        } finally {
            lock = false; // what comes next (the decoded blocks, an exception's delivery) reads and writes plainly
            watchingData = false;
            slowAccess = false;
            lockedWordAt = -1;
            releaseShared();
            if (underSplitLock) {
                underSplitLock = false;
                SplitLock.exitExclusive(lockMark);
            }
        }
    }

    /** The instruction runs (again) exclusive, until executeLocked's end lets the other vCPUs on. */
    private void runExclusive() {
        SplitLock.enterExclusive(lockMark);
        underSplitLock = true;
        exclusiveRuns++;
    }

    /** The GPRs, flags and RIP as the instruction at {@code start} found them, to run it again from its start. */
    private void backToStart(long start) {
        System.arraycopy(gprsAtStart, 0, r, 0, gprsSaved);
        restoreFlags();
        rip = start;
    }

    private void releaseShared() {
        if (holdingShared) {
            holdingShared = false;
            SplitLock.exitShared(lockMark);
        }
    }

    /** The GPRs as the interpreted instruction found them, put back when an MMIO read stops it half-way. */
    private final long[] gprsAtStart = new long[32];
    /** How many of {@link #gprsAtStart} the instruction saved: the registers its encoding can write. */
    private int gprsSaved;
    private int savedLazyOp, savedLazySize;
    private long savedLazyDst, savedLazySrc, savedLazyRes, savedLazyCarry, savedFlagBits;

    /** RFLAGS as the instruction about to run found it (the lazy form as it stands), for {@link #restoreFlags()}. */
    void saveFlags() {
        savedLazyOp = lazyOp;
        savedLazySize = lazySize;
        savedLazyDst = lazyDst;
        savedLazySrc = lazySrc;
        savedLazyRes = lazyRes;
        savedLazyCarry = lazyCarry;
        savedFlagBits = flagBits;
    }

    void restoreFlags() {
        lazyOp = savedLazyOp;
        lazySize = savedLazySize;
        lazyDst = savedLazyDst;
        lazySrc = savedLazySrc;
        lazyRes = savedLazyRes;
        lazyCarry = savedLazyCarry;
        flagBits = savedFlagBits;
        updateDirectSalt(); // AC may have changed
    }

    /** An instruction at {@code start} raised {@code f}: nothing of it is retired, the exception is delivered. */
    void faulted(GuestFault f, long start) {
        rip = start;
        if (f.vector == GuestFault.UD && undefinedTracer != null) {
            undefinedTracer.accept(start, bytesAt(start, 15));
        }
        if (f.vector != GuestFault.DB) {
            flagBits |= 1L << 16; // RF in the saved RFLAGS of every fault but #DB's, so IRET does not re-break the instruction
        }
        deliver(f.vector, f.hasErrorCode, f.errorCode, start, 0);
    }

    /** Told of every #UD the core raises (unknown or unimplemented opcode), with the bytes at RIP. */
    interface UndefinedTracer {
        void accept(long rip, byte[] bytes);
    }

    UndefinedTracer undefinedTracer;

    /** Up to {@code max} bytes at a linear address, stopping at the first one that cannot be read. */
    private byte[] bytesAt(long linear, int max) {
        java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
        for (int i = 0; i < max; i++) {
            try {
                long p = translate(linear + i, ACC_READ);
                if (!isRam(p, 1)) {
                    break; // a trace never reads a device
                }
                out.write(ram.getByte(p));
            } catch (GuestFault e) {
                break;
            }
        }
        return out.toByteArray();
    }

    private int faultDepth;

    /** Delivers an exception or interrupt through the 64-bit IDT; a fault while delivering escalates to #DF, then shutdown. */
    void deliver(int vector, boolean hasCode, int code, long returnRip, int depth) {
        Interrupts.deliverEvent(core(), vector, hasCode, code, returnRip, depth, true);
    }

    /** An implicit supervisor access (descriptor tables): no U/S check at CPL3, as for the IDT and TSS. */
    long supervisorRead(long linear, int size) {
        int saved = cpl;
        setCpl(0);
        implicitAccess = true;
        try {
            return read(linear, size);
        } finally {
            implicitAccess = false;
            setCpl(saved);
        }
    }

    void supervisorWrite(long linear, int size, long value) {
        int saved = cpl;
        setCpl(0);
        implicitAccess = true;
        try {
            write(linear, size, value);
        } finally {
            implicitAccess = false;
            setCpl(saved);
        }
    }

    /** CLI: IF cleared, at a CPL no higher than IOPL (else #GP(0)). */
    void clearInterruptFlag() {
        requireIoPrivilege();
        flagBits &= ~IF;
    }

    /** CLI and STI above IOPL: #GP(0) (the core has no VME or PVI virtual interrupt flag). */
    void requireIoPrivilege() {
        if (cpl > ((flagBits >>> 12) & 3)) {
            throw GuestFault.withCode(GuestFault.GP, 0);
        }
    }

    /**
     * IN, OUT, INS and OUTS: allowed in real mode and at CPL <= IOPL; above IOPL only where the TSS's I/O permission
     * bitmap (its offset at TSS + 0x66) has a clear bit for every port the access covers, within the TSS limit
     * (SDM vol. 1, 19.5.2); else #GP(0).
     */
    void requirePortAccess(int port, int size) {
        if (watchingData && (cr4 & ControlBits.CR4_DE) != 0) {
            dataBreakpointHits |= Breakpoints.ioHits(core(), port, size);
        }
        if (!protectedMode() || cpl <= ((flagBits >>> 12) & 3)) {
            return;
        }
        Segment tss = taskRegister;
        long limit = tss.limit() & 0xFFFFFFFFL;
        if (limit < 0x67) {
            throw GuestFault.withCode(GuestFault.GP, 0);
        }
        long bitmap = supervisorRead(tss.base() + 0x66, 2);
        long first = bitmap + port / 8, last = bitmap + (port + size - 1) / 8;
        if (last > limit) {
            throw GuestFault.withCode(GuestFault.GP, 0);
        }
        long bits = supervisorRead(tss.base() + first, (int) (last - first + 1));
        if ((bits & (((1L << size) - 1) << (port & 7))) != 0) {
            throw GuestFault.withCode(GuestFault.GP, 0);
        }
    }

    /** RDTSC and RDTSCP outside CPL0 with CR4.TSD set (in protected mode): #GP(0). */
    void requireTscAccess() {
        if ((cr4 & (1L << 2)) != 0 && cpl != 0 && protectedMode()) {
            throw GuestFault.withCode(GuestFault.GP, 0);
        }
    }

    void requireCpl0() {
        if (cpl != 0) {
            throw GuestFault.withCode(GuestFault.GP, 0);
        }
    }

    void push(long v) {
        push(v, 8);
    }

    /** A push of {@code size} bytes: 8, or 2 under a 66 prefix (RSP moves by the operand size, not by 8). */
    void push(long v, int size) {
        if (!code64) {
            long sp = stackPointer() - size;
            SegmentChecks.check(core(), SegmentLoads.SS, stack32 ? sp & 0xFFFFFFFFL : sp & 0xFFFF, size, true);
            write(stackLinear(sp), size, v);
            setStackPointer(sp);
            return;
        }
        long rsp = r[4] - size;
        requireCanonicalStack(rsp);
        write(rsp, size, v);
        r[4] = rsp;
    }

    long pop() {
        return pop(8);
    }

    // The decoded tier's 64-bit PUSH and POP (and CALL's and RET's), through the blocks' accessors: blocks run only in
    // 64-bit code, and a non-canonical RSP misses the direct pages, so the full path raises its #SS(0) as push does.

    /** A 64-bit push in a block. */
    final void push64(long v) {
        long rsp = r[4] - 8;
        write64(rsp, v, true, false);
        r[4] = rsp;
    }

    /** A 64-bit pop in a block. */
    final long pop64() {
        long v = read64(r[4], true, false);
        r[4] += 8;
        return v;
    }

    long pop(int size) {
        if (!code64) {
            long sp = stackPointer();
            SegmentChecks.check(core(), SegmentLoads.SS, sp, size, false);
            long v = read(stackLinear(sp), size);
            setStackPointer(sp + size);
            return v;
        }
        requireCanonicalStack(r[4]);
        long v = read(r[4], size);
        r[4] += size;
        return v;
    }

    /** The stack operand size of PUSH/POP: in 64-bit mode 2 with a 66 prefix, else 8; outside it the operand size. */
    int stackSize() {
        return code64 ? (opSize == 2 ? 2 : 8) : opSize;
    }

    /** The stack pointer as SS.B sizes it: RSP in 64-bit mode, ESP or SP outside. */
    long stackPointer() {
        return code64 ? r[4] : stack32 ? r[4] & 0xFFFFFFFFL : r[4] & 0xFFFF;
    }

    /** Sets the stack pointer of SS.B's size; a 16-bit stack leaves ESP's upper half as it was. */
    void setStackPointer(long sp) {
        if (code64) {
            r[4] = sp;
        } else {
            r[4] = stack32 ? sp & 0xFFFFFFFFL : (r[4] & ~0xFFFFL) | (sp & 0xFFFF);
        }
    }

    /** The linear address of a stack offset: SS's base added outside 64-bit mode, wrapping at SS.B's size. */
    long stackLinear(long sp) {
        if (code64) {
            return sp;
        }
        return (segments[SegmentLoads.SS].base() + (stack32 ? sp & 0xFFFFFFFFL : sp & 0xFFFF)) & 0xFFFFFFFFL;
    }
}

package io.jkvm.emu;

import io.jkvm.linux.Mapping;
import io.jkvm.x86.Activity;
import io.jkvm.x86.ApxState;
import io.jkvm.x86.ControlBits;
import io.jkvm.x86.ResetState;
import io.jkvm.x86.CpuModel;
import io.jkvm.x86.CpuidTable;
import io.jkvm.x86.DebugRegisters;
import io.jkvm.x86.DescriptorTable;
import io.jkvm.x86.InterruptSource;
import io.jkvm.x86.Msrs;
import io.jkvm.x86.PendingEvents;
import io.jkvm.x86.RamLayout;
import io.jkvm.x86.Registers;
import io.jkvm.x86.Segment;
import io.jkvm.x86.SpecialRegisters;
import io.jkvm.x86.VcpuExit;
import io.jkvm.x86.VcpuState;
import io.jkvm.x86.VcpuStateException;
import io.jkvm.x86.VirtualCpu;
import io.jkvm.x86.XsaveArea;
import io.jkvm.x86.XsaveException;
import io.jkvm.x86.XsaveLayout;
import io.jkvm.x86.Xcr0Rules;

import java.util.ArrayDeque;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SequencedMap;

/**
 * A vCPU run by the software core instead of KVM: the same exits (port I/O, MMIO, HLT, shutdown), the same state
 * record. An IN or an MMIO read leaves with the instruction unfinished; the next {@link #run()} completes it with
 * the value the machine put in the exit's data.
 */
public final class EmulatedVcpu implements VirtualCpu {
    /** Instructions between looks at the exit-request flag. */
    private static final int SLICE = 4096;

    private final int id;
    private final Core core;
    private final CpuidTable model;
    private final XsaveLayout layout;
    /** The state MSRs of this vCPU's CPU model, the ones KVM saves for the same model. */
    private final int[] stateMsrs;
    private final ArrayDeque<VcpuExit> exits = new ArrayDeque<>();
    private volatile boolean exitRequested;
    /** In HLT with interrupts enabled: each run() first waits for INTR (a run cut short leaves it halted). */
    private volatile boolean halted;
    /** Stopped at a HLT that went back to the machine (interrupts off, or no controller), and not run since. */
    private volatile boolean hltReturned;
    /** Times the guest stopped in HLT to wait for an interrupt: a wait between two looks at its progress is not a stall. */
    private volatile long waits;
    /** Restored in HLT: the first run waits as HLT would, once the machine has connected the controller. */
    private volatile boolean resumeInHlt;
    /** After INIT, until a STARTUP IPI: runs nothing (the SDM's wait-for-SIPI state). */
    private volatile boolean waitingForStartup;
    private final Object haltLock = new Object();
    /** The segment registers as last set from outside: their hidden parts (TR's base, attributes) come back from here. */
    private SpecialRegisters loaded;
    /** The core's CS load count when the segments were last set from outside: a load since makes CS's cached part stale. */
    private int codeSegmentLoadsAtSet;
    private Datum pendingIn;
    private int pendingInSize;

    /** The value of one port or MMIO access. */
    private static final class Datum implements VcpuExit.AccessData {
        long value;

        Datum(long value) {
            this.value = value;
        }

        @Override
        public long get(int index) {
            return value;
        }

        @Override
        public void set(int index, long v) {
            value = v;
        }
    }

    /** vCPU {@code id} of a CPU model (its CPUID table and its MXCSR_MASK) over guest RAM {@code ram}, all of it from 0. */
    public EmulatedVcpu(int id, Mapping ram, CpuModel cpu) {
        this(id, ram, RamLayout.flat(ram.size()), cpu);
    }

    /** As {@link #EmulatedVcpu(int, Mapping, CpuModel)}, with the RAM where {@code ramLayout} puts it in {@code ram}. */
    public EmulatedVcpu(int id, Mapping ram, RamLayout ramLayout, CpuModel cpu) {
        this.id = id;
        this.model = cpu.cpuid();
        this.layout = XsaveLayout.fromCpuid(model);
        this.stateMsrs = Msrs.vcpuState(model);
        this.core = new Core(ram, ramLayout, model, cpu.mxcsrMask(), new Core.IoPort() {
            @Override
            public long in(int port, int size) {
                pendingIn = new Datum(0);
                pendingInSize = size;
                exits.add(new VcpuExit.Io(false, port, size, 1, pendingIn));
                throw new Core.Stop(Core.Reason.IO);
            }

            @Override
            public void out(int port, int size, long value) {
                exits.add(new VcpuExit.Io(true, port, size, 1, new Datum(value & ((1L << (8 * size)) - 1))));
            }

            @Override
            public VcpuExit.AccessData mmioRead(long physical, int size) {
                Datum value = new Datum(0);
                exits.add(new VcpuExit.Mmio(physical, size, false, value));
                return value;
            }

            @Override
            public void mmioWrite(long physical, int size, long value) {
                exits.add(new VcpuExit.Mmio(physical, size, true, new Datum(value)));
            }
        });
        core.activity.isVcpu(id); // a core that was this vCPU before (a move) no longer counts for the epochs
        // The RESET state, as a KVM vCPU starts in, until the machine puts the vCPU at its entry point.
        setSpecialRegisters(ResetState.specialRegisters(core.apicBase));
        setRegisters(ResetState.registers(model));
    }

    /**
     * The INIT signal (SDM vol. 3, 9.1.1, Table 10-1's INIT column; KVM's kvm_vcpu_reset with init_event): the
     * general, segment, control and debug registers to their INIT values (ResetState.init: CR0.CD and NW, the APIC
     * base kept; EFER cleared), while x87, SSE and XSAVE state, XCR0, the other MSRs and the TSC stay. The vCPU then
     * waits for a STARTUP IPI ({@link #startup}).
     */
    public void init() {
        setSpecialRegisters(ResetState.init(specialRegisters()));
        setRegisters(ResetState.registers(model));
        java.util.Arrays.fill(core.dr, 0);
        core.dr6 = ResetState.DR6;
        core.dr7 = ResetState.DR7;
        core.debugRegistersChanged();
        core.interruptShadow = false;
        halted = hltReturned = resumeInHlt = false;
        waitingForStartup = true;
    }

    /**
     * A STARTUP IPI of {@code vector}: a vCPU waiting after INIT starts in real mode at vector × 4 KiB (CS = vector ×
     * 256, IP 0); any other vCPU ignores it, as a processor does. Returns whether it started.
     */
    public boolean startup(int vector) {
        return startAt(vector << 8, 0);
    }

    /**
     * A vCPU waiting after INIT starts in real mode at {@code segment}:{@code offset} (a STARTUP IPI's page, or the
     * ACPI waking vector the machine resumes from S3 at); any other vCPU goes on as it was. Returns whether it started.
     */
    public boolean startAt(int segment, int offset) {
        if (!waitingForStartup) {
            return false;
        }
        setSpecialRegisters(ResetState.realModeCs(specialRegisters(), segment));
        core.rip = offset & 0xFFFF;
        waitingForStartup = false;
        return true;
    }

    /** Reports every #UD the core raises, one line each, e.g. for `jkvm run --trace`. */
    public void traceUndefined(java.util.function.Consumer<String> log) {
        core.undefinedTracer = (rip, bytes) -> log.accept(String.format("vCPU %d: #UD at RIP 0x%x, bytes %s", id, rip,
                java.util.HexFormat.ofDelimiter(" ").formatHex(bytes)));
    }

    @Override
    public int id() {
        return id;
    }

    /** How many decoded blocks were compiled to bytecode so far. */
    int compiledBlocks() {
        return core.blocksCompiled;
    }

    /** Whether the decoded block at guest-physical {@code physical} runs compiled code (for the tests). */
    boolean compiledAt(long physical) {
        PageBlocks page = core.code.pageIfAny(physical & ~0xFFFL);
        DecodedBlock block = page == null ? null : page.get((int) (physical & 0xFFF));
        return block != null && block.compiled != null;
    }

    /** How many compiled methods run more than one decoded block. */
    long compiledRegions() {
        return core.regionsCompiled;
    }

    /** How many of this vCPU's blocks run a class made before for a region of the same instructions. */
    long regionsShared() {
        return core.regionsShared;
    }

    /**
     * Counts of RAM's writes from outside the vCPUs (the machine's {@code GuestMemory.hostWrites}): with it, and no
     * other vCPU over the RAM, a serializing instruction checks the decoded code against memory again only when the
     * count moved. Without it, every serializing instruction does.
     */
    public void watchHostWrites(java.util.function.LongSupplier writes) {
        core.hostWrites = writes;
    }

    /** How many code-cache epochs this vCPU began: each makes a block compare its bytes with memory before it runs again. */
    long epochs() {
        return core.code.epochs();
    }

    /** How many PAUSEs this vCPU ran. */
    long pauses() {
        return core.pauses;
    }

    /** How many compiled methods run blocks of more than one page. */
    long regionsAcrossPages() {
        return core.regionsAcrossPages;
    }

    /** How many times a block left its region because a page the region runs no longer translated as it did. */
    long regionPagesMoved() {
        return core.regionPagesMoved;
    }

    /** How many decoded blocks run a region's method entered at their own start. */
    long regionEntries() {
        return core.regionEntries;
    }

    /** How many locked instructions ran exclusive, every other vCPU over the RAM stopped ({@link SplitLock}). */
    long exclusiveRuns() {
        return core.exclusiveRuns;
    }

    /** How many regions were compiled on the block compiler's thread rather than the vCPU's. */
    long regionsSent() {
        return core.regionsSent;
    }

    /** How many times an instruction across a page end ran as a decoded one. */
    long crossingRuns() {
        return core.crossingRuns;
    }

    /** How many instructions decoded blocks had the interpreter run inside them. */
    long interpretedInBlocks() {
        return core.interpretedInBlocks;
    }

    /** How many locked instructions decoded blocks ran as one compare-and-swap on guest RAM. */
    long lockedInPlace() {
        return core.lockedInPlace;
    }

    /** How many decoded blocks went on past their page's end into the next page. */
    long tailBlocks() {
        return core.code.tailBlocks;
    }

    /** How many times an instruction across a page end was decoded to run as a decoded one. */
    long crossingDecodes() {
        return core.crossingDecodes;
    }

    /** How many instructions the interpreter decoded, not finding them decoded before with the same bytes. */
    long interpreterDecodes() {
        return core.interpreterDecodes;
    }

    /** How many blocks ran after the one before with no look-up (its link to them still held). */
    long chainedBlocks() {
        return core.chainedBlocks;
    }

    /** How many runs of REP STOS or REP MOVS elements were stored at once. */
    long bulkStringRuns() {
        return core.bulkStringRuns;
    }

    /** How many blocks were found by their linear address, with no translation or page index. */
    long blocksFoundByLinearAddress() {
        return core.code.foundByLinear;
    }

    /** How many blocks in another page ran after the one before by its link to them, with no look-up. */
    long blocksLinkedAcrossPages() {
        return core.code.crossLinked;
    }

    /** Pages the decoded-block cache holds now (bounded by CodeCache.MAX_PAGES). */
    int decodedPages() {
        return core.code.pages();
    }

    /** The decoded instructions the cache holds now, how many it decoded in all, and how often it was emptied. */
    record DecodedCounts(long held, long decoded, int flushes) {
    }

    /** The decoded-block cache's counts now (for the tests). */
    DecodedCounts decodedInstructions() {
        return new DecodedCounts(core.code.instructions(), core.code.decodedInstructions, core.code.flushes);
    }

    /** Where this vCPU's instructions ran and what its caches did, so far; read it while the vCPU is paused or ended. */
    public CoreStats coreStats() {
        return new CoreStats(core.instructions, core.inCompiledRegions, core.regionCalls, core.inDecodedBlocks,
                core.decodedBlockRuns, core.code.decodedInstructions, core.code.flushes, core.regionsMade);
    }

    /** Marks each page this vCPU stores to in {@code pages} from now on (null: stops); call it while the vCPU is paused. */
    public void trackDirtyPages(DirtyPages pages) {
        core.dirty = pages;
        core.dropDirectWrites(); // a store the log must see never goes the direct way
    }

    /** kvmclock now, in nanoseconds: what the guest's pvclock structure gives at this moment. */
    public long kvmClock() {
        return KvmClock.now(core);
    }

    /** How far kvmclock reads ahead of the TSC in nanoseconds (the VM's clock zero). */
    public long kvmClockOffset() {
        return core.kvmClockOffset;
    }

    /** Sets {@link #kvmClockOffset()}, the same on every vCPU of a VM, while the vCPU does not run. */
    public void setKvmClockOffset(long offset) {
        KvmClock.setOffset(core, offset);
    }

    /**
     * Makes kvmclock read 0 at host time {@code hostNanos} (System.nanoTime), the machine's creation: KVM's clock starts
     * there too, and every vCPU given the same time keeps one clock. The TSC goes on from the host's clock.
     */
    public void zeroKvmClockAt(long hostNanos) {
        KvmClock.zeroAt(core, hostNanos);
    }

    /** 1 GHz (the clock's nanoseconds) until {@link #setTscKhz} sets another rate. */
    @Override
    public long tscKhz() {
        return core.tsc.khz();
    }

    /** Any rate: the core scales its clock in software. */
    @Override
    public boolean setTscKhz(long khz) {
        if (khz <= 0) {
            return false;
        }
        core.tsc.setKhz(khz);
        return true;
    }

    /** Guest instructions retired so far. */
    public long instructions() {
        return core.instructions;
    }

    /** Times the guest has stopped in HLT to wait for an interrupt so far. */
    public long waits() {
        return waits;
    }

    @Override
    public VcpuExit run() {
        if (pendingIn != null) {
            core.completeIn(pendingInSize, pendingIn.value); // AL/AX/EAX, or INS's memory
            pendingIn = null;
        }
        boolean restartAccess = core.mmioInFlight(); // the machine has answered: the restarted instruction reads it
        if (!exits.isEmpty()) {
            return exits.poll();
        }
        core.serialize(); // the machine may have written guest memory (an image, DMA) since the last run: its count says
        if (waitingForStartup) { // nothing runs before the STARTUP IPI: the machine decides when to send it
            return exitRequested ? new VcpuExit.Interrupted() : new VcpuExit.Hlt();
        }
        core.started();
        if (resumeInHlt) {
            resumeInHlt = false;
            waits++;
            if (core.interrupts != null && (core.flagBits & Core.IF) != 0) {
                halted = true;
            } else {
                hltReturned = true;
                return new VcpuExit.Hlt();
            }
        }
        while (true) {
            if (halted && !awaitInterrupt()) {
                return new VcpuExit.Interrupted();
            }
            SplitLock.enterRunning(core.lockMark); // cleared in each way out: a locked instruction then marks itself
            try {
                core.takePendingSingleStep();
                if (restartAccess) {
                    restartAccess = false;
                    finishRestartedAccess();
                }
                if (!exitRequested) {
                    hltReturned = false; // the guest runs on from the HLT the machine woke it from
                }
                while (!exitRequested) {
                    if (core.interpretOnly) {
                        for (int i = 0; i < SLICE && exits.isEmpty(); i++) {
                            core.acknowledgeCodeMarks();
                            core.step();
                            SplitLock.letExclusiveIn(core.lockMark);
                        }
                    } else {
                        for (int i = 0; i < SLICE && exits.isEmpty(); ) {
                            core.acknowledgeCodeMarks();
                            i += core.runBlock();
                            SplitLock.letExclusiveIn(core.lockMark);
                        }
                    }
                    if (!exits.isEmpty()) {
                        return exits.poll();
                    }
                }
                return new VcpuExit.Interrupted();
            } catch (Core.Stop stop) {
                switch (stop.reason) {
                    case HLT -> {
                        if (!exits.isEmpty()) {
                            return exits.poll();
                        }
                        waits++;
                        if (core.interrupts == null || (core.flagBits & Core.IF) == 0) {
                            hltReturned = true;
                            return new VcpuExit.Hlt(); // nothing can wake it: the machine decides
                        }
                        halted = true; // waits in the loop above for INTR
                    }
                    case SHUTDOWN -> {
                        return new VcpuExit.Shutdown();
                    }
                    case FETCH_OUTSIDE_RAM -> {
                        return new VcpuExit.CannotEmulate(String.format(
                                "instruction fetch from guest-physical 0x%x, where there is no RAM", core.fetchOutsideRam));
                    }
                    case TOO_MANY_MMIO_ACCESSES -> {
                        return new VcpuExit.CannotEmulate("one instruction made more than " + Core.MAX_MMIO_ACCESSES
                                + " MMIO accesses");
                    }
                    case IO, MMIO_READ -> {
                        return exits.poll();
                    }
                }
            } finally {
                SplitLock.exitRunning(core.lockMark);
            }
        }
    }

    /** The instruction an MMIO read interrupted runs to its end before any interrupt: it had begun. */
    private void finishRestartedAccess() {
        InterruptSource controller = core.interrupts;
        core.interrupts = null;
        try {
            core.step();
        } finally {
            core.interrupts = controller;
        }
    }

    /**
     * HLT with interrupts enabled: sleeps until INTR rises or an exit is requested; true when the vCPU is to
     * go on (the interrupt is then taken at the first instruction boundary), false to return to the machine
     * still halted.
     */
    private boolean awaitInterrupt() {
        core.activity.sleeps();
        try {
            synchronized (haltLock) {
                while (!core.interruptLine && !core.nmiPending && !exitRequested) {
                    try {
                        haltLock.wait();
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                        return false;
                    }
                }
            }
        } finally {
            core.activity.wakes();
            core.acknowledgeCodeMarks(); // before its first store: a page may have got code meanwhile
        }
        if (exitRequested) {
            return false;
        }
        halted = false;
        return true;
    }

    @Override
    public void requestExit() {
        exitRequested = true;
        synchronized (haltLock) {
            haltLock.notifyAll();
        }
    }

    @Override
    public void clearExitRequest() {
        exitRequested = false;
    }

    @Override
    public void connectInterrupts(InterruptSource controller) {
        core.interrupts = controller;
    }

    /** Gives the vCPU its local APIC: the interrupt controller it acknowledges, IA32_APIC_BASE's and CR8's other side. */
    public void connectApic(io.jkvm.x86.LocalApicPort apic) {
        core.interrupts = apic;
        core.apic = apic;
        apic.baseChanged(core.apicBase);
    }

    /** A non-maskable interrupt: taken at the next instruction boundary unless one is in service (until IRET). */
    public void injectNmi() {
        core.raiseNmi();
        synchronized (haltLock) {
            haltLock.notifyAll();
        }
    }

    /** Waiting, after INIT, for a STARTUP IPI. */
    public boolean waitingForStartup() {
        return waitingForStartup;
    }

    @Override
    public void setInterruptLine(boolean raised) {
        core.interruptLine = raised;
        if (raised) {
            synchronized (haltLock) {
                haltLock.notifyAll();
            }
        }
    }

    /** Whether the vCPU sits in HLT waiting for an interrupt. */
    public boolean halted() {
        return halted;
    }

    @Override
    public Registers registers() {
        return Registers.byEncoding(core.r, core.rip, core.rflags());
    }

    @Override
    public void setRegisters(Registers g) {
        long[] r = core.r;
        r[0] = g.rax(); r[3] = g.rbx(); r[1] = g.rcx(); r[2] = g.rdx(); r[6] = g.rsi(); r[7] = g.rdi();
        r[4] = g.rsp(); r[5] = g.rbp();
        for (int i = 8; i < 16; i++) {
            r[i] = g.gpr(i);
        }
        core.rip = g.rip();
        core.setRflags(g.rflags());
    }

    @Override
    public SpecialRegisters specialRegisters() {
        if (!core.code64) { // 16- and 32-bit code: every segment register as its descriptor cache holds it
            Segment[] s = core.segments;
            return new SpecialRegisters(s[SegmentLoads.CS], s[SegmentLoads.DS], s[SegmentLoads.ES],
                    withBase(s[SegmentLoads.FS], core.fsBase), withBase(s[SegmentLoads.GS], core.gsBase), s[SegmentLoads.SS],
                    core.taskRegister, core.ldtr, new DescriptorTable(core.gdtBase, core.gdtLimit),
                    new DescriptorTable(core.idtBase, core.idtLimit), core.cr0, core.cr2, core.cr3, core.cr4, core.cr8,
                    core.efer, core.apicBase, new long[4]);
        }
        Segment fresh = new Segment(0, 0xFFFFFFFF, core.cs | core.cpl, 0xB, true, core.cpl, false, true, true, true, false, false);
        Segment code = core.codeSegmentLoads != codeSegmentLoadsAtSet ? fresh : cached(loaded.cs(), core.cs | core.cpl, core.cpl, fresh);
        int ssSelector = core.ss == 0 ? 0 : core.ss | core.cpl;
        Segment stack = cached(loaded.ss(), ssSelector, core.cpl, dataSegment(ssSelector, 0, core.cpl));
        return new SpecialRegisters(code, cached(loaded.ds(), core.ds, dataSegment(core.ds, 0, 0)),
                cached(loaded.es(), core.es, dataSegment(core.es, 0, 0)),
                withBase(cached(loaded.fs(), core.fs, dataSegment(core.fs, 0, 0)), core.fsBase),
                withBase(cached(loaded.gs(), core.gs, dataSegment(core.gs, 0, 0)), core.gsBase), stack,
                cached(core.taskRegister, core.tr, Segment.tss64(core.tr, 0, 0x67)), core.ldtr,
                new DescriptorTable(core.gdtBase, core.gdtLimit), new DescriptorTable(core.idtBase, core.idtLimit),
                core.cr0, core.cr2, core.cr3, core.cr4, core.cr8, core.efer, core.apicBase, new long[4]);
    }

    /**
     * The hidden part of a segment register as last loaded from outside while the guest has not changed its
     * selector since (a CPU keeps it in its descriptor cache; the core keeps only selectors), else {@code fresh}.
     */
    private static Segment cached(Segment loaded, int selector, Segment fresh) {
        return loaded.selector() == selector ? loaded : fresh;
    }

    private static Segment cached(Segment loaded, int selector, int dpl, Segment fresh) {
        return loaded.selector() == selector && loaded.dpl() == dpl ? loaded : fresh;
    }

    private static Segment dataSegment(int selector, long base, int dpl) {
        return new Segment(base, 0xFFFFFFFF, selector, 0x3, true, dpl, true, true, false, true, false, false);
    }

    private static Segment withBase(Segment s, long base) {
        return new Segment(base, s.limit(), s.selector(), s.type(), s.present(), s.dpl(), s.db(), s.s(), s.l(), s.g(),
                s.avl(), s.unusable());
    }

    @Override
    public void setSpecialRegisters(SpecialRegisters s) {
        core.segments[SegmentLoads.ES] = s.es();
        core.segments[SegmentLoads.CS] = s.cs();
        core.segments[SegmentLoads.SS] = s.ss();
        core.segments[SegmentLoads.DS] = s.ds();
        core.segments[SegmentLoads.FS] = s.fs();
        core.segments[SegmentLoads.GS] = s.gs();
        core.taskRegister = s.tr();
        core.ldtr = s.ldt();
        core.cs = s.cs().selector() & ~3;
        // CPL is SS.DPL, as KVM keeps it (CS.DPL is lower after a transfer to conforming code); 0 in real mode
        core.setCpl((s.cr0() & ControlBits.CR0_PE) == 0 ? 0 : s.ss().dpl()); // the TLB flush below drops the direct pages
        core.ss = s.ss().selector() & ~3;
        core.ds = s.ds().selector();
        core.es = s.es().selector();
        core.fs = s.fs().selector();
        core.gs = s.gs().selector();
        core.fsBase = s.fs().base();
        core.gsBase = s.gs().base();
        core.tr = s.tr().selector();
        core.gdtBase = s.gdt().base();
        core.gdtLimit = s.gdt().limit();
        core.idtBase = s.idt().base();
        core.idtLimit = s.idt().limit();
        core.cr0 = s.cr0();
        core.cr2 = s.cr2();
        core.cr3 = s.cr3();
        core.cr4 = s.cr4();
        core.cr8 = s.cr8();
        core.efer = s.efer();
        core.apicBase = s.apicBase();
        loaded = s;
        codeSegmentLoadsAtSet = core.codeSegmentLoads;
        core.flushTlbWithGlobals();
        core.modeChanged();
    }

    @Override
    public void setXcr0(long xcr0) {
        try {
            Xcr0Rules.check(xcr0, model.supportedXcr0() | 0x3);
        } catch (XsaveException e) {
            throw new VcpuStateException("cannot set XCR0 on vCPU " + id + ": " + e.getMessage(), e);
        }
        SystemInstructions.setXcr0(core, xcr0);
    }

    @Override
    public void setMsrs(Map<Integer, Long> values) {
        for (Map.Entry<Integer, Long> e : values.entrySet()) {
            if (e.getKey() == Msrs.IA32_TSC) {
                core.tsc.write(e.getValue()); // the machine's write: IA32_TSC_ADJUST stays (KVM's host-initiated rule)
                continue;
            }
            if (e.getKey() == Msrs.IA32_TSC_ADJUST && core.cpuidHas(7, 0, 1, 1)) {
                core.tsc.setAdjust(e.getValue());
                continue;
            }
            try {
                CpuidAndMsrs.wrmsr(core, e.getKey(), e.getValue());
            } catch (GuestFault f) {
                throw new VcpuStateException(String.format("the software core refused MSR 0x%x = 0x%x on vCPU %d",
                        e.getKey(), e.getValue(), id), f);
            }
        }
    }

    @Override
    public VcpuState saveState() {
        // As KVM exports it (patch 07): R16..R31 with XSTATE_BV[19] set whenever the model has APX.
        XsaveArea x = XsaveArea.of(layout, Xsave.image(core, model.hasApx()));
        SequencedMap<Integer, Long> msrs = new LinkedHashMap<>();
        for (int m : stateMsrs) {
            msrs.put(m, CpuidAndMsrs.rdmsr(core, m));
        }
        PendingEvents none = PendingEvents.none();
        PendingEvents events = new PendingEvents(none.exception(),
                new PendingEvents.Interrupt(false, 0, false, core.interruptShadow ? 1 : 0),
                new PendingEvents.Nmi(false, core.nmiPending, core.nmiBlocked), 0, false);
        return new VcpuState(model, registers(), specialRegisters(), core.xcr0, x, msrs, events,
                new DebugRegisters(core.dr[0], core.dr[1], core.dr[2], core.dr[3], core.dr6, core.dr7),
                waitingForStartup ? Activity.WAIT_FOR_SIPI
                        : halted || hltReturned || resumeInHlt ? Activity.HALTED : Activity.ACTIVE);
    }

    @Override
    public void restoreState(VcpuState s) {
        XsaveArea saved = s.xsave(); // a copy per call: taken once
        if (saved.present(ApxState.COMPONENT) && !model.hasApx()) {
            throw new VcpuStateException("the XSAVE state carries APX registers R16-R31 (XSTATE_BV bit 19) but vCPU "
                    + id + " cannot hold them: its CPU model has no APX");
        }
        XsaveArea x;
        try {
            Xcr0Rules.check(s.xcr0(), model.supportedXcr0() | 0x3);
            CpuModel.requireMxcsrFits(saved.mxcsr(), core.mxcsrMask);
            x = saved.layout().equals(layout) ? saved : saved.relayout(layout);
        } catch (XsaveException e) {
            throw new VcpuStateException("cannot restore vCPU " + id + ": " + e.getMessage(), e);
        }
        for (int msr : s.msrs().keySet()) {
            boolean known = false;
            for (int m : stateMsrs) {
                known |= m == msr;
            }
            if (!known) {
                throw new VcpuStateException(String.format("cannot restore vCPU %d: MSR 0x%x is not one its CPU model has", id, msr));
            }
        }
        setRegisters(s.registers());
        setSpecialRegisters(s.specialRegisters());
        SystemInstructions.setXcr0(core, s.xcr0());
        Xsave.load(core, x.toBytes());
        setMsrs(s.msrs());
        core.interruptShadow = s.events().interrupt().shadow() != 0;
        core.setNmiPending(s.events().nmi().pending() || s.events().nmi().injected());
        core.nmiBlocked = s.events().nmi().masked();
        DebugRegisters d = s.debugRegisters();
        core.dr[0] = d.dr0();
        core.dr[1] = d.dr1();
        core.dr[2] = d.dr2();
        core.dr[3] = d.dr3();
        core.dr6 = d.dr6();
        core.dr7 = d.dr7();
        core.debugRegistersChanged();
        halted = hltReturned = false;
        resumeInHlt = s.activity() == Activity.HALTED;
        waitingForStartup = s.activity() == Activity.WAIT_FOR_SIPI;
    }
}

package io.jkvm.kvm;

import io.jkvm.linux.Fd;
import io.jkvm.linux.Mapping;
import io.jkvm.linux.NativeThread;
import io.jkvm.linux.uapi.Uapi;
import io.jkvm.linux.uapi.kvm_debugregs;
import io.jkvm.linux.uapi.kvm_fpu;
import io.jkvm.linux.uapi.kvm_interrupt;
import io.jkvm.linux.uapi.kvm_mp_state;
import io.jkvm.linux.uapi.kvm_msr_entry;
import io.jkvm.linux.uapi.kvm_msrs;
import io.jkvm.linux.uapi.kvm_regs;
import io.jkvm.linux.uapi.kvm_sregs;
import io.jkvm.linux.uapi.kvm_translation;
import io.jkvm.linux.uapi.kvm_vcpu_events;
import io.jkvm.linux.uapi.kvm_xcr;
import io.jkvm.linux.uapi.kvm_xcrs;
import io.jkvm.linux.uapi.kvm_xsave;
import io.jkvm.linux.LinuxException;
import io.jkvm.x86.Activity;
import io.jkvm.x86.ApxState;
import io.jkvm.x86.CpuFeature;
import io.jkvm.linux.HostCpu;
import io.jkvm.x86.CpuModel;
import io.jkvm.x86.CpuidTable;
import io.jkvm.x86.Msrs;
import io.jkvm.x86.VcpuState;
import io.jkvm.x86.VcpuStateException;
import io.jkvm.x86.VirtualCpu;
import io.jkvm.x86.XsaveArea;
import io.jkvm.x86.XsaveComponent;
import io.jkvm.x86.XsaveException;
import io.jkvm.x86.XsaveLayout;
import io.jkvm.x86.Xcr0Rules;
import io.jkvm.x86.DebugRegisters;
import io.jkvm.x86.FpuState;
import io.jkvm.x86.InterruptSource;
import io.jkvm.x86.PendingEvents;
import io.jkvm.x86.Registers;
import io.jkvm.x86.SpecialRegisters;
import io.jkvm.x86.VcpuExit;

import java.lang.foreign.Arena;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.VarHandle;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SequencedMap;
import java.util.function.Consumer;
import java.util.function.Function;

/**
 * A KVM vCPU fd and its kvm_run region. One thread runs it at a time; {@link #requestExit()} may be called from
 * any thread to make a {@link #run()} in progress (or the next one) return {@link VcpuExit.Interrupted}.
 */
public final class KvmVcpu implements VirtualCpu, AutoCloseable {
    /** KVM_MP_STATE_* values. */
    public enum MpState {
        RUNNABLE(Uapi.KVM_MP_STATE_RUNNABLE()),
        UNINITIALIZED(Uapi.KVM_MP_STATE_UNINITIALIZED()),
        INIT_RECEIVED(Uapi.KVM_MP_STATE_INIT_RECEIVED()),
        HALTED(Uapi.KVM_MP_STATE_HALTED()),
        SIPI_RECEIVED(Uapi.KVM_MP_STATE_SIPI_RECEIVED());

        private final int value;

        MpState(int value) {
            this.value = value;
        }

        static MpState of(int value) {
            for (MpState s : values()) {
                if (s.value == value) {
                    return s;
                }
            }
            throw new KvmException("KVM reported an MP state jkvm does not know: " + value);
        }
    }

    private final Vm vm;
    private final int id;
    private final Fd fd;
    private final KvmRun run;
    /** Scratch structs reused by the frequent calls, so they allocate nothing native. */
    private final Arena arena = Arena.ofShared();
    private final MemorySegment regs = arena.allocate(kvm_regs.layout());
    private final MemorySegment sregs = arena.allocate(kvm_sregs.layout());
    private volatile MemorySegment xsaveBuffer;
    private volatile io.jkvm.linux.Ioctl xsaveGet;
    private volatile NativeThread runner;
    /** The CPU model last set with KVM_SET_CPUID2 (KVM may store an adjusted copy; this is what jkvm asked for). */
    private volatile CpuidTable model;
    private volatile boolean exitRequested;
    private volatile InterruptSource interrupts;
    private volatile boolean interruptLine;
    /** KVM_INTERRUPT was issued and no KVM_RUN has entered the guest since (KVM keeps one queued vector). */
    private boolean injectionQueued;
    /**
     * In HLT: a HLT exit brought the vCPU back to jkvm (without an in-kernel irqchip KVM does not keep it halted)
     * and the guest has not been entered since. A vCPU restored in HLT first reports that HLT, so the machine waits.
     */
    private volatile boolean inHlt;
    /**
     * Set by a restore until the next KVM_RUN: whether the restored state can take an interrupt (IF set, no shadow,
     * no event being injected). kvm_run's ready_for_interrupt_injection is from before the restore then, and not
     * every KVM answers the window request that would correct it (kvm_pvm does not).
     */
    private boolean readyAfterRestore;
    private boolean restoredSinceRun;
    private boolean reportHlt;

    KvmVcpu(Vm vm, int id, Fd fd, Mapping runMapping) {
        this.vm = vm;
        this.id = id;
        this.fd = fd;
        this.run = new KvmRun(runMapping);
    }

    @Override
    public int id() {
        return id;
    }

    public Vm vm() {
        return vm;
    }

    // ---- running -------------------------------------------------------------------------------------------

    /**
     * KVM_RUN until the next exit; a signal or {@link #requestExit()} gives {@link VcpuExit.Interrupted}. With an
     * interrupt controller connected (no in-kernel irqchip), a raised INTR is injected with KVM_INTERRUPT when KVM
     * says the guest can take it, else an interrupt window is requested and its exit handled here.
     */
    @Override
    public VcpuExit run() {
        if (runner == null) {
            runner = NativeThread.current();
        }
        if (inHlt) {
            if (exitRequested) {
                return new VcpuExit.Interrupted(); // not entering keeps it exactly in HLT for whoever reads the state
            }
            if (reportHlt) {
                reportHlt = false;
                return new VcpuExit.Hlt();
            }
            inHlt = false;
        }
        while (true) {
            if (interrupts != null) {
                offerInterrupt();
            }
            int r = fd.ioctlOrErrno(Ioctls.RUN, 0L);
            if (r < 0) {
                if (-r == Uapi.EINTR() || -r == Uapi.EAGAIN()) {
                    if (interrupts != null && !exitRequested) {
                        clearInterruptKick();
                        continue; // kicked for INTR: offer the interrupt and go on
                    }
                    return new VcpuExit.Interrupted();
                }
                throw new LinuxException("ioctl(KVM_RUN) on " + fd.name(), -r);
            }
            injectionQueued = false; // the guest was entered: KVM delivered it (or re-injects it itself)
            restoredSinceRun = false;
            if (run.exitReason() == Uapi.KVM_EXIT_IRQ_WINDOW_OPEN()) {
                continue;
            }
            VcpuExit exit = run.decode();
            inHlt = exit instanceof VcpuExit.Hlt;
            return exit;
        }
    }

    /** Before each KVM_RUN: injects the controller's interrupt if INTR is up and the guest can take it now. */
    private void offerInterrupt() {
        if (!interruptLine || injectionQueued) {
            run.setRequestInterruptWindow(false);
            return;
        }
        if (restoredSinceRun ? readyAfterRestore : run.readyForInterruptInjection()) {
            interrupt(interrupts.acknowledge());
            injectionQueued = true;
            run.setRequestInterruptWindow(false);
        } else {
            run.setRequestInterruptWindow(true);
        }
    }

    /**
     * After a KVM_RUN that INTR's kick (or a stray signal) made return, with no exit requested: immediate_exit off
     * again, unless an exit request came meanwhile. Every such return clears it, so a kick can never leave it set
     * with nothing to clear it (a KVM_RUN returning at once, forever); a raise after the clear sets it again, and
     * the line is read after the clear.
     */
    private void clearInterruptKick() {
        run.setImmediateExit(false);
        VarHandle.fullFence(); // the reset before reading exitRequested and the line: a kick after it is not lost
        if (exitRequested) {
            run.setImmediateExit(true);
        }
    }

    @Override
    public void connectInterrupts(InterruptSource controller) {
        interrupts = controller;
        if (controller == null) { // none from jkvm (the kernel's own irqchip delivers): nothing to wait a window for
            interruptLine = false;
            run.setRequestInterruptWindow(false);
        }
    }

    /** INTR rose: a KVM_RUN in progress returns (immediate_exit and a signal) so the interrupt can be injected. */
    @Override
    public void setInterruptLine(boolean raised) {
        interruptLine = raised;
        if (raised && interrupts != null) {
            run.setImmediateExit(true);
            NativeThread t = runner;
            if (t != null) {
                t.kick();
            }
        }
    }

    /**
     * Makes the vCPU leave guest mode: sets kvm_run.immediate_exit (so a KVM_RUN about to start returns at once)
     * and signals the thread running it (so one in progress returns). Stays in force until {@link #clearExitRequest()}.
     */
    @Override
    public void requestExit() {
        exitRequested = true;
        run.setImmediateExit(true);
        NativeThread t = runner;
        if (t != null) {
            t.kick();
        }
    }

    /**
     * Makes a KVM_RUN in progress return (a signal to the thread running it), with no exit request left behind: a vCPU
     * halted in the kernel's APIC returns to jkvm, which can then read whether it halted for good.
     */
    public void kick() {
        NativeThread t = runner;
        if (t != null) {
            t.kick();
        }
    }

    /**
     * In HLT in the kernel's APIC with interrupts disabled: nothing but an NMI, INIT or SMI wakes it, the state that
     * ends a run ({@code HLT with interrupts disabled}). Without the in-kernel irqchip HLT is an exit instead.
     */
    public boolean haltedWithInterruptsOff() {
        return vm.hasIrqchip() && mpState() == MpState.HALTED && !registers().interruptsEnabled();
    }

    @Override
    public void clearExitRequest() {
        exitRequested = false;
        run.setImmediateExit(false);
    }

    public boolean exitRequested() {
        return exitRequested;
    }

    /** Queues an external interrupt (only without an in-kernel irqchip). */
    public void interrupt(int vector) {
        write(Ioctls.INTERRUPT, kvm_interrupt.layout(), s -> kvm_interrupt.irq(s, vector));
    }

    // ---- registers -----------------------------------------------------------------------------------------

    @Override
    public Registers registers() {
        fd.ioctl(Ioctls.GET_REGS, regs);
        return StateMarshal.readRegs(regs);
    }

    @Override
    public void setRegisters(Registers r) {
        StateMarshal.writeRegs(regs, r);
        fd.ioctl(Ioctls.SET_REGS, regs);
    }

    @Override
    public SpecialRegisters specialRegisters() {
        fd.ioctl(Ioctls.GET_SREGS, sregs);
        return StateMarshal.readSregs(sregs);
    }

    @Override
    public void setSpecialRegisters(SpecialRegisters r) {
        StateMarshal.writeSregs(sregs, r);
        fd.ioctl(Ioctls.SET_SREGS, sregs);
    }

    public FpuState fpu() {
        return read(Ioctls.GET_FPU, kvm_fpu.layout(), StateMarshal::readFpu);
    }

    public void setFpu(FpuState f) {
        write(Ioctls.SET_FPU, kvm_fpu.layout(), s -> StateMarshal.writeFpu(s, f));
    }

    public DebugRegisters debugRegisters() {
        return read(Ioctls.GET_DEBUGREGS, kvm_debugregs.layout(), StateMarshal::readDebugRegs);
    }

    public void setDebugRegisters(DebugRegisters d) {
        write(Ioctls.SET_DEBUGREGS, kvm_debugregs.layout(), s -> StateMarshal.writeDebugRegs(s, d));
    }

    public PendingEvents events() {
        return read(Ioctls.GET_VCPU_EVENTS, kvm_vcpu_events.layout(), StateMarshal::readEvents);
    }

    public void setEvents(PendingEvents e) {
        write(Ioctls.SET_VCPU_EVENTS, kvm_vcpu_events.layout(), s -> StateMarshal.writeEvents(s, e));
    }

    /** The in-kernel local APIC's register page (KVM_GET_LAPIC; needs the in-kernel irqchip). */
    public byte[] lapicRegisters() {
        return read(Ioctls.GET_LAPIC, io.jkvm.linux.uapi.kvm_lapic_state.layout(), KernelIrqchip::readLapic);
    }

    public void setLapicRegisters(byte[] registers) {
        write(Ioctls.SET_LAPIC, io.jkvm.linux.uapi.kvm_lapic_state.layout(), s -> KernelIrqchip.writeLapic(s, registers));
    }

    public MpState mpState() {
        return read(Ioctls.GET_MP_STATE, kvm_mp_state.layout(), s -> MpState.of(kvm_mp_state.mp_state(s)));
    }

    public void setMpState(MpState state) {
        write(Ioctls.SET_MP_STATE, kvm_mp_state.layout(), s -> kvm_mp_state.mp_state(s, state.value));
    }

    /** A GET ioctl into a fresh struct, decoded. */
    private <T> T read(io.jkvm.linux.Ioctl ioctl, MemoryLayout layout, Function<MemorySegment, T> decode) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment s = a.allocate(layout);
            fd.ioctl(ioctl, s);
            return decode.apply(s);
        }
    }

    /** A SET ioctl from a fresh zeroed struct, filled by {@code encode}. */
    private void write(io.jkvm.linux.Ioctl ioctl, MemoryLayout layout, Consumer<MemorySegment> encode) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment s = a.allocate(layout);
            encode.accept(s);
            fd.ioctl(ioctl, s);
        }
    }

    // ---- CPUID, MSRs, XCRs, XSAVE --------------------------------------------------------------------------

    public void setCpuid(CpuidTable table) {
        try (Arena a = Arena.ofConfined()) {
            fd.ioctl(Ioctls.SET_CPUID2, CpuidMarshal.write(a, table));
        }
        model = table;
    }

    /** The CPU model set on this vCPU, empty before KVM_SET_CPUID2. */
    public java.util.Optional<CpuidTable> model() {
        return java.util.Optional.ofNullable(model);
    }

    /** The CPUID table set on this vCPU (KVM_GET_CPUID2). */
    public CpuidTable cpuid() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment s = CpuidMarshal.allocate(a, Kvm.cpuidCapacity());
            fd.ioctl(Ioctls.GET_CPUID2, s);
            return CpuidMarshal.read(s);
        }
    }

    /** Reads the given MSRs; KVM stops at the first it cannot read, which is an error naming that MSR. */
    public SequencedMap<Integer, Long> msrs(int... indices) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment s = msrBuffer(a, indices.length);
            for (int i = 0; i < indices.length; i++) {
                kvm_msr_entry.index(msrEntry(s, i), indices[i]);
            }
            int done = fd.ioctl(Ioctls.GET_MSRS, s);
            if (done < indices.length) {
                throw new KvmException(String.format("KVM_GET_MSRS: KVM cannot read MSR 0x%x on vCPU %d", indices[done], id));
            }
            SequencedMap<Integer, Long> out = new LinkedHashMap<>();
            for (int i = 0; i < indices.length; i++) {
                out.put(indices[i], kvm_msr_entry.data(msrEntry(s, i)));
            }
            return out;
        }
    }

    @Override
    public void setMsrs(Map<Integer, Long> values) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment s = msrBuffer(a, values.size());
            int i = 0;
            int[] order = new int[values.size()];
            for (Map.Entry<Integer, Long> e : values.entrySet()) {
                MemorySegment entry = msrEntry(s, i);
                kvm_msr_entry.index(entry, e.getKey());
                kvm_msr_entry.data(entry, e.getValue());
                order[i++] = e.getKey();
            }
            int done = fd.ioctl(Ioctls.SET_MSRS, s);
            if (done < order.length) {
                throw new VcpuStateException(String.format("KVM_SET_MSRS: KVM refused MSR 0x%x = 0x%x on vCPU %d",
                        order[done], values.get(order[done]), id));
            }
        }
    }

    private static MemorySegment msrBuffer(Arena a, int n) {
        MemorySegment s = a.allocate(kvm_msrs.sizeof() + kvm_msr_entry.sizeof() * n, 8);
        kvm_msrs.nmsrs(s, n);
        return s;
    }

    private static MemorySegment msrEntry(MemorySegment msrs, int i) {
        return msrs.asSlice(kvm_msrs.entries$offset() + kvm_msr_entry.sizeof() * i, kvm_msr_entry.layout());
    }

    /** The extended control registers by index (XCR0 is index 0). */
    public SequencedMap<Integer, Long> xcrs() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment s = a.allocate(kvm_xcrs.layout());
            fd.ioctl(Ioctls.GET_XCRS, s);
            SequencedMap<Integer, Long> out = new LinkedHashMap<>();
            for (int i = 0; i < kvm_xcrs.nr_xcrs(s); i++) {
                MemorySegment x = kvm_xcrs.xcrs(s).asSlice(kvm_xcr.sizeof() * i, kvm_xcr.layout());
                out.put(kvm_xcr.xcr(x), kvm_xcr.value(x));
            }
            return out;
        }
    }

    /**
     * Sets XCR0 after checking it against the architecture's rules and what this vCPU supports (its CPU model's
     * leaf 0xD, within KVM's): a bad value is refused with the rule it breaks, before any ioctl.
     */
    @Override
    public void setXcr0(long xcr0) {
        CpuidTable cpu = model != null ? model : vm.hostCpuid();
        try {
            Xcr0Rules.check(xcr0, cpu.supportedXcr0() & vm.hostCpuid().supportedXcr0() | 0x3);
        } catch (XsaveException e) {
            throw new VcpuStateException("cannot set XCR0 on vCPU " + id + ": " + e.getMessage(), e);
        }
        setXcrs(Map.of(0, xcr0));
    }

    public void setXcrs(Map<Integer, Long> values) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment s = a.allocate(kvm_xcrs.layout());
            kvm_xcrs.nr_xcrs(s, values.size());
            int i = 0;
            for (Map.Entry<Integer, Long> e : values.entrySet()) {
                MemorySegment x = kvm_xcrs.xcrs(s).asSlice(kvm_xcr.sizeof() * i++, kvm_xcr.layout());
                kvm_xcr.xcr(x, e.getKey());
                kvm_xcr.value(x, e.getValue());
            }
            fd.ioctl(Ioctls.SET_XCRS, s);
        }
    }

    /** KVM_GET_TSC_KHZ: the rate this vCPU's TSC counts at; 0 where KVM cannot say (no KVM_CAP_GET_TSC_KHZ). */
    @Override
    public long tscKhz() {
        return vm.checkExtension(Capability.GET_TSC_KHZ) > 0 ? Integer.toUnsignedLong(fd.ioctl(Ioctls.GET_TSC_KHZ, 0L)) : 0;
    }

    /**
     * KVM_SET_TSC_KHZ. On a refusal KVM has already taken the rate as the one KVM_GET_TSC_KHZ reports, so the rate
     * before is set back: the vCPU then reports the rate its TSC really counts at.
     */
    @Override
    public boolean setTscKhz(long khz) {
        if (khz <= 0 || khz > 0xFFFF_FFFFL) {
            return false;
        }
        long before = tscKhz();
        if (fd.ioctlOrErrno(Ioctls.SET_TSC_KHZ, khz) >= 0) {
            return true;
        }
        if (before > 0) {
            fd.ioctlOrErrno(Ioctls.SET_TSC_KHZ, before);
        }
        return false;
    }

    /**
     * The XSAVE area size KVM wants: KVM_CAP_XSAVE2 on the VM fd, or the fixed 4096 of kvm_xsave where the
     * capability is absent (it reports 0 there). Fixed once the vCPU exists (guest XSAVE permissions lock then).
     */
    public int xsaveSize() {
        return (int) xsaveBuffer().byteSize();
    }

    /** One buffer per vCPU for KVM_GET_XSAVE2/KVM_SET_XSAVE, sized on first use. */
    private MemorySegment xsaveBuffer() {
        MemorySegment b = xsaveBuffer;
        if (b == null) {
            int cap = vm.checkExtension(Capability.XSAVE2);
            xsaveGet = cap > 0 ? Ioctls.GET_XSAVE2 : Ioctls.GET_XSAVE;
            b = arena.allocate(Math.max(cap, (int) kvm_xsave.sizeof()), 64);
            xsaveBuffer = b;
        }
        return b;
    }

    /** KVM_GET_XSAVE2 (or KVM_GET_XSAVE without the capability): the standard-format XSAVE image. */
    public byte[] xsave() {
        MemorySegment b = xsaveBuffer();
        fd.ioctl(xsaveGet, b);
        return b.toArray(ValueLayout.JAVA_BYTE);
    }

    /** The XSAVE state as a typed area in this host's layout (KVM's buffers use the host's CPUID leaf 0xD offsets). */
    public XsaveArea xsaveArea() {
        return XsaveArea.of(vm.hostLayout(), xsave());
    }

    /**
     * Loads an XSAVE area, first moved to this host's layout if it was saved with another. APX state (XSTATE_BV
     * bit 19) is refused before any ioctl unless the vCPU can hold it: its CPU model has APX and KVM supports
     * XCR0 bit 19. With bit 19 clear, KVM leaves R16..R31 as they were.
     */
    public void setXsave(XsaveArea area) {
        requireApxCapable(area, model);
        XsaveLayout host = vm.hostLayout();
        XsaveArea image = area.layout().equals(host) ? area : area.relayout(host, xsaveSize());
        setXsave(withSseMarked(image));
    }

    /**
     * The image with SSE marked in XSTATE_BV (same state: XMM0-15 as they are): the kernel takes MXCSR from a
     * KVM_SET_XSAVE image only when x87, SSE or AVX is marked, and otherwise keeps the vCPU's old MXCSR.
     */
    private static byte[] withSseMarked(XsaveArea image) {
        byte[] b = image.toBytes();
        b[XsaveArea.XSTATE_BV] |= 2;
        return b;
    }

    private void requireApxCapable(XsaveArea area, CpuidTable cpuModel) {
        if (!area.present(ApxState.COMPONENT)) {
            return;
        }
        String why = null;
        if (cpuModel == null || !cpuModel.hasApx()) {
            why = "its CPU model has no APX (" + CpuFeature.APX.cpuidBit() + ")";
        } else if ((vm.hostCpuid().supportedXcr0() & XsaveComponent.APX.mask()) == 0) {
            why = "this host's KVM does not support XCR0 bit 19 (APX)";
        }
        if (why != null) {
            throw new VcpuStateException("the XSAVE state carries APX registers R16-R31 (XSTATE_BV bit 19) but vCPU " + id
                    + " cannot hold them: " + why + "; run it on a host with APX or on the software core");
        }
    }

    /** The MSRs a saved vCPU carries: its CPU model's ({@link Msrs#vcpuState(CpuidTable)}), where this host's KVM lists them. */
    private int[] stateMsrs(CpuidTable cpuModel) {
        return vm.stateMsrs(cpuModel);
    }

    /** Everything needed to resume this vCPU elsewhere (a fresh VM, another host, the software core). */
    @Override
    public VcpuState saveState() {
        CpuidTable cpuid = model != null ? model : cpuid();
        long xcr0 = vm.kvm().checkExtension(Capability.XCRS) > 0 ? xcrs().getOrDefault(0, 1L) : 1L;
        Activity activity = vm.hasIrqchip() ? activity(mpState()) : inHlt ? Activity.HALTED : Activity.ACTIVE;
        return new VcpuState(cpuid, registers(), specialRegisters(), xcr0, inModelLayout(xsaveArea(), cpuid),
                msrs(stateMsrs(cpuid)), events(), debugRegisters(), activity);
    }

    /**
     * The activity an MP state of the kernel's APIC is: HLT stays in the kernel, and an application processor that
     * has had no INIT yet (UNINITIALIZED) or only INIT waits for a STARTUP IPI. KVM_GET_MP_STATE takes pending INIT and
     * SIPI first, so SIPI_RECEIVED is never read.
     */
    private Activity activity(MpState state) {
        return switch (state) {
            case RUNNABLE -> Activity.ACTIVE;
            case HALTED -> Activity.HALTED;
            case UNINITIALIZED, INIT_RECEIVED -> Activity.WAIT_FOR_SIPI;
            case SIPI_RECEIVED -> throw new KvmException("vCPU " + id + " has a STARTUP IPI KVM did not take (SIPI_RECEIVED)");
        };
    }

    /**
     * KVM's XSAVE image in the layout the CPU model's leaf 0xD gives: the host's own when the model is the host's, else
     * without the components the model lacks (the guest cannot enable them in XCR0, so they are in their init state).
     */
    private static XsaveArea inModelLayout(XsaveArea area, CpuidTable cpuid) {
        XsaveLayout modelLayout = XsaveLayout.fromCpuid(cpuid);
        if (area.layout().equals(modelLayout) || (modelLayout.userMask() & ~area.layout().userMask()) != 0) {
            return area; // the same, or a model with components the host lacks (which KVM does not run)
        }
        return area.canonical().relayout(modelLayout); // a component in its init state is not in use, whatever XSTATE_BV says
    }

    /**
     * Loads a saved state in Firecracker's order (CPUID, registers, special registers, XSAVE, XCRs, debug
     * registers, MSRs, events). Everything that can be refused is checked first (APX capability, XCR0 rules,
     * components the host lacks, MSRs KVM does not know), so a refusal leaves the vCPU untouched.
     */
    @Override
    public void restoreState(VcpuState s) {
        if (s.activity() == Activity.WAIT_FOR_SIPI && !vm.hasIrqchip()) {
            throw new VcpuStateException("cannot restore vCPU " + id + " on KVM: it waits for a STARTUP IPI, a state KVM holds"
                    + " only with its in-kernel APIC (a kernel's machine has it); restore it on the software core");
        }
        XsaveArea saved = s.xsave(); // a copy per call: taken once
        requireApxCapable(saved, s.cpuid());
        long supported = s.cpuid().supportedXcr0() & vm.hostCpuid().supportedXcr0() | 0x3;
        try {
            Xcr0Rules.check(s.xcr0(), supported);
        } catch (XsaveException e) {
            throw new VcpuStateException("cannot restore vCPU " + id + ": " + e.getMessage(), e);
        }
        XsaveArea image;
        try {
            CpuModel.requireMxcsrFits(saved.mxcsr(), HostCpu.mxcsrMask()); // the kernel checks MXCSR against this
            XsaveLayout host = vm.hostLayout();
            image = saved.layout().equals(host) ? saved : saved.relayout(host, xsaveSize());
        } catch (XsaveException e) {
            throw new VcpuStateException("cannot restore vCPU " + id + ": " + e.getMessage(), e);
        }
        int[] known = stateMsrs(s.cpuid());
        for (int msr : s.msrs().keySet()) {
            if (java.util.Arrays.stream(known).noneMatch(m -> m == msr)) {
                throw new VcpuStateException(String.format("cannot restore vCPU %d: MSR 0x%x is not one this host's KVM saves", id, msr));
            }
        }
        if (!s.cpuid().equals(model)) {
            setCpuid(s.cpuid()); // after the first KVM_RUN this KVM refuses even an identical table (EINVAL)
        }
        setRegisters(s.registers());
        setSpecialRegisters(s.specialRegisters());
        setXsave(withSseMarked(image));
        if (vm.kvm().checkExtension(Capability.XCRS) > 0) {
            setXcrs(Map.of(0, s.xcr0()));
        }
        setDebugRegisters(s.debugRegisters());
        setMsrs(s.msrs());
        setEvents(s.events());
        if (vm.hasIrqchip()) { // the kernel's local APIC wakes it: HLT is its MP state, no exit to wait on
            setMpState(switch (s.activity()) { // INIT_RECEIVED: the state in which the kernel's APIC takes a SIPI
                case HALTED -> MpState.HALTED;
                case WAIT_FOR_SIPI -> MpState.INIT_RECEIVED;
                case ACTIVE -> MpState.RUNNABLE;
            });
            inHlt = reportHlt = false;
        } else {
            inHlt = reportHlt = s.activity() == Activity.HALTED;
        }
        PendingEvents e = s.events();
        readyAfterRestore = s.registers().interruptsEnabled() && e.interrupt().shadow() == 0 && !e.interrupt().injected()
                && !e.exception().injected() && !e.exception().pending() && !e.nmi().injected();
        restoredSinceRun = true;
    }

    /** KVM_SET_XSAVE with a buffer of {@link #xsaveSize()} bytes (there is no SET_XSAVE2: the big buffer is accepted). */
    public void setXsave(byte[] image) {
        MemorySegment b = xsaveBuffer();
        if (image.length > b.byteSize()) {
            throw new KvmException("XSAVE image of " + image.length + " bytes is larger than KVM's " + b.byteSize()
                    + " on this host: it was saved on a host with more XSAVE state");
        }
        MemorySegment.copy(image, 0, b, ValueLayout.JAVA_BYTE, 0, image.length);
        if (image.length < b.byteSize()) {
            b.asSlice(image.length).fill((byte) 0);
        }
        fd.ioctl(Ioctls.SET_XSAVE, b);
    }

    /** KVM_TRANSLATE: the guest-physical address of a linear address under the vCPU's current paging, or -1. */
    public long translate(long linear) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment s = a.allocate(kvm_translation.layout());
            kvm_translation.linear_address(s, linear);
            fd.ioctl(Ioctls.TRANSLATE, s);
            return kvm_translation.valid(s) != 0 ? kvm_translation.physical_address(s) : -1;
        }
    }

    @Override
    public void close() {
        try {
            run.close();
        } finally {
            fd.close();
            arena.close();
        }
    }
}

package io.jkvm.emu;

import io.jkvm.linux.Mapping;
import io.jkvm.x86.RamLayout;
import io.jkvm.x86.Segment;
import io.jkvm.x86.ControlBits;
import io.jkvm.x86.CpuidEntry;
import io.jkvm.x86.CpuidTable;
import io.jkvm.x86.VcpuExit;
import io.jkvm.x86.Vendor;
import io.jkvm.x86.Msrs;
import io.jkvm.x86.XsaveComponent;
import io.jkvm.x86.XsaveLayout;

/**
 * The bottom of the software core: the architectural state (registers, lazily computed flags, segment caches,
 * control and model-specific registers), the processor mode they make, and what the core is attached to (RAM,
 * the CPU model, the port and MMIO exits). Each layer above adds one job: {@link Paging}, {@link MemoryAccess},
 * {@link InstructionFetch}, {@link StepExecution}, {@link BlockExecution}, and {@link Core} the interpreter.
 */
abstract sealed class CpuState permits Paging {
    /** Where port and MMIO accesses go; the vCPU turns them into exits. */
    interface IoPort {
        long in(int port, int size);

        void out(int port, int size, long value);

        /** Queues the exit of an MMIO read and returns where the machine will put the value (the next run reads it). */
        VcpuExit.AccessData mmioRead(long physical, int size);

        void mmioWrite(long physical, int size, long value);
    }

    /** Thrown to end the current run: HLT, shutdown, an exit the machine must see before going on. */
    static final class Stop extends RuntimeException {
        final Reason reason;

        Stop(Reason reason) {
            super(null, null, false, false);
            this.reason = reason;
        }
    }

    /** Why a run ends; after MMIO_READ the instruction is back at its start, to restart once the machine answers. */
    enum Reason { HLT, SHUTDOWN, IO, MMIO_READ, FETCH_OUTSIDE_RAM, TOO_MANY_MMIO_ACCESSES }

    // ---- architectural state -------------------------------------------------------------------------------
    final long[] r = new long[32];
    long rip;
    final long[] xmm = new long[32]; // XMM0-15: low quadword at 2*i, high at 2*i+1
    /** A compiled SSE form's 16-byte memory operand, read whole before its XMM register changes. */
    final long[] sseOperand = new long[2];
    int mxcsr = 0x1F80;
    long cr0, cr2, cr3, cr4, cr8, efer, xcr0 = 1, apicBase = 0xFEE00900L;
    long fsBase, gsBase, kernelGsBase, star, lstar, cstar, fmask, tscAux, pat = 0x0007040600070406L;
    long kvmSystemTime, kvmWallClock;  // kvmclock's MSRs as the guest wrote them (KvmClock)
    /** Nanoseconds kvmclock reads ahead of this vCPU's TSC in nanoseconds: the VM-wide clock's zero (KvmClock). */
    long kvmClockOffset;
    long miscEnable = Msrs.MISC_ENABLE_AT_RESET;
    long sysenterCs, sysenterEsp, sysenterEip, xfd, xfdErr, xss;
    /**
     * AMD's HWCR: only McStatusWrEn (bit 18) and TscFreqSel (bit 24) are kept, as KVM keeps them. TscFreqSel starts
     * set, as the TSC counts at one fixed rate: Linux warns "TSC doesn't count with P0 frequency" otherwise.
     */
    long hwcr = CpuidAndMsrs.HWCR_TSC_FREQ_SEL;
    /** AMD's PerfEvtSel0-3 and PerfCtr0-3: storage only, as the core counts no events. */
    final long[] amdPerformance = new long[8];
    long gdtBase, idtBase;
    final long[] dr = new long[4];
    long dr6 = 0xFFFF0FF0L, dr7 = 0x400;
    int gdtLimit, idtLimit;
    int cs = 0x08, ss = 0x10, ds = 0x10, es = 0x10, fs = 0x10, gs = 0x10, tr = 0x18;
    int cpl;
    /**
     * The descriptor caches of ES, CS, SS, DS, FS and GS (by {@link SegmentLoads}' numbers): what the last load put
     * there, whatever the descriptor tables say since. 64-bit code reads only FS's and GS's bases (fsBase, gsBase).
     */
    final Segment[] segments = new Segment[6];
    /** TR's and LDTR's hidden parts: the TSS a privilege change outside 64-bit mode takes its stack from. */
    Segment taskRegister = Segment.tss64(0x18, 0, 0x67), ldtr = Segment.unusableLdt();
    /** Decoding in 64-bit mode (IA-32e mode with CS.L); otherwise real, protected or compatibility mode. */
    boolean code64 = true;
    /** 64-bit code with no breakpoint armed: what decoded blocks run (the rest goes through the interpreter). */
    boolean blocksRun = true;
    /** Outside 64-bit mode, the default operand and address size: 4 with CS.D set, 2 without. */
    int defaultSize = 4;
    /** Outside 64-bit mode, SS.B: the stack pointer is ESP (set) or SP. */
    boolean stack32 = true;
    /** CS's base outside 64-bit mode (0 in it): RIP is the offset, {@link #ip} the linear address. */
    long csBase;
    final TimeStampCounter tsc = new TimeStampCounter();
    boolean interruptShadow;
    /** The interrupt shadow comes from MOV SS or POP SS, which also holds back single-step and data #DBs. */
    boolean movSsShadow;
    /** The instruction was INT n, INT3 or INT1: its handler runs without the single-step trap of the instruction. */
    boolean softwareEvent;
    /** SYSCALL and SYSRET: the single-step trap follows the TF they leave, not the TF they found. */
    boolean stepsOnNewFlags;
    final long[] egprsSaved = new long[16]; // R16..R31 while XCR0[APX] is clear: kept, not visible
    final X87State fpu = new X87State();
    final java.util.Map<Integer, byte[]> extended = new java.util.HashMap<>(); // XSAVE components kept as bytes
    private XsaveLayout layout;

    // Flags: IF, DF, TF and the rest live in flagBits; the six arithmetic flags are computed lazily.
    long flagBits = 0x2;
    int lazyOp = LAZY_NONE;
    long lazyDst, lazySrc, lazyRes;
    int lazySize = 8;
    long lazyCarry; // the CF INC/DEC keep, the carry-in ADC/SBB used

    /** The lazy records' operations; for SHL, SHR and SAR the source is the count and the carry the AF and OF kept. */
    static final int LAZY_NONE = 0, LAZY_ADD = 1, LAZY_SUB = 2, LAZY_LOGIC = 3, LAZY_INC = 4, LAZY_DEC = 5,
            LAZY_ADC = 6, LAZY_SBB = 7, LAZY_NEG = 8, LAZY_SHL = 9, LAZY_SHR = 10, LAZY_SAR = 11;
    static final long CF = 1, PF = 1 << 2, AF = 1 << 4, ZF = 1 << 6, SF = 1 << 7, TF = 1 << 8, IF = 1 << 9,
            DF = 1 << 10, OF = 1 << 11, AC = 1 << 18, ARITH = CF | PF | AF | ZF | SF | OF;

    final Mapping ram;
    final CpuidTable cpuid;
    /** The CPU model's MXCSR_MASK: the MXCSR bits LDMXCSR/FXRSTOR/XRSTOR accept, and what FXSAVE/XSAVE report. */
    final int mxcsrMask;
    /** Decides where Intel's SDM and AMD's APM differ (docs/vendors.md). */
    final Vendor vendor;
    final IoPort io;
    /** The model has 5-level paging (CPUID.(7,0):ECX[16]). */
    final boolean la57;
    /** CPUID.1:ECX.SSSE3, which compiled blocks check at each PSHUFB. */
    final boolean ssse3;
    /** CPUID.(7,0):EBX.SMAP, which decoded blocks check at each CLAC and STAC. */
    final boolean smap;
    /** Where RAM from 0 ends, and RAM above 4 GiB (0: none): everything else is a device's ({@link #isRam}). */
    final long lowRamEnd, highRamEnd;
    long instructions;
    /** Decoded blocks by physical address: the fast path ({@link BlockExecution#runBlock()}). */
    final CodeCache code;
    private final Execution execution = Execution.fromProperty();
    /** Every instruction through {@link StepExecution#step()}: the interpreter alone, to hold the decoded path to its results. */
    final boolean interpretOnly = execution == Execution.INTERPRETER;
    /** Runs of a decoded block before it is compiled to bytecode ({@link BlockCompiler}); negative: never. */
    final int compileThreshold = execution.compileThreshold();
    /** PAUSEs run ({@link SystemInstructions#pause}). */
    long pauses;
    /** How many decoded blocks this vCPU compiled. */
    int blocksCompiled;

    CpuState(Mapping ram, RamLayout layout, CpuidTable cpuid, int mxcsrMask, IoPort io) {
        this.ram = ram;
        this.cpuid = cpuid;
        this.mxcsrMask = mxcsrMask;
        this.vendor = Vendor.of(cpuid);
        this.io = io;
        this.la57 = (cpuid.leaf(7, 0).ecx() & 1 << 16) != 0;
        this.ssse3 = (cpuid.leaf(1, 0).ecx() & 1 << 9) != 0;
        this.smap = (cpuid.leaf(7, 0).ebx() & 1 << 20) != 0;
        if (layout.span() != ram.size()) {
            throw new IllegalArgumentException("a RAM layout of " + layout.span() + " bytes over a mapping of " + ram.size());
        }
        this.lowRamEnd = layout.below();
        this.highRamEnd = layout.highEnd();
        this.code = new CodeCache(ram, this::codePageAdded);
        java.util.Arrays.fill(segments, Segment.flatData(0x10));
        segments[SegmentLoads.CS] = Segment.flatCode64(0x08);
    }

    /** Whether {@code size} bytes at {@code physical} are all RAM: below the MMIO window, or above 4 GiB. */
    final boolean isRam(long physical, int size) {
        return physical >= 0 && physical + size <= lowRamEnd
                || physical >= RamLayout.HIGH_RAM && physical + size <= highRamEnd;
    }

    /** Decoded code appeared on the physical page at {@code physicalPage}: stores there must check it again. */
    abstract void codePageAdded(long physicalPage);

    /** This core, for the instruction-group helpers that take one: {@link Core} is the only class the layers make. */
    final Core core() {
        return (Core) this;
    }

    /** CPL changes what pages may be fetched from (U/S): the cached code page must be looked up again. */
    void setCpl(int value) {
        if (value != cpl) {
            cpl = value;
            fetchPage = -1;
            updateDirectSalt();
        }
    }

    /**
     * Whether a misaligned data access is #AC(0) now: CPL 3 with CR0.AM and RFLAGS.AC. Linux runs with CR0.AM set and
     * user code with AC clear, so its user pages may be direct while AC stays clear.
     */
    final boolean alignmentChecked() {
        return cpl == 3 && (cr0 & ControlBits.CR0_AM) != 0 && (flagBits & AC) != 0;
    }

    /** The salt of the direct pages' tags for this CPL, alignment checking and TLB generation. */
    final void updateDirectSalt() {
        directSalt = (cpl != 3 ? 0 : alignmentChecked() ? DIRECT_USER | DIRECT_ALIGNMENT_CHECKED : DIRECT_USER)
                | tlbGeneration;
    }

    /** Set in the tags of the direct pages ({@link Paging#direct}) filled at CPL 3: they serve no other CPL. */
    static final long DIRECT_USER = 1L << 62;
    /**
     * Set in the salt while {@link #alignmentChecked}: no direct page is filled then, so none matches and every access
     * takes the full path, which checks alignment.
     */
    static final long DIRECT_ALIGNMENT_CHECKED = 1L << 63;
    /**
     * {@link #DIRECT_USER} at CPL 3 (with {@link #DIRECT_ALIGNMENT_CHECKED} while alignment is checked), else 0, with the
     * TLB's generation: a direct page's tag holds them ({@link #updateDirectSalt}).
     */
    long directSalt;
    /** The TLB's generation, in the bits of a tag above the linear page ({@link Paging#flushTlb}). */
    long tlbGeneration;

    /** The page instructions are being fetched from, translated once: most instructions never leave it. */
    long fetchPage = -1;

    /**
     * CS loads the core has made (interrupt and exception delivery, IRETQ, SYSCALL/SYSRET/SYSENTER/SYSEXIT): the
     * vCPU then reports CS's hidden part as the load left it, accessed, not as it was last set from outside.
     */
    int codeSegmentLoads;

    // ---- the processor mode ------------------------------------------------------------------------------------

    boolean protectedMode() {
        return (cr0 & ControlBits.CR0_PE) != 0;
    }

    /** IA-32e mode (EFER.LMA): 64-bit or compatibility mode, interrupts through the 64-bit IDT. */
    boolean longMode() {
        return (efer & ControlBits.EFER_LMA) != 0;
    }

    /** Recomputes what decoding and the stack follow from CS, SS and EFER.LMA, after any of them changed. */
    void modeChanged() {
        Segment code = segments[SegmentLoads.CS];
        code64 = longMode() && code.l();
        defaultSize = code.db() ? 4 : 2;
        stack32 = segments[SegmentLoads.SS].db();
        csBase = code64 ? 0 : code.base(); // the cached fetch page is a linear one: a new CS base leaves it valid
        debugRegistersChanged();
    }

    /** DR7 changed (or the mode did): whether decoded blocks may run. */
    void debugRegistersChanged() {
        blocksRun = code64 && !Breakpoints.armed(core());
    }

    /** Loads CS's cache and CPL together (a far transfer, an interrupt, IRET, a fast system call). */
    void loadCode(Segment code, int newCpl) {
        segments[SegmentLoads.CS] = code;
        cs = code.selector() & ~3;
        codeSegmentLoads++;
        setCpl(newCpl);
        modeChanged();
    }

    /** The base a segment prefix selects: FS's and GS's from fsBase and gsBase, the others' from their caches. */
    long segmentBase(int sreg) {
        return sreg == SegmentLoads.FS ? fsBase : sreg == SegmentLoads.GS ? gsBase : segments[sreg].base();
    }

    /** The memory operand is addressed through RSP or RBP with no segment prefix: SS's, so non-canonical is #SS. */
    boolean stackAddressed;

    XsaveLayout xsaveLayout() {
        if (layout == null) {
            layout = XsaveLayout.fromCpuid(cpuid);
        }
        return layout;
    }

    // ---- flags --------------------------------------------------------------------------------------------

    long rflags() {
        return (flagBits & ~ARITH) | arithFlags() | 0x2;
    }

    void setRflags(long v) {
        flagBits = (v & 0x3F7FD7L) | 0x2; // writable bits; VM/RF handled as plain bits here
        lazyOp = LAZY_NONE;
        updateDirectSalt(); // AC may have changed
    }

    /**
     * EFLAGS as POPF and IRET load them: {@code candidates}, within the operand size, taken from {@code value}, but IOPL
     * only at CPL0 and IF only where CPL <= IOPL (at the CPL the instruction runs at); every other bit stays.
     */
    void loadFlags(long value, long candidates, int size) {
        long writable = candidates & mask(size);
        if (cpl != 0) {
            writable &= ~0x3000L;
        }
        if (cpl > ((flagBits >>> 12) & 3)) {
            writable &= ~IF;
        }
        setRflags((value & writable) | (rflags() & ~writable));
    }

    long arithFlags() {
        if (lazyOp == LAZY_NONE) {
            return flagBits & ARITH;
        }
        return LazyFlags.flags(lazyOp, lazyDst, lazySrc, lazyRes, lazySize, lazyCarry);
    }

    static long mask(int size) {
        return size == 8 ? -1L : (1L << (size * 8)) - 1;
    }

    static long signBit(int size) {
        return 1L << (size * 8 - 1);
    }

    static long pfZfSf(long res, int size) {
        long m = res & mask(size);
        long f = (Long.bitCount(m & 0xFF) & 1) == 0 ? PF : 0;
        if (m == 0) {
            f |= ZF;
        }
        if ((m & signBit(size)) != 0) {
            f |= SF;
        }
        return f;
    }

    private long cfBit() {
        return LazyFlags.cf(lazyOp, lazyDst, lazySrc, lazyRes, lazySize, lazyCarry);
    }

    /** AF and OF as the flags stand: what a shift by more than one keeps (without computing the other four). */
    long flagsKeptByShift() {
        return lazyOp == LAZY_NONE ? flagBits & (AF | OF)
                : LazyFlags.keptByShift(lazyOp, lazyDst, lazySrc, lazyRes, lazySize, lazyCarry);
    }

    boolean cf() {
        return lazyOp == LAZY_NONE ? (flagBits & CF) != 0 : cfBit() != 0;
    }

    void lazy(int op, long dst, long src, long res, int size) {
        lazyOp = op;
        lazyDst = dst;
        lazySrc = src;
        lazyRes = res;
        lazySize = size;
    }

    /** Sets the six arithmetic flags explicitly (for rotates, shifts, multiplies, bit tests...). */
    void setArith(long bits) {
        flagBits = (flagBits & ~ARITH) | (bits & ARITH);
        lazyOp = LAZY_NONE;
    }

    /** Changes some arithmetic flags, keeping the others as they are now. */
    void modifyArith(long which, long values) {
        long now = arithFlags();
        setArith((now & ~which) | (values & which));
    }

    /** Condition code {@code cc} (the low nibble of Jcc/SETcc/CMOVcc); computes only the flags it reads. */
    boolean condition(int cc) {
        boolean r;
        if (lazyOp == LAZY_NONE) {
            long f = flagBits;
            r = switch (cc >> 1) {
                case 0 -> (f & OF) != 0;
                case 1 -> (f & CF) != 0;
                case 2 -> (f & ZF) != 0;
                case 3 -> (f & (CF | ZF)) != 0;
                case 4 -> (f & SF) != 0;
                case 5 -> (f & PF) != 0;
                case 6 -> ((f & SF) != 0) != ((f & OF) != 0);
                default -> (f & ZF) != 0 || (((f & SF) != 0) != ((f & OF) != 0));
            };
        } else {
            return LazyFlags.condition(lazyOp, lazyDst, lazySrc, lazyRes, lazySize, lazyCarry, cc);
        }
        return (cc & 1) == 0 ? r : !r;
    }

    // ---- registers ----------------------------------------------------------------------------------------

    boolean anyRex;

    long reg(int n, int size) {
        return switch (size) {
            case 1 -> (!anyRex && n >= 4 && n < 8) ? (r[n - 4] >>> 8) & 0xFF : r[n] & 0xFF;
            case 2 -> r[n] & 0xFFFF;
            case 4 -> r[n] & 0xFFFFFFFFL;
            default -> r[n];
        };
    }

    void setReg(int n, int size, long v) {
        switch (size) {
            case 1 -> {
                if (!anyRex && n >= 4 && n < 8) {
                    r[n - 4] = (r[n - 4] & ~0xFF00L) | ((v & 0xFF) << 8);
                } else {
                    r[n] = (r[n] & ~0xFFL) | (v & 0xFF);
                }
            }
            case 2 -> r[n] = (r[n] & ~0xFFFFL) | (v & 0xFFFF);
            case 4 -> r[n] = v & 0xFFFFFFFFL;
            default -> r[n] = v;
        }
    }

    boolean apxEnabled() {
        return (xcr0 & XsaveComponent.APX.mask()) != 0;
    }

    /** Whether CPUID.(leaf, sub) register (0 EAX .. 3 EDX) has {@code bit} set in the guest model. */
    boolean cpuidHas(int leaf, int sub, int register, int bit) {
        CpuidEntry e = cpuid.leaf(leaf, sub);
        int v = switch (register) {
            case 0 -> e.eax();
            case 1 -> e.ebx();
            case 2 -> e.ecx();
            default -> e.edx();
        };
        return (v & (1 << bit)) != 0;
    }

    /**
     * Whether a linear address is canonical for the paging mode in force: 57 bits wide with 5-level paging (CR4.LA57,
     * which can only be set outside IA-32e mode and stays for it), else 48. Memory accesses and branch targets.
     */
    boolean canonical(long address) {
        int shift = (cr4 & ControlBits.CR4_LA57) != 0 ? 7 : 16;
        return address == (address << shift) >> shift;
    }

    /**
     * Whether an address a register is loaded with (an MSR such as FS_BASE or LSTAR, a descriptor-table or TSS base,
     * WRFSBASE, INVPCID's) is canonical: checked at the widest linear address the model supports, 57 bits where it
     * has LA57 whether or not 5-level paging is on (SDM vol. 1, 3.3.7.1), so an OS can set them before turning it on.
     */
    boolean canonicalForRegister(long address) {
        int shift = la57 ? 7 : 16;
        return address == (address << shift) >> shift;
    }

}

package io.jkvm.emu;

import io.jkvm.linux.Mapping;
import io.jkvm.x86.Segment;
import io.jkvm.x86.ControlBits;
import io.jkvm.x86.CpuidEntry;
import io.jkvm.x86.CpuModel;
import io.jkvm.x86.CpuidTable;
import io.jkvm.x86.VcpuExit;
import io.jkvm.x86.Vendor;
import io.jkvm.x86.Msrs;
import io.jkvm.x86.XsaveComponent;
import io.jkvm.x86.Xcr0Rules;
import io.jkvm.x86.XsaveLayout;

/**
 * The software x86-64 core: architectural state, 4-level paging with a software TLB, exception delivery
 * through the IDT, and the instruction interpreter (decode and execute in one pass). Port I/O and MMIO leave
 * through {@link IoPort} so the machine's devices serve both backends.
 */
final class Core {
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
    int mxcsr = 0x1F80;
    long cr0, cr2, cr3, cr4, cr8, efer, xcr0 = 1, apicBase = 0xFEE00900L;
    long fsBase, gsBase, kernelGsBase, star, lstar, cstar, fmask, tscAux, pat = 0x0007040600070406L;
    long miscEnable = Msrs.MISC_ENABLE_AT_RESET;
    long sysenterCs, sysenterEsp, sysenterEip, xfd, xfdErr, xss;
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
    private boolean blocksRun = true;
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
    private int lazyOp = LAZY_NONE;
    private long lazyDst, lazySrc, lazyRes;
    private int lazySize = 8;
    long lazyCarry; // the CF INC/DEC keep, the carry-in ADC/SBB used

    static final int LAZY_NONE = 0, LAZY_ADD = 1, LAZY_SUB = 2, LAZY_LOGIC = 3, LAZY_INC = 4, LAZY_DEC = 5,
            LAZY_ADC = 6, LAZY_SBB = 7, LAZY_NEG = 8;
    static final long CF = 1, PF = 1 << 2, AF = 1 << 4, ZF = 1 << 6, SF = 1 << 7, TF = 1 << 8, IF = 1 << 9,
            DF = 1 << 10, OF = 1 << 11, AC = 1 << 18, ARITH = CF | PF | AF | ZF | SF | OF;

    final Mapping ram;
    final CpuidTable cpuid;
    /** The CPU model's MXCSR_MASK: the MXCSR bits LDMXCSR/FXRSTOR/XRSTOR accept, and what FXSAVE/XSAVE report. */
    final int mxcsrMask;
    /** Decides where Intel's SDM and AMD's APM differ (docs/vendors.md). */
    final Vendor vendor;
    final IoPort io;
    private final long ramSize;
    long instructions;
    /** Decoded blocks by physical address: the fast path ({@link #runBlock()}). */
    final CodeCache code;
    /** Every instruction through {@link #step()}: the interpreter alone, to hold the decoded path to its results. */
    final boolean interpretOnly = Execution.fromProperty() == Execution.INTERPRETER;

    Core(Mapping ram, CpuidTable cpuid, int mxcsrMask, IoPort io) {
        this.ram = ram;
        this.cpuid = cpuid;
        this.mxcsrMask = mxcsrMask;
        this.vendor = Vendor.of(cpuid);
        this.io = io;
        this.ramSize = ram.size();
        this.code = new CodeCache(ram);
        int maxPhys = cpuid.find(0x8000_0008, 0).map(e -> e.eax() & 0xFF).filter(b -> b >= 32 && b <= 52).orElse(36);
        this.reservedAddressBits = ((1L << 52) - 1) & ~((1L << maxPhys) - 1);
        java.util.Arrays.fill(segments, Segment.flatData(0x10));
        segments[SegmentLoads.CS] = Segment.flatCode64(0x08);
    }

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
        blocksRun = code64 && !Breakpoints.armed(this);
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

    /** Clears the prefixes the last instruction left. */
    void beginInstruction() {
        rexW = false;
        rexR = rexX = rexB = 0;
        rex2 = false;
        anyRex = false;
        rep = 0;
        lock = false;
        slowAccess = watchingData;
        lockedWordAt = -1;
        segOverride = false;
        stackAddressed = false;
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
        return cfBit() | pfZfSf(lazyRes, lazySize) | afBit() | ofBit();
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
        long m = mask(lazySize);
        long d = lazyDst & m, s = lazySrc & m, res = lazyRes & m;
        return switch (lazyOp) {
            case LAZY_ADD -> Long.compareUnsigned(res, d) < 0 ? CF : 0;
            case LAZY_ADC -> (lazyCarry != 0 ? Long.compareUnsigned(res, d) <= 0 : Long.compareUnsigned(res, d) < 0) ? CF : 0;
            case LAZY_SUB -> Long.compareUnsigned(d, s) < 0 ? CF : 0;
            case LAZY_SBB -> (lazyCarry != 0 ? Long.compareUnsigned(d, s) <= 0 : Long.compareUnsigned(d, s) < 0) ? CF : 0;
            case LAZY_NEG -> d != 0 ? CF : 0;
            case LAZY_INC, LAZY_DEC -> lazyCarry;
            default -> 0;
        };
    }

    private long afBit() {
        return switch (lazyOp) {
            case LAZY_LOGIC -> 0;
            default -> ((lazyDst ^ lazySrc ^ lazyRes) & 0x10) != 0 ? AF : 0;
        };
    }

    private long ofBit() {
        long sb = signBit(lazySize);
        long d = lazyDst, s = lazySrc, res = lazyRes;
        boolean of = switch (lazyOp) {
            case LAZY_ADD, LAZY_ADC, LAZY_INC -> ((d ^ res) & (s ^ res) & sb) != 0;
            case LAZY_SUB, LAZY_SBB, LAZY_DEC -> ((d ^ s) & (d ^ res) & sb) != 0;
            case LAZY_NEG -> (d & mask(lazySize)) == sb;
            default -> false;
        };
        return of ? OF : 0;
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
            boolean zero = (lazyRes & mask(lazySize)) == 0;
            boolean sign = (lazyRes & signBit(lazySize)) != 0;
            r = switch (cc >> 1) {
                case 0 -> ofBit() != 0;
                case 1 -> cfBit() != 0;
                case 2 -> zero;
                case 3 -> zero || cfBit() != 0;
                case 4 -> sign;
                case 5 -> (Long.bitCount(lazyRes & 0xFF) & 1) == 0;
                case 6 -> sign != (ofBit() != 0);
                default -> zero || sign != (ofBit() != 0);
            };
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

    // ---- paging and memory --------------------------------------------------------------------------------

    private static final int TLB_SIZE = 256;
    private final long[] tlbTag = new long[TLB_SIZE];   // linear page | 1 (valid)
    private final long[] tlbPhys = new long[TLB_SIZE];
    private final byte[] tlbPerm = new byte[TLB_SIZE];  // 1 write ok (and dirty set), 2 user ok, 4 exec ok
    static final int ACC_READ = 0, ACC_WRITE = 1, ACC_EXEC = 2;

    /** PKRU: two bits per protection key, access-disable and write-disable, for data accesses to user pages. */
    int pkru;

    /** IA32_PKRS: the same rights for supervisor pages, under CR4.PKS. */
    int pkrs;

    /** WRPKRU and XRSTOR: the translations cached under the old rights go. */
    void setPkru(int value) {
        pkru = value;
        flushTlb();
    }

    /** WRMSR IA32_PKRS: the same. */
    void setPkrs(int value) {
        pkrs = value;
        flushTlb();
    }

    void flushTlb() {
        java.util.Arrays.fill(tlbTag, 0);
        fetchPage = -1;
    }

    void invlpg(long linear) {
        int i = (int) ((linear >>> 12) & (TLB_SIZE - 1));
        tlbTag[i] = 0;
        fetchPage = -1;
    }

    /** CPL changes what pages may be fetched from (U/S): the cached code page must be looked up again. */
    void setCpl(int value) {
        if (value != cpl) {
            cpl = value;
            fetchPage = -1;
        }
    }

    boolean paging() {
        return (cr0 & ControlBits.CR0_PG) != 0;
    }

    /** Linear to physical for an access, through the TLB; a miss walks the tables, setting A and D bits. */
    long translate(long linear, int access) {
        if (!paging()) {
            return linear;
        }
        long page = linear >>> 12;
        int i = (int) (page & (TLB_SIZE - 1));
        long tag = (page << 1) | 1;
        if (tlbTag[i] == tag) {
            int p = tlbPerm[i];
            boolean ok = (access != ACC_WRITE || (p & 1) != 0) && (cpl != 3 || (p & 2) != 0) && (access != ACC_EXEC || (p & 4) != 0);
            if (ok && (cpl == 3 || (p & 2) == 0 || (cr4 & SUPERVISOR_GUARDS) == 0 || !supervisorBlocked(access))) {
                return tlbPhys[i] | (linear & 0xFFF);
            }
        }
        return walk(linear, access, i, tag);
    }

    /**
     * Walks the page tables of the paging mode CR4.PAE and EFER.LMA select: 4-level (IA-32e), PAE (3 levels, the
     * first the four PDPTEs, which carry no R/W or U/S bits), or 32-bit paging (2 levels of 4-byte entries, 4 MiB
     * pages with CR4.PSE and bits 39:32 of their frame in PDE bits 20:13).
     */
    /** PAE and IA-32e entries' physical-address bits from MAXPHYADDR (CPUID 0x80000008 EAX[7:0], else 36) to 51: reserved. */
    final long reservedAddressBits;

    private long walk(long linear, int access, int slot, long tag) {
        boolean ia32e = longMode();
        if (ia32e && linear != ((linear << 16) >> 16)) {
            throw GuestFault.withCode(stackAddressed ? GuestFault.SS : GuestFault.GP, 0); // non-canonical
        }
        boolean pae = ia32e || (cr4 & ControlBits.CR4_PAE) != 0;
        boolean user = cpl == 3;
        boolean nxe = pae && (efer & ControlBits.EFER_NXE) != 0;
        int top = ia32e ? 4 : pae ? 3 : 2;
        int entrySize = pae ? 8 : 4;
        long table = ia32e ? cr3 & ControlBits.PTE_ADDRESS : pae ? cr3 & 0xFFFFFFE0L : cr3 & 0xFFFFF000L;
        boolean writable = true, userOk = true, exec = true;
        long[] entries = new long[4];
        long[] addrs = new long[4];
        int levels = 0;
        long physPage = 0;
        for (int level = top; level >= 1; level--) {
            int shift = pae ? 12 + 9 * (level - 1) : 12 + 10 * (level - 1);
            long index = (linear >>> shift) & (!pae ? 0x3FF : level == 3 && !ia32e ? 3 : 0x1FF);
            long addr = table + index * entrySize;
            long e = physRead(addr, entrySize);
            if ((e & ControlBits.PTE_PRESENT) == 0) {
                throw pageFault(linear, access, false);
            }
            boolean pdpte = pae && !ia32e && level == 3;
            if (pae && (!nxe || pdpte) && (e & ControlBits.PTE_NX) != 0) {
                throw reservedBitFault(linear, access); // NX without EFER.NXE, or bit 63 of a PAE PDPTE: reserved
            }
            if (pae && ((e & reservedAddressBits) != 0 || (ia32e && level == 4 && (e & ControlBits.PTE_LARGE) != 0))) {
                throw reservedBitFault(linear, access); // address bits at or above MAXPHYADDR, or PS in a PML4E
            }
            if (!pdpte) {
                entries[levels] = e;
                addrs[levels++] = addr;
                writable &= (e & ControlBits.PTE_WRITABLE) != 0;
                userOk &= (e & ControlBits.PTE_USER) != 0;
            }
            exec &= !(nxe && (e & ControlBits.PTE_NX) != 0);
            boolean ps = (e & ControlBits.PTE_LARGE) != 0;
            boolean large = pae ? (level == 2 || level == 3 && ia32e) && ps : level == 2 && ps && (cr4 & ControlBits.CR4_PSE) != 0;
            if (level == 1 || large) {
                long pageMask = (1L << shift) - 1;
                if (large && pae && (e & pageMask & ~0x1FFFL) != 0) {
                    throw reservedBitFault(linear, access); // a large page's frame below its size (bit 12 is PAT)
                }
                long frame = pae ? e & ControlBits.PTE_ADDRESS : e & 0xFFFFF000L;
                if (large && !pae) {
                    frame = (e & 0xFFC00000L) | ((e >>> 13) & 0xFF) << 32; // PSE-36
                }
                physPage = ((frame & ~pageMask) | (linear & pageMask)) & ~0xFFFL;
                break;
            }
            table = pae ? e & ControlBits.PTE_ADDRESS : e & 0xFFFFF000L;
        }
        boolean wp = (cr0 & ControlBits.CR0_WP) != 0;
        if (user && !userOk) {
            throw pageFault(linear, access, true);
        }
        if (access == ACC_WRITE && !writable && (user || wp)) {
            throw pageFault(linear, access, true);
        }
        if (access == ACC_EXEC && !exec) {
            throw pageFault(linear, access, true);
        }
        if (!user && userOk && supervisorBlocked(access)) {
            throw pageFault(linear, access, true);
        }
        boolean cacheable = true;
        long keys = userOk ? cr4 & ControlBits.CR4_PKE : cr4 & ControlBits.CR4_PKS; // PKRU for user pages, PKRS for the rest
        if (keys != 0 && ia32e && access != ACC_EXEC) {
            int key = (int) ((entries[levels - 1] >>> 59) & 0xF); // the leaf's key, bits 62:59
            int rights = ((userOk ? pkru : pkrs) >>> 2 * key) & 3;
            if ((rights & 1) != 0 || (access == ACC_WRITE && (rights & 2) != 0 && (user || wp))) {
                throw GuestFault.withCode(GuestFault.PF, pageFault(linear, access, true).errorCode | 0x20); // PK
            }
            cacheable = rights == 0; // a restricted key's page is walked on each access, so a write is checked again
        }
        for (int k = 0; k < levels; k++) {
            long e = entries[k] | 0x20; // accessed
            if (k == levels - 1 && access == ACC_WRITE) {
                e |= 0x40; // dirty, on the leaf
            }
            if (e != entries[k]) {
                physWrite(addrs[k], entrySize, e);
            }
        }
        int perm = (userOk ? 2 : 0) | (exec ? 4 : 0);
        if (writable && (access == ACC_WRITE || (entries[levels - 1] & 0x40) != 0)) {
            perm |= 1; // only cache write permission once the leaf is dirty
        }
        if (cacheable) {
            tlbTag[slot] = tag;
            tlbPhys[slot] = physPage;
            tlbPerm[slot] = (byte) perm;
        }
        return physPage | (linear & 0xFFF);
    }

    /** A page-table entry with a reserved bit set: #PF with P and RSVD (error code bit 3). */
    private GuestFault reservedBitFault(long linear, int access) {
        GuestFault f = pageFault(linear, access, true);
        return GuestFault.withCode(GuestFault.PF, f.errorCode | 8);
    }

    private static final long SUPERVISOR_GUARDS = ControlBits.CR4_SMEP | ControlBits.CR4_SMAP;

    /** An access of the descriptor tables or the TSS, made as a supervisor whatever the CPL: SMAP always applies to it. */
    private boolean implicitAccess;

    /**
     * Whether a supervisor-mode access to a user page is refused: a fetch under CR4.SMEP, a read or write under CR4.SMAP
     * unless EFLAGS.AC is set (STAC) and the access is an explicit one (SDM vol. 3, 4.6.1).
     */
    private boolean supervisorBlocked(int access) {
        if (access == ACC_EXEC) {
            return (cr4 & ControlBits.CR4_SMEP) != 0;
        }
        return (cr4 & ControlBits.CR4_SMAP) != 0 && ((flagBits & AC) == 0 || implicitAccess);
    }

    private GuestFault pageFault(long linear, int access, boolean present) {
        cr2 = linear;
        // I/D only where fetches can fault for being fetches: NX enabled (PAE paging) or SMEP (SDM 4.7)
        boolean fetchBit = access == ACC_EXEC && (((efer & ControlBits.EFER_NXE) != 0 && (longMode() || (cr4 & ControlBits.CR4_PAE) != 0))
                || (cr4 & ControlBits.CR4_SMEP) != 0);
        int code = (present ? 1 : 0) | (access == ACC_WRITE ? 2 : 0) | (cpl == 3 ? 4 : 0) | (fetchBit ? 16 : 0);
        return GuestFault.withCode(GuestFault.PF, code);
    }

    long physRead(long physical, int size) {
        if (physical >= 0 && physical + size <= ramSize) {
            return switch (size) {
                case 1 -> ram.getByte(physical) & 0xFFL;
                case 2 -> ram.getShort(physical) & 0xFFFFL;
                case 4 -> ram.getInt(physical) & 0xFFFFFFFFL;
                default -> ram.getLong(physical);
            };
        }
        return mmioRead(physical, size);
    }

    // ---- MMIO: each access reaches the device once, in order ---------------------------------------------------

    /** More MMIO accesses than this in one instruction (or one REP iteration) end the run: no real one makes them. */
    static final int MAX_MMIO_ACCESSES = 4096;
    /**
     * The MMIO accesses of the instruction in progress, in order. A read ends the run with an exit and the
     * instruction restarts once the machine has answered: the accesses logged before are replayed from here, not
     * sent to the device again; the log is dropped when the instruction retires or faults.
     */
    private long[] mmioAddress = new long[4];
    private int[] mmioSize = new int[4];
    private VcpuExit.AccessData[] mmioValue = new VcpuExit.AccessData[4]; // null for a write
    int mmioCount, mmioReplayed;

    /** An instruction stopped for an MMIO read the machine is to answer: the next run restarts it. */
    boolean mmioInFlight() {
        return mmioCount != 0;
    }

    private long mmioRead(long physical, int size) {
        if (replaying(physical, size, false)) {
            return mmioValue[mmioReplayed - 1].get(0) & mask(size);
        }
        requireMmioRoom();
        logMmio(physical, size, io.mmioRead(physical, size));
        throw new Stop(Reason.MMIO_READ);
    }

    private void mmioWrite(long physical, int size, long v) {
        if (replaying(physical, size, true)) {
            return; // the device has had this store already
        }
        requireMmioRoom();
        io.mmioWrite(physical, size, v);
        logMmio(physical, size, null);
        endBlock = true; // an exit the machine must see before the next instruction
    }

    /** True when this access was made before the restart (it is then consumed); a diverging one drops the rest. */
    private boolean replaying(long physical, int size, boolean write) {
        if (mmioReplayed < mmioCount) {
            int i = mmioReplayed;
            if (mmioAddress[i] == physical && mmioSize[i] == size && (mmioValue[i] == null) == write) {
                mmioReplayed++;
                return true;
            }
            mmioCount = i; // the instruction took another path (guest memory changed under it): go on from here
        }
        return false;
    }

    private void requireMmioRoom() {
        if (mmioCount == MAX_MMIO_ACCESSES) {
            throw new Stop(Reason.TOO_MANY_MMIO_ACCESSES);
        }
    }

    private void logMmio(long physical, int size, VcpuExit.AccessData value) {
        if (mmioCount == mmioAddress.length) {
            mmioAddress = java.util.Arrays.copyOf(mmioAddress, mmioCount * 2);
            mmioSize = java.util.Arrays.copyOf(mmioSize, mmioCount * 2);
            mmioValue = java.util.Arrays.copyOf(mmioValue, mmioCount * 2);
        }
        mmioAddress[mmioCount] = physical;
        mmioSize[mmioCount] = size;
        mmioValue[mmioCount] = value;
        mmioReplayed = ++mmioCount;
    }

    /** The instruction retired or faulted: its MMIO accesses are done with. */
    private void mmioRetired() {
        if (mmioCount != 0) {
            java.util.Arrays.fill(mmioValue, 0, mmioCount, null);
            mmioCount = 0;
        }
        mmioReplayed = 0;
    }

    /** The dirty log stores mark while a migration tracks them; null otherwise (set while the vCPU is paused). */
    DirtyPages dirty;

    void physWrite(long physical, int size, long v) {
        if (physical >= 0 && physical + size <= ramSize) {
            stored(physical, size);
            switch (size) {
                case 1 -> ram.putByte(physical, (byte) v);
                case 2 -> ram.putShort(physical, (short) v);
                case 4 -> ram.putInt(physical, (int) v);
                default -> ram.putLong(physical, v);
            }
            return;
        }
        mmioWrite(physical, size, v);
    }

    /** What a store to RAM entails besides the bytes: the dirty log, and decoded code it overwrote. */
    private void stored(long physical, int size) {
        DirtyPages d = dirty;
        if (d != null) {
            d.mark(physical); // a store never crosses a page here: read() and write() split those
        }
        if (code.stored(physical, size)) {
            endBlock = true;
            fetchBlocksBase = -1; // the dropped page may be the one fetched from
        }
    }

    // ---- LOCK: a read-modify-write no other vCPU's access can come between ------------------------------------

    /**
     * Locked instructions that are not one compare-and-swap on an aligned 8-byte word (an operand split across
     * words or pages, CMPXCHG16B's two words) run under its write side, one at a time in the process; the others
     * hold its read side from their read to their store. So every locked instruction is atomic against every other,
     * though a split one is not against another vCPU's plain store to the same bytes meanwhile (docs/limits.md).
     */
    private static final java.util.concurrent.locks.ReentrantReadWriteLock SPLIT_LOCK =
            new java.util.concurrent.locks.ReentrantReadWriteLock();
    /** Held from a compare-and-swap instruction's read to its store: a split one (the write side) waits meanwhile. */
    private boolean holdingShared;
    /** The locked instruction's operand: the RAM word it lies in (-1: not read yet) and the word as read. */
    private long lockedWordAt = -1, lockedWord;
    private boolean underSplitLock;

    /** Ends a locked instruction's attempt: another vCPU changed the word, or it needs {@link #SPLIT_LOCK}. */
    private static final class LockRetry extends RuntimeException {
        final boolean wider;

        LockRetry(boolean wider) {
            super(null, null, false, false);
            this.wider = wider;
        }
    }

    private static final LockRetry CONTENDED = new LockRetry(false), WIDER = new LockRetry(true);

    /** The read of a locked read-modify-write: one atomic load of the aligned word it lies in, remembered for the store. */
    private long lockedRead(long linear, int size) {
        if (underSplitLock) {
            return plainRead(linear, size);
        }
        checkAlignment(linear, size);
        if (((linear & 0xFFF) + size) > 0x1000 || lockedWordAt >= 0) {
            throw WIDER; // across pages, or a second operand
        }
        long physical = translate(linear, ACC_WRITE); // a locked access is a write to the page, even where it only compares
        if (physical < 0 || physical + size > ramSize) {
            return plainRead(linear, size); // a device: its own business
        }
        if ((physical & 7) + size > 8) {
            throw WIDER;
        }
        if (!holdingShared) {
            SPLIT_LOCK.readLock().lock();
            holdingShared = true;
        }
        lockedWordAt = physical & ~7L;
        lockedWord = ram.getLongVolatile(lockedWordAt);
        return (lockedWord >>> ((physical & 7) * 8)) & mask(size);
    }

    /** The store of a locked read-modify-write: lands only if the word still holds what was read, else the instruction runs again. */
    private void lockedWrite(long linear, int size, long v) {
        if (underSplitLock || lockedWordAt < 0) {
            plainWrite(linear, size, v); // under the split lock, or to a device
            return;
        }
        long physical = translate(linear, ACC_WRITE);
        if ((physical & ~7L) != lockedWordAt || (physical & 7) + size > 8) {
            throw WIDER;
        }
        int shift = (int) (physical & 7) * 8;
        long m = mask(size) << shift;
        long updated = (lockedWord & ~m) | ((v << shift) & m);
        if (!ram.compareAndSetLong(lockedWordAt, lockedWord, updated)) {
            throw CONTENDED;
        }
        lockedWord = updated;
        stored(physical, size);
    }

    /** Alignment checking: CPL3 with CR0.AM and RFLAGS.AC set, a misaligned data access is #AC(0). */
    void checkAlignment(long linear, int size) {
        if (cpl == 3 && (linear & (size - 1)) != 0 && (cr0 & ControlBits.CR0_AM) != 0 && (flagBits & AC) != 0) {
            throw GuestFault.withCode(GuestFault.AC, 0);
        }
    }

    /**
     * A legacy SSE instruction's 128-bit operand that is not 16-byte aligned: #GP(0), unless the model has AMD's
     * MXCSR.MM and it is set (APM misaligned SSE mode): then it is allowed, or #AC(0) under alignment checking.
     * The explicitly aligned moves (MOVAPS, MOVDQA) and FXSAVE/FXRSTOR do not come here: they always need 16.
     */
    void misaligned128() {
        if ((mxcsr & mxcsrMask & CpuModel.MXCSR_MM) == 0) {
            throw GuestFault.withCode(GuestFault.GP, 0);
        }
        if (cpl == 3 && (cr0 & ControlBits.CR0_AM) != 0 && (flagBits & AC) != 0) {
            throw GuestFault.withCode(GuestFault.AC, 0);
        }
    }

    /** The data breakpoints the instruction being run has hit so far (DR6.B0-B3): its #DB trap follows it. */
    private int dataBreakpointHits;

    /** The instruction being interpreted watches for data breakpoints (DR7 enables one). */
    private boolean watchingData;
    /** LOCK or a watch: read and write leave their plain path, which decoded blocks and most instructions take. */
    private boolean slowAccess;

    /** A LOCK prefix, or XCHG with memory: this instruction's read-modify-write is atomic. */
    void lockPrefix() {
        lock = true;
        slowAccess = true;
    }

    long read(long linear, int size) {
        return slowAccess ? slowRead(linear, size) : plainRead(linear, size);
    }

    private long slowRead(long linear, int size) {
        if (watchingData && !implicitAccess) {
            dataBreakpointHits |= Breakpoints.dataHits(this, linear, size, false);
        }
        return lock ? lockedRead(linear, size) : plainRead(linear, size);
    }

    private long plainRead(long linear, int size) {
        checkAlignment(linear, size);
        if (((linear & 0xFFF) + size) > 0x1000) {
            long v = 0;
            for (int i = 0; i < size; i++) {
                v |= physRead(translate(linear + i, ACC_READ), 1) << (8 * i);
            }
            return v;
        }
        return physRead(translate(linear, ACC_READ), size);
    }

    /** Checks that {@code size} bytes at {@code linear} can be stored, before a store that must not be half made. */
    void checkWritable(long linear, int size) {
        translate(linear, ACC_WRITE);
        translate(linear + size - 1, ACC_WRITE);
    }

    void write(long linear, int size, long v) {
        if (!slowAccess) {
            plainWrite(linear, size, v);
            return;
        }
        if (watchingData && !implicitAccess) {
            dataBreakpointHits |= Breakpoints.dataHits(this, linear, size, true);
        }
        if (lock) {
            lockedWrite(linear, size, v);
        } else {
            plainWrite(linear, size, v);
        }
    }

    private void plainWrite(long linear, int size, long v) {
        checkAlignment(linear, size);
        if (((linear & 0xFFF) + size) > 0x1000) {
            long[] phys = new long[size];
            for (int i = 0; i < size; i++) {
                phys[i] = translate(linear + i, ACC_WRITE); // all pages checked before any byte is written
            }
            for (int i = 0; i < size; i++) {
                physWrite(phys[i], 1, v >>> (8 * i));
            }
            return;
        }
        physWrite(translate(linear, ACC_WRITE), size, v);
    }

    // ---- instruction fetch and decode state ------------------------------------------------------------------

    long ip;               // next byte to fetch (linear)
    int opSize;                    // 2, 4 or 8
    int adSize;            // 4 or 8
    boolean rexW;
    int rexR, rexX, rexB;          // register-number high bits (REX: 8; REX2: 8 and/or 16)
    boolean rex2;
    int rep;                       // 0, 0xF2 or 0xF3
    boolean p66;                   // a 66 prefix: operand size, or the SSE mandatory prefix
    boolean lock;
    long segBase;                  // the base the memory operand's segment adds (0 in 64-bit mode but for FS and GS)
    boolean segOverride;           // a segment prefix chose segBase: BP and SP bases no longer select SS
    int segIndex;                  // outside 64-bit mode: the segment register segBase is from, for its checks
    int mod, regField, rmField;
    long ea;
    int nddTarget = -1;            // set by an APX NDD instruction for the duration of its legacy handler
    private boolean ripRelative;
    private long disp;

    /** The guest-physical address of the last instruction fetch that found no RAM. */
    long fetchOutsideRam;
    /** The page instructions are being fetched from, translated once: most instructions never leave it. */
    private long fetchPage = -1;
    private long fetchPhysBase;

    int fetch8() {
        long page = ip & ~0xFFFL;
        if (page != fetchPage) {
            long phys = translate(ip, ACC_EXEC) & ~0xFFFL; // the byte's own address: a #PF reports it in CR2
            if (phys < 0 || phys + 0x1000 > ramSize) {
                fetchOutsideRam = translate(ip, ACC_EXEC);
                throw new Stop(Reason.FETCH_OUTSIDE_RAM); // as KVM: an emulation failure, not a device read
            }
            fetchPhysBase = phys;
            fetchPage = page;
        }
        int b = ram.getByte(fetchPhysBase + (ip & 0xFFF)) & 0xFF;
        ip++;
        return b;
    }

    /** The next instruction byte, left unconsumed. */
    int peek8() {
        int b = fetch8();
        ip--;
        return b;
    }

    long fetch(int size) {
        long v = 0;
        for (int i = 0; i < size; i++) {
            v |= (long) fetch8() << (8 * i);
        }
        return v;
    }

    long fetchSigned(int size) {
        long v = fetch(size);
        int shift = 64 - 8 * size;
        return (v << shift) >> shift;
    }

    /** Immediate of the operand size, sign-extended to 64 bits when the operand is 64-bit (imm32). */
    long fetchImm(int size) {
        return size == 8 ? fetchSigned(4) : fetch(size);
    }

    void decodeModrm() {
        int m = fetch8();
        mod = m >>> 6;
        regField = ((m >>> 3) & 7) | rexR;
        int rm = m & 7;
        ripRelative = false;
        if (mod == 3) {
            rmField = rm | rexB;
            return;
        }
        if (adSize == 2) {
            ea = Legacy.modrm16(this, rm);
            rmField = -1;
            return;
        }
        long address;
        if (rm == 4) {
            int sib = fetch8();
            int scale = sib >>> 6;
            int index = ((sib >>> 3) & 7) | rexX;
            int base = (sib & 7) | rexB;
            if ((sib & 7) == 5 && mod == 0) {
                address = fetchSigned(4);
            } else {
                address = r[base];
                stackBased(base);
                stackAddressed = code64 && !segOverride && (base == 4 || base == 5);
            }
            if (index != 4) { // index 4 (RSP) means none; with REX2.X4 it is R20, a real index
                address += r[index] << scale;
            }
        } else if (rm == 5 && mod == 0) {
            ripRelative = code64; // outside 64-bit mode: a 32-bit absolute displacement
            address = code64 ? 0 : fetchSigned(4);
        } else {
            address = r[rm | rexB];
            stackBased(rm);
            stackAddressed = code64 && !segOverride && ((rm | rexB) == 4 || (rm | rexB) == 5);
        }
        if (mod == 1) {
            address += fetchSigned(1);
        } else if (mod == 2) {
            address += fetchSigned(4);
        } else if (ripRelative) {
            disp = fetchSigned(4);
        }
        ea = address;
        rmField = -1;
    }

    /** Outside 64-bit mode, an EBP or ESP base (BP in 16-bit forms) addresses the stack segment unless a prefix says. */
    void stackBased(int base) {
        if (!code64 && !segOverride && (base == 4 || base == 5)) {
            segBase = segments[SegmentLoads.SS].base();
            segIndex = SegmentLoads.SS;
        }
    }

    /** The offsets an address size reaches: 16, 32 or 64 bits. */
    long offsetMask() {
        return adSize == 8 ? -1L : adSize == 4 ? 0xFFFFFFFFL : 0xFFFFL;
    }

    /** The memory operand's linear address; RIP-relative ones need every immediate fetched first. */
    long ea() {
        return linear(offset());
    }

    /** The memory operand's offset in its segment (the effective address), within the address size. */
    long offset() {
        long a = ripRelative ? ip + disp : ea;
        return adSize == 8 ? a : a & offsetMask();
    }

    /** The linear address of an offset in the operand's segment (DS or a prefix's): 32 bits wide outside 64-bit mode. */
    long linear(long offset) {
        return code64 ? offset + segBase : (offset + segBase) & 0xFFFFFFFFL;
    }

    /** The linear address of an offset in the operand's segment, once (outside 64-bit mode) the segment allows the access. */
    long dataLinear(long offset, int size, boolean write) {
        if (!code64) {
            SegmentChecks.check(this, segIndex, offset, size, write);
        }
        return linear(offset);
    }

    /** The linear address of a string instruction's destination offset, which is always in ES, once ES allows the access. */
    long extraLinear(long offset, int size, boolean write) {
        if (code64) {
            return offset;
        }
        SegmentChecks.check(this, SegmentLoads.ES, offset, size, write);
        return (offset + segments[SegmentLoads.ES].base()) & 0xFFFFFFFFL;
    }

    long readRm(int size) {
        return mod == 3 ? reg(rmField, size) : read(code64 ? ea() : checkedEa(size, false), size);
    }

    /** Outside 64-bit mode: the memory operand's linear address once its segment allows the access. */
    long checkedEa(int size, boolean write) {
        long offset = offset();
        SegmentChecks.check(this, segIndex, offset, size, write);
        return linear(offset);
    }

    void writeRm(int size, long v) {
        if (nddTarget >= 0) { // APX new data destination: the result goes to EVEX.vvvv, zero-extended, not to r/m
            r[nddTarget] = v & mask(size);
            return;
        }
        if (mod == 3) {
            setReg(rmField, size, v);
        } else {
            write(code64 ? ea() : checkedEa(size, true), size, v);
        }
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
    private boolean interruptDue() {
        return !interruptShadow && ((interruptLine && (flagBits & IF) != 0 && interrupts != null) || (nmiPending && !nmiBlocked));
    }

    /** Executes one instruction (or delivers a fault raised by it), or takes a pending external interrupt. */
    void step() {
        if (interruptDue()) {
            if (nmiPending && !nmiBlocked) {
                synchronized (nmiLock) {
                    nmisQueued = Math.max(nmisQueued - 1, 0);
                    nmiPending = nmisQueued > 0;
                    nmiBlocked = true;
                }
                Interrupts.deliverEvent(this, 2, false, 0, rip, 0, true); // vector 2, no INTA
                return;
            }
            Interrupts.deliverEvent(this, interrupts.acknowledge(), false, 0, rip, 0, true); // INTA, then the IDT as for any external event
            return;
        }
        long start = rip;
        boolean singleStep = (flagBits & TF) != 0;
        if ((flagBits & Breakpoints.RF) == 0 && Breakpoints.armed(this)) {
            int hits = Breakpoints.instructionHits(this, code64 ? rip : (csBase + rip) & 0xFFFFFFFFL);
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
        watchingData = Breakpoints.armed(this);
        slowAccess = watchingData;
        System.arraycopy(r, 0, gprsAtStart, 0, 32);
        try {
            interruptShadow = false;
            movSsShadow = false;
            softwareEvent = false;
            stepsOnNewFlags = false;
            executeLocked(start);
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
                // Back to the start (POPs of IRETQ, REP iterations may have moved registers): the restart replays the log
                System.arraycopy(gprsAtStart, 0, r, 0, 32);
                restoreFlags();
                rip = start;
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

    /**
     * Executes the instruction at {@code start}; a locked one whose word another vCPU changed between its read and
     * its store runs again from the start (registers and flags as they were), and one that is not a single word runs
     * again under {@link #SPLIT_LOCK}.
     */
    private void executeLocked(long start) {
        try {
            while (true) {
                try {
                    execute();
                    return;
                } catch (LockRetry retry) {
                    System.arraycopy(gprsAtStart, 0, r, 0, 32);
                    restoreFlags();
                    rip = start;
                    releaseShared();
                    if (retry.wider && !underSplitLock) {
                        SPLIT_LOCK.writeLock().lock();
                        underSplitLock = true;
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
                SPLIT_LOCK.writeLock().unlock();
            }
        }
    }

    private void releaseShared() {
        if (holdingShared) {
            holdingShared = false;
            SPLIT_LOCK.readLock().unlock();
        }
    }

    /**
     * CS loads the core has made (interrupt and exception delivery, IRETQ, SYSCALL/SYSRET/SYSENTER/SYSEXIT): the
     * vCPU then reports CS's hidden part as the load left it, accessed, not as it was last set from outside.
     */
    int codeSegmentLoads;

    /** The GPRs as the interpreted instruction found them, put back when an MMIO read stops it half-way. */
    private final long[] gprsAtStart = new long[32];
    private int savedLazyOp, savedLazySize;
    private long savedLazyDst, savedLazySrc, savedLazyRes, savedLazyCarry, savedFlagBits;

    /** RFLAGS as the instruction about to run found it (the lazy form as it stands), for {@link #restoreFlags()}. */
    private void saveFlags() {
        savedLazyOp = lazyOp;
        savedLazySize = lazySize;
        savedLazyDst = lazyDst;
        savedLazySrc = lazySrc;
        savedLazyRes = lazyRes;
        savedLazyCarry = lazyCarry;
        savedFlagBits = flagBits;
    }

    private void restoreFlags() {
        lazyOp = savedLazyOp;
        lazySize = savedLazySize;
        lazyDst = savedLazyDst;
        lazySrc = savedLazySrc;
        lazyRes = savedLazyRes;
        lazyCarry = savedLazyCarry;
        flagBits = savedFlagBits;
    }

    /** An instruction at {@code start} raised {@code f}: nothing of it is retired, the exception is delivered. */
    private void faulted(GuestFault f, long start) {
        rip = start;
        if (f.vector == GuestFault.UD && undefinedTracer != null) {
            undefinedTracer.accept(start, bytesAt(start, 15));
        }
        if (f.vector != GuestFault.DB) {
            flagBits |= 1L << 16; // RF in the saved RFLAGS of every fault but #DB's, so IRET does not re-break the instruction
        }
        deliver(f.vector, f.hasErrorCode, f.errorCode, start, 0);
    }

    // ---- the fast path: decoded blocks -------------------------------------------------------------------------

    /** The decoded blocks of the physical page at {@link #fetchBlocksBase} (-1: none looked up). */
    private DecodedBlock[] fetchBlocks;
    private long fetchBlocksBase = -1;
    private int fetchBlocksFlushes;

    /** Set by a store that dropped decoded code or went to MMIO: the block being run stops after this instruction. */
    private boolean endBlock;

    /**
     * Runs the decoded block at RIP, then the instruction it ends before if that one needs the interpreter; returns
     * how many instructions it ran or faulted on (at least one). Single-stepping and code outside RAM go through
     * {@link #step()}, one instruction at a time.
     */
    int runBlock() {
        if ((flagBits & (TF | Breakpoints.RF)) != 0 || interruptDue() || !blocksRun) {
            step(); // single-stepping, breakpoints, an external interrupt to take here, or 16- and 32-bit code
            return 1;
        }
        long page = rip & ~0xFFFL;
        if (page != fetchPage) {
            long phys;
            try {
                phys = translate(page, ACC_EXEC);
            } catch (GuestFault f) {
                step(); // the interpreter's fetch raises the same fault
                return 1;
            }
            if (phys < 0 || phys + 0x1000 > ramSize) {
                step();
                return 1;
            }
            fetchPhysBase = phys;
            fetchPage = page;
        }
        if (fetchBlocksBase != fetchPhysBase || fetchBlocksFlushes != code.flushes) {
            fetchBlocks = code.page(fetchPhysBase);
            fetchBlocksBase = fetchPhysBase;
            fetchBlocksFlushes = code.flushes;
        }
        long physical = fetchPhysBase + (rip & 0xFFF);
        DecodedBlock block = fetchBlocks[(int) (rip & 0xFFF)];
        if (block == null || !code.current(block, physical)) {
            block = code.decode(physical, fetchBlocks);
        }
        DecodedInsn[] insns = block.insns;
        endBlock = false;
        boolean shadowed = interruptShadow; // an STI/MOV SS shadow covers one instruction: the first one here
        int n = 0;
        boolean restorable = false;
        try {
            while (n < insns.length) {
                restorable = insns[n].flagsBeforeStore(); // the only decoded forms that can fault after setting flags
                if (restorable) {
                    saveFlags();
                }
                mmioReplayed = 0;
                boolean onward = executeDecoded(insns[n]);
                mmioRetired();
                interruptShadow = false;
                instructions++;
                n++;
                if (!onward || endBlock || shadowed) {
                    return n; // after a shadowed instruction, back to the boundary where interrupts are taken
                }
            }
        } catch (GuestFault f) {
            mmioRetired();
            if (restorable) {
                restoreFlags();
            }
            faulted(f, rip);
            return n + 1;
        }
        if (block.endsBeforeSlow) {
            step();
            n++;
        }
        return n;
    }

    /** Register {@code n} as a {@code size}-byte operand; {@link DecodedInsn#HIGH_BYTE} + 0-3 are AH-BH. */
    private long regOf(int n, int size) {
        return switch (size) {
            case 1 -> n >= DecodedInsn.HIGH_BYTE ? (r[n - DecodedInsn.HIGH_BYTE] >>> 8) & 0xFF : r[n] & 0xFF;
            case 2 -> r[n] & 0xFFFF;
            case 4 -> r[n] & 0xFFFFFFFFL;
            default -> r[n];
        };
    }

    private void setRegOf(int n, int size, long v) {
        switch (size) {
            case 1 -> {
                if (n >= DecodedInsn.HIGH_BYTE) {
                    int low = n - DecodedInsn.HIGH_BYTE;
                    r[low] = (r[low] & ~0xFF00L) | ((v & 0xFF) << 8);
                } else {
                    r[n] = (r[n] & ~0xFFL) | (v & 0xFF);
                }
            }
            case 2 -> r[n] = (r[n] & ~0xFFFFL) | (v & 0xFFFF);
            case 4 -> r[n] = v & 0xFFFFFFFFL;
            default -> r[n] = v;
        }
    }

    /** The linear address of a decoded memory operand; {@code next} is the address of the next instruction. */
    private long address(DecodedInsn d, long next) {
        long a = d.disp();
        int base = d.base();
        stackAddressed = d.seg() == 0 && (base == 4 || base == 5);
        if (base >= 0) {
            a += r[base];
        } else if (base == DecodedInsn.RIP) {
            a += next;
        }
        if (d.index() >= 0) {
            a += r[d.index()] << d.scale();
        }
        int seg = d.seg();
        return seg == 0 ? a : a + (seg == DecodedInsn.FS ? fsBase : gsBase);
    }

    private long operand(DecodedInsn d, int size, long next) {
        int rm = d.rm();
        return rm >= 0 ? regOf(rm, size) : read(address(d, next), size);
    }

    private void setOperand(DecodedInsn d, int size, long next, long v) {
        int rm = d.rm();
        if (rm >= 0) {
            setRegOf(rm, size, v);
        } else {
            write(address(d, next), size, v);
        }
    }

    /**
     * Executes one decoded instruction at RIP, exactly as the interpreter does the same bytes; false when it
     * transferred control (the block is left). A fault leaves RIP at the instruction.
     */
    private boolean executeDecoded(DecodedInsn d) {
        long next = rip + d.length();
        int size = d.size();
        switch (d.op()) {
            case DecodedInsn.ALU_RM_REG -> {
                long src = regOf(d.reg(), size);
                int rm = d.rm();
                if (rm >= 0) {
                    long res = Arithmetic.aluOp(this, d.sub(), regOf(rm, size), src, size);
                    if (d.sub() != 7) {
                        setRegOf(rm, size, res);
                    }
                } else {
                    long a = address(d, next);
                    long res = Arithmetic.aluOp(this, d.sub(), read(a, size), src, size);
                    if (d.sub() != 7) {
                        write(a, size, res);
                    }
                }
            }
            case DecodedInsn.ALU_R64_R64 -> {
                long res = Arithmetic.aluOp(this, d.sub(), r[d.rm()], r[d.reg()], 8);
                if (d.sub() != 7) {
                    r[d.rm()] = res;
                }
            }
            case DecodedInsn.ALU_R32_R32 -> {
                long res = Arithmetic.aluOp(this, d.sub(), r[d.rm()] & 0xFFFFFFFFL, r[d.reg()] & 0xFFFFFFFFL, 4);
                if (d.sub() != 7) {
                    r[d.rm()] = res; // aluOp masked it: a 32-bit destination is zero-extended
                }
            }
            case DecodedInsn.INC_DEC_R64 -> {
                long carry = cf() ? CF : 0;
                long v = r[d.rm()];
                long res = d.sub() == 0 ? v + 1 : v - 1;
                r[d.rm()] = res;
                lazy(d.sub() == 0 ? LAZY_INC : LAZY_DEC, v, 1, res, 8);
                lazyCarry = carry;
            }
            case DecodedInsn.ALU_REG_RM -> {
                long res = Arithmetic.aluOp(this, d.sub(), regOf(d.reg(), size), operand(d, size, next), size);
                if (d.sub() != 7) {
                    setRegOf(d.reg(), size, res);
                }
            }
            case DecodedInsn.ALU_RM_IMM -> {
                int rm = d.rm();
                if (rm >= 0) {
                    long res = Arithmetic.aluOp(this, d.sub(), regOf(rm, size), d.imm(), size);
                    if (d.sub() != 7) {
                        setRegOf(rm, size, res);
                    }
                } else {
                    long a = address(d, next);
                    long res = Arithmetic.aluOp(this, d.sub(), read(a, size), d.imm(), size);
                    if (d.sub() != 7) {
                        write(a, size, res);
                    }
                }
            }
            case DecodedInsn.TEST_RM_REG -> {
                long res = operand(d, size, next) & regOf(d.reg(), size);
                lazy(LAZY_LOGIC, res, 0, res, size);
            }
            case DecodedInsn.TEST_RM_IMM -> {
                long res = operand(d, size, next) & d.imm();
                lazy(LAZY_LOGIC, res, 0, res, size);
            }
            case DecodedInsn.MOV_RM_REG -> setOperand(d, size, next, regOf(d.reg(), size));
            case DecodedInsn.MOV_REG_RM -> setRegOf(d.reg(), size, operand(d, size, next));
            case DecodedInsn.MOV_RM_IMM -> setOperand(d, size, next, d.imm());
            case DecodedInsn.LEA -> setRegOf(d.reg(), size, address(d, next));
            case DecodedInsn.MOVZX -> setRegOf(d.reg(), size, operand(d, d.sub(), next));
            case DecodedInsn.MOVSX -> {
                int shift = 64 - 8 * d.sub();
                setRegOf(d.reg(), size, (operand(d, d.sub(), next) << shift) >> shift);
            }
            case DecodedInsn.INC, DecodedInsn.DEC -> {
                long carry = cf() ? CF : 0;
                int rm = d.rm();
                boolean inc = d.op() == DecodedInsn.INC;
                long res;
                long v;
                if (rm >= 0) {
                    v = regOf(rm, size);
                    res = inc ? v + 1 : v - 1;
                    setRegOf(rm, size, res);
                } else {
                    long a = address(d, next);
                    v = read(a, size);
                    res = inc ? v + 1 : v - 1;
                    write(a, size, res);
                }
                lazy(inc ? LAZY_INC : LAZY_DEC, v, 1, res, size);
                lazyCarry = carry;
            }
            case DecodedInsn.NOT -> {
                int rm = d.rm();
                if (rm >= 0) {
                    setRegOf(rm, size, ~regOf(rm, size));
                } else {
                    long a = address(d, next);
                    write(a, size, ~read(a, size));
                }
            }
            case DecodedInsn.NEG -> {
                int rm = d.rm();
                long v;
                long res;
                if (rm >= 0) {
                    v = regOf(rm, size);
                    res = -v;
                    setRegOf(rm, size, res);
                } else {
                    long a = address(d, next);
                    v = read(a, size);
                    res = -v;
                    write(a, size, res);
                }
                lazy(LAZY_NEG, v, 0, res, size);
            }
            case DecodedInsn.PUSH_REG -> push(size == 2 ? r[d.reg()] & 0xFFFF : r[d.reg()], size);
            case DecodedInsn.PUSH_IMM -> push(d.imm(), size);
            case DecodedInsn.PUSH_RM -> push(operand(d, size, next), size);
            case DecodedInsn.POP_REG -> {
                long v = pop(size);
                setRegOf(d.reg(), size, v);
            }
            case DecodedInsn.IMUL_IMM -> Arithmetic.imul3(this, d.reg(), operand(d, size, next), d.imm(), size);
            case DecodedInsn.IMUL_REG_RM -> Arithmetic.imul3(this, d.reg(), regOf(d.reg(), size), operand(d, size, next), size);
            case DecodedInsn.SHIFT -> {
                int count = (int) (d.imm() >= 0 ? d.imm() : r[1] & 0xFF) & (size == 8 ? 63 : 31);
                int rm = d.rm();
                long a = rm >= 0 ? 0 : address(d, next);
                long v = rm >= 0 ? regOf(rm, size) : read(a, size);
                if (count != 0) {
                    v = ShiftsAndBits.shifted(this, d.sub(), size, v, count);
                } else if (size != 4) {
                    break; // flags and destination stay; a 32-bit one is still written, so zero-extended
                }
                if (rm >= 0) {
                    setRegOf(rm, size, v);
                } else {
                    write(a, size, v);
                }
                if (count != 0) {
                    setArith(shiftFlags);
                }
            }
            case DecodedInsn.JCC -> {
                if (condition(d.sub())) {
                    rip = canonicalTarget(next + d.imm());
                    return false;
                }
            }
            case DecodedInsn.JMP -> {
                rip = canonicalTarget(next + d.imm());
                return false;
            }
            case DecodedInsn.CALL -> {
                long target = canonicalTarget(next + d.imm());
                push(next);
                rip = target;
                return false;
            }
            case DecodedInsn.RET -> {
                long target = canonicalTarget(read(stackLinear(stackPointer()), 8)); // checked before RSP moves
                pop();
                rip = target;
                return false;
            }
            case DecodedInsn.JMP_RM -> {
                rip = canonicalTarget(operand(d, 8, next));
                return false;
            }
            case DecodedInsn.CALL_RM -> {
                long target = canonicalTarget(operand(d, 8, next));
                push(next);
                rip = target;
                return false;
            }
            case DecodedInsn.CMOV -> {
                long v = operand(d, size, next);
                if (condition(d.sub())) {
                    setRegOf(d.reg(), size, v);
                } else if (size == 4) {
                    r[d.reg()] &= 0xFFFFFFFFL; // a 32-bit CMOV zero-extends even when it does not move
                }
            }
            case DecodedInsn.SETCC -> setOperand(d, 1, next, condition(d.sub()) ? 1 : 0);
            case DecodedInsn.NOP -> {
            }
            case DecodedInsn.SIGN_EXTEND_ACC -> {
                switch (size) {
                    case 2 -> setRegOf(0, 2, (byte) r[0]);
                    case 4 -> setRegOf(0, 4, (short) r[0]);
                    default -> r[0] = (int) r[0];
                }
            }
            case DecodedInsn.SIGN_FILL_DX -> setRegOf(2, size, (regOf(0, size) & signBit(size)) != 0 ? -1 : 0);
            default -> throw new IllegalStateException("no handler for decoded op " + d.op());
        }
        rip = next;
        return true;
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
                if (p < 0 || p >= ramSize) {
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
        Interrupts.deliverEvent(this, vector, hasCode, code, returnRip, depth, true);
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
            dataBreakpointHits |= Breakpoints.ioHits(this, port, size);
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
            SegmentChecks.check(this, SegmentLoads.SS, stack32 ? sp & 0xFFFFFFFFL : sp & 0xFFFF, size, true);
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

    long pop(int size) {
        if (!code64) {
            long sp = stackPointer();
            SegmentChecks.check(this, SegmentLoads.SS, sp, size, false);
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

    /** A non-canonical stack address is #SS(0), not the #GP(0) of other accesses. */
    static void requireCanonicalStack(long address) {
        if (address != ((address << 16) >> 16)) {
            throw GuestFault.withCode(GuestFault.SS, 0);
        }
    }

    private void execute() {
        if (!code64) {
            Legacy.execute(this);
            return;
        }
        ip = rip;
        opSize = 4;
        adSize = 8;
        beginInstruction();
        segBase = 0;
        int b;
        boolean o16 = false;
        int prefixes = 0;
        while (true) {
            b = fetch8();
            if (++prefixes > 14) {
                throw GuestFault.withCode(GuestFault.GP, 0); // over 15 bytes
            }
            switch (b) {
                case 0x66 -> o16 = true;
                case 0x67 -> adSize = 4;
                case 0xF0 -> lockPrefix();
                case 0xF2, 0xF3 -> rep = b;
                case 0x2E, 0x36, 0x3E, 0x26 -> { }
                case 0x64 -> {
                    segBase = fsBase;
                    segOverride = true;
                }
                case 0x65 -> {
                    segBase = gsBase;
                    segOverride = true;
                }
                default -> {
                    prefixes = -1;
                }
            }
            if (prefixes < 0) {
                break;
            }
            rexW = false; // a legacy prefix after REX cancels the REX
            rexR = rexX = rexB = 0;
            anyRex = false;
        }
        int map = 0;
        if (b >= 0x40 && b <= 0x4F) {
            anyRex = true;
            rexW = (b & 8) != 0;
            rexR = (b & 4) << 1;
            rexX = (b & 2) << 2;
            rexB = (b & 1) << 3;
            b = fetch8();
            if (b == 0xD5 || (b >= 0x40 && b <= 0x4F)) {
                throw GuestFault.of(GuestFault.UD); // REX2 after REX, or REX after REX
            }
        } else if (b == 0xD5) {
            if (!apxEnabled()) {
                throw GuestFault.of(GuestFault.UD);
            }
            int p = fetch8();
            rex2 = true;
            anyRex = true;
            map = p >>> 7;
            rexR = ((p & 0x40) >>> 2) | ((p & 0x04) << 1);
            rexX = ((p & 0x20) >>> 1) | ((p & 0x02) << 2);
            rexB = (p & 0x10) | ((p & 0x01) << 3);
            rexW = (p & 0x08) != 0;
            b = fetch8();
            if (map == 0 && b == 0xA1 && (p & 0x08) == 0) { // JMPABS: REX2 with M0 = 0, W = 0, then A1 imm64
                if (o16 || adSize == 4 || rep != 0 || lock) {
                    throw GuestFault.of(GuestFault.UD);
                }
                rip = fetch(8);
                return;
            }
            if (map == 0 && Rex2.forbiddenMap0(b) || map == 1 && Rex2.forbiddenMap1(b)) {
                throw GuestFault.of(GuestFault.UD);
            }
        }
        opSize = rexW ? 8 : o16 ? 2 : 4;
        p66 = o16;
        if (map == 0 && (b == 0xC4 || b == 0xC5)) {
            if (anyRex || o16 || rep != 0 || lock) {
                throw GuestFault.of(GuestFault.UD); // VEX after REX or a 66/F2/F3/F0 prefix
            }
            Bmi.executeVex(this, b);
            return;
        }
        if (map == 0 && b == 0x62) {
            if (anyRex || o16 || rep != 0 || lock) {
                throw GuestFault.of(GuestFault.UD); // EVEX after REX or a 66/F2/F3/F0 prefix
            }
            Apx.executeEvex(this);
            return;
        }
        if (map == 0 && b == 0x0F) {
            map = 1;
            b = fetch8();
            if (b == 0x38 && !rex2) {
                if (lock) {
                    throw GuestFault.of(GuestFault.UD);
                }
                Bmi.executeMap0F38(this, fetch8());
                return;
            }
        }
        if (lock && !LockPrefix.allows(map, b, peek8())) {
            throw GuestFault.of(GuestFault.UD); // LOCK on an instruction, or a form, that has no locked read-modify-write
        }
        if (map == 0) {
            executeMap0(b);
        } else {
            executeMap1(b);
        }
    }

    /** FE (group 4: INC, DEC of r/m8) and FF (group 5: INC, DEC, indirect near CALL and JMP, PUSH r/m). */
    private void group45(int b) {
        decodeModrm();
        int op = regField & 7;
        if (b == 0xFE && op > 1) {
            throw GuestFault.of(GuestFault.UD);
        }
        switch (op) {
            case 0, 1 -> Arithmetic.incDec(this, op, b == 0xFE ? 1 : opSize);
            case 2 -> {
                int width = nearBranchSize();
                long target = nearTarget(readRm(width));
                done();
                push(width == 2 ? rip & 0xFFFF : rip, width);
                rip = target;
            }
            case 4 -> rip = nearTarget(readRm(nearBranchSize()));
            case 3, 5 -> FarTransfers.indirect(this, op == 3);
            case 6 -> {
                push(readRm(stackSize()), stackSize());
                done();
            }
            default -> throw GuestFault.of(GuestFault.UD);
        }
    }

    void done() {
        rip = code64 ? ip : (ip - csBase) & 0xFFFFFFFFL;
    }

    private int byteOr(int b) {
        return (b & 1) == 0 ? 1 : opSize;
    }

    void executeMap0(int b) {
        if (b < 0x40 && (b & 7) < 6) {
            Arithmetic.alu(this, (b >>> 3) & 7, b & 7);
            return;
        }
        switch (b) {
            case 0x50, 0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57 -> {
                int n = (b & 7) | rexB;
                push(o16() ? reg(n, 2) : r[n], stackSize());
                done();
            }
            case 0x58, 0x59, 0x5A, 0x5B, 0x5C, 0x5D, 0x5E, 0x5F -> {
                int n = (b & 7) | rexB;
                long v = pop(stackSize());
                setReg(n, stackSize(), v); // a 16-bit POP leaves bits 63:16 alone
                done();
            }
            case 0x63 -> { // MOVSXD
                decodeModrm();
                long v = (int) readRm(4);
                setReg(regField, opSize, v);
                done();
            }
            case 0x68 -> {
                long v = fetchSigned(opSize == 2 ? 2 : 4);
                push(v, stackSize());
                done();
            }
            case 0x6A -> {
                push(fetchSigned(1), stackSize());
                done();
            }
            case 0x69, 0x6B -> {
                decodeModrm();
                long imm = b == 0x6B ? fetchSigned(1) : fetchSigned(opSize == 2 ? 2 : 4);
                Arithmetic.imul3(this, regField, readRm(opSize), imm, opSize);
                done();
            }
            case 0x70, 0x71, 0x72, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7A, 0x7B, 0x7C, 0x7D, 0x7E, 0x7F ->
                    jumpIf(condition(b & 0xF), 1);
            case 0x80, 0x81, 0x83 -> {
                decodeModrm();
                int size = b == 0x80 ? 1 : opSize;
                long imm = b == 0x81 ? fetchImm(size) : fetchSigned(1);
                long dst = readRm(size);
                long res = Arithmetic.aluOp(this, regField & 7, dst, imm, size);
                if ((regField & 7) != 7) {
                    writeRm(size, res);
                }
                done();
            }
            case 0x84, 0x85 -> {
                decodeModrm();
                int size = byteOr(b);
                long res = readRm(size) & reg(regField, size);
                lazy(LAZY_LOGIC, res, 0, res, size);
                done();
            }
            case 0x86, 0x87 -> {
                decodeModrm();
                if (mod != 3) {
                    lockPrefix(); // XCHG with memory is locked, prefix or not
                }
                int size = byteOr(b);
                long a = readRm(size);
                writeRm(size, reg(regField, size));
                setReg(regField, size, a);
                done();
            }
            case 0x88, 0x89 -> {
                decodeModrm();
                int size = byteOr(b);
                writeRm(size, reg(regField, size));
                done();
            }
            case 0x8A, 0x8B -> {
                decodeModrm();
                int size = byteOr(b);
                setReg(regField, size, readRm(size));
                done();
            }
            case 0x8C -> SegmentLoads.movFromSegment(this);
            case 0x8E -> SegmentLoads.movToSegment(this);
            case 0x8D -> {
                decodeModrm();
                if (mod == 3) {
                    throw GuestFault.of(GuestFault.UD);
                }
                long saved = segBase;
                segBase = 0;
                setReg(regField, opSize, ea());
                segBase = saved;
                done();
            }
            case 0x8F -> {
                int size = stackSize();
                long rsp = r[4];
                r[4] = rsp + size; // the SDM: an RSP base addresses the destination after the increment
                try {
                    decodeModrm();
                } finally {
                    r[4] = rsp;
                }
                long v = pop(size);
                try {
                    writeRm(size, v);
                } catch (GuestFault f) {
                    r[4] = rsp; // a faulting store leaves the stack as it was, so the POP can restart
                    throw f;
                }
                done();
            }
            case 0x90 -> {
                if (rexB != 0) {
                    long a = r[0];
                    r[0] = r[rexB];
                    r[rexB] = a;
                } else if (rep == 0xF3) {
                    Thread.onSpinWait(); // PAUSE
                }
                done();
            }
            case 0x91, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97 -> {
                int n = (b & 7) | rexB;
                long a = reg(0, opSize);
                setReg(0, opSize, reg(n, opSize));
                setReg(n, opSize, a);
                done();
            }
            case 0x98 -> { // CBW/CWDE/CDQE
                switch (opSize) {
                    case 2 -> setReg(0, 2, (byte) r[0]);
                    case 4 -> setReg(0, 4, (short) r[0]);
                    default -> r[0] = (int) r[0];
                }
                done();
            }
            case 0x99 -> { // CWD/CDQ/CQO
                long sign = (reg(0, opSize) & signBit(opSize)) != 0 ? -1 : 0;
                setReg(2, opSize, sign);
                done();
            }
            case 0x9C -> {
                push(rflags() & ~0x30000L, stackSize()); // VM and RF read as 0
                done();
            }
            case 0x9D -> {
                int size = stackSize();
                long v = pop(size);
                loadFlags(v, 0x247FD5L, size); // not VM, RF, VIF or VIP; a 16-bit POPF only the low half
                done();
            }
            case 0x9E -> { // SAHF
                modifyArith(SF | ZF | AF | PF | CF, (r[0] >>> 8) & 0xD5);
                done();
            }
            case 0x9F -> { // LAHF: AH = SF ZF 0 AF 0 PF 1 CF
                r[0] = (r[0] & ~0xFF00L) | (((rflags() & 0xD5) | 0x2) << 8);
                done();
            }
            case 0xA8, 0xA9 -> {
                int size = byteOr(b);
                long imm = fetchImm(size);
                long res = reg(0, size) & imm;
                lazy(LAZY_LOGIC, res, 0, res, size);
                done();
            }
            case 0xA4, 0xA5, 0xAA, 0xAB, 0xAC, 0xAD, 0xA6, 0xA7, 0xAE, 0xAF -> Strings.strings(this, b);
            case 0xA0, 0xA1, 0xA2, 0xA3 -> { // MOV AL/rAX to and from moffs: an offset of the address size, DS or a prefix's
                int size = byteOr(b);
                long at = dataLinear(fetch(adSize), size, b >= 0xA2);
                if (b <= 0xA1) {
                    setReg(0, size, read(at, size));
                } else {
                    write(at, size, reg(0, size));
                }
                done();
            }
            case 0xB0, 0xB1, 0xB2, 0xB3, 0xB4, 0xB5, 0xB6, 0xB7 -> {
                setReg((b & 7) | rexB, 1, fetch(1));
                done();
            }
            case 0xB8, 0xB9, 0xBA, 0xBB, 0xBC, 0xBD, 0xBE, 0xBF -> {
                long imm = opSize == 8 ? fetch(8) : fetch(opSize);
                setReg((b & 7) | rexB, opSize, imm);
                done();
            }
            case 0xC0, 0xC1, 0xD0, 0xD1, 0xD2, 0xD3 -> {
                decodeModrm();
                int size = byteOr(b);
                int count = b <= 0xC1 ? (int) fetch(1) : b <= 0xD1 ? 1 : (int) r[1] & 0xFF;
                ShiftsAndBits.writeShift(this, size, count);
                done();
            }
            case 0xC2 -> {
                long n = fetch(2);
                rip = nearReturn();
                setStackPointer(stackPointer() + n);
            }
            case 0xC3 -> rip = nearReturn();
            case 0xC6, 0xC7 -> {
                decodeModrm();
                int size = byteOr(b);
                long imm = fetchImm(size);
                writeRm(size, imm);
                done();
            }
            case 0xC8 -> Enter.execute(this);
            case 0x9B -> X87.fwait(this);
            case 0xD8, 0xD9, 0xDA, 0xDB, 0xDC, 0xDD, 0xDE, 0xDF -> X87.escape(this, b);
            case 0xD7 -> { // XLAT: AL = [RBX + AL], DS or an override
                long table = (r[3] + (r[0] & 0xFF)) & offsetMask();
                setReg(0, 1, read(dataLinear(table, 1, false), 1));
                done();
            }
            case 0xC9 -> { // LEAVE: the stack pointer from the frame pointer, then the saved frame pointer popped
                long sp = stackPointer();
                setStackPointer(r[5]);
                try {
                    setReg(5, stackSize(), pop(stackSize()));
                } catch (GuestFault f) {
                    setStackPointer(sp);
                    throw f;
                }
                done();
            }
            case 0xCC -> {
                done();
                softwareEvent = true;
                Interrupts.deliverEvent(this, GuestFault.BP, false, 0, rip, 0, false);
            }
            case 0xF1 -> { // INT1 (ICEBP): a trap-like #DB through the IDT, with no gate DPL check
                done();
                softwareEvent = true;
                if (trapHeldByMovSs != 0) { // a MOV SS watchpoint's trap and ICEBP's #DB are one delivery
                    dr6 = (dr6 & ~0xFL) | trapHeldByMovSs;
                    trapHeldByMovSs = 0;
                }
                Interrupts.deliverEvent(this, GuestFault.DB, false, 0, rip, 0, true);
            }
            case 0xCD -> {
                int vector = (int) fetch(1);
                done();
                softwareEvent = true;
                Interrupts.deliverEvent(this, vector, false, 0, rip, 0, false);
            }
            case 0xCF -> Interrupts.iret(this);
            case 0xCA -> FarTransfers.ret(this, (int) fetch(2));
            case 0xCB -> FarTransfers.ret(this, 0);
            case 0xE4, 0xE5, 0xEC, 0xED -> {
                int size = (b & 1) == 0 ? 1 : opSize == 8 ? 4 : opSize;
                int port = b <= 0xE5 ? (int) fetch(1) : (int) (r[2] & 0xFFFF);
                requirePortAccess(port, size);
                done();
                setReg(0, size, io.in(port, size));
            }
            case 0x6C, 0x6D, 0x6E, 0x6F -> Strings.stringIo(this, b);
            case 0xE6, 0xE7, 0xEE, 0xEF -> {
                int size = (b & 1) == 0 ? 1 : opSize == 8 ? 4 : opSize;
                int port = b <= 0xE7 ? (int) fetch(1) : (int) (r[2] & 0xFFFF);
                requirePortAccess(port, size);
                done();
                io.out(port, size, reg(0, size));
            }
            case 0xE8 -> {
                int width = nearBranchSize();
                long rel = fetchSigned(width == 2 ? 2 : 4);
                done();
                long target = nearTarget(rip + rel); // checked before the push: a fault leaves the stack alone
                push(width == 2 ? rip & 0xFFFF : rip, width);
                rip = target;
            }
            case 0xE9 -> jumpIf(true, 4);
            case 0xEB -> jumpIf(true, 1);
            case 0xE0, 0xE1, 0xE2, 0xE3 -> {
                long rel = fetchSigned(1);
                done();
                boolean jump;
                long m = offsetMask(); // the counter is CX, ECX or RCX by the address size
                if (b == 0xE3) {
                    jump = (r[1] & m) == 0;
                } else {
                    r[1] = Strings.addressed(r[1], -1, m);
                    boolean nz = (r[1] & m) != 0;
                    jump = b == 0xE2 ? nz : b == 0xE1 ? nz && condition(4) : nz && !condition(4);
                }
                if (jump) {
                    rip = nearTarget(rip + rel);
                }
            }
            case 0xF4 -> {
                requireCpl0();
                done();
                throw new Stop(Reason.HLT);
            }
            case 0xF5 -> {
                modifyArith(CF, cf() ? 0 : CF);
                done();
            }
            case 0xF6, 0xF7 -> Arithmetic.group3(this, byteOr(b));
            case 0xF8 -> {
                modifyArith(CF, 0);
                done();
            }
            case 0xF9 -> {
                modifyArith(CF, CF);
                done();
            }
            case 0xFA -> {
                requireIoPrivilege();
                flagBits &= ~IF;
                done();
            }
            case 0xFB -> {
                requireIoPrivilege();
                if ((flagBits & IF) == 0) {
                    interruptShadow = true;
                }
                flagBits |= IF;
                done();
            }
            case 0xFC -> {
                flagBits &= ~DF;
                done();
            }
            case 0xFD -> {
                flagBits |= DF;
                done();
            }
            case 0xFE, 0xFF -> group45(b);
            default -> throw GuestFault.of(GuestFault.UD);
        }
    }

    /** A relative jump of an 8- or 32-bit displacement, from the end of the instruction, when {@code taken}. */
    private void jumpIf(boolean taken, int displacementSize) {
        long rel = fetchSigned(displacementSize == 4 && nearBranchSize() == 2 ? 2 : displacementSize);
        done();
        if (taken) {
            rip = nearTarget(rip + rel);
        }
    }

    /**
     * The operand size of a near branch in 64-bit mode: 8, which a 66 prefix does not change on Intel (SDM: "66H
     * is ignored"); on AMD it makes 16 (APM: rel16 displacements, IP truncated to 16 bits, 2-byte return addresses).
     */
    int nearBranchSize() {
        if (!code64) {
            return opSize;
        }
        return opSize == 2 && vendor.followsApm() ? 2 : 8;
    }

    /** A near branch target at the branch's operand size; outside 64-bit mode one past CS's limit is #GP(0) at the branch. */
    long nearTarget(long target) {
        int size = nearBranchSize();
        long t = size == 8 ? target : size == 4 ? target & 0xFFFFFFFFL : target & 0xFFFF;
        if (!code64) {
            FarTransfers.requireInCodeLimit(this, segments[SegmentLoads.CS], t);
        }
        return canonicalTarget(t);
    }

    /** RET's target, checked before the pop moves the stack pointer: a faulting RET leaves RSP as it was. */
    private long nearReturn() {
        long sp = stackPointer();
        long value = pop(nearBranchSize());
        try {
            return nearTarget(value);
        } catch (GuestFault f) {
            setStackPointer(sp);
            throw f;
        }
    }

    /** A branch in 64-bit mode to a non-canonical address faults on the branch (#GP(0)), not on the fetch after it. */
    long canonicalTarget(long target) {
        if (code64 && !canonical(target)) {
            throw GuestFault.withCode(GuestFault.GP, 0);
        }
        return target;
    }

    private boolean o16() {
        return opSize == 2;
    }

    /** The flags of the last {@link #shifted}, set by the caller once the result is written (a fault leaves them). */
    long shiftFlags;

    /** Where the value of the IN the machine is answering goes: INS's memory operand, or (false) AL/AX/EAX. */
    boolean pendingInToMemory;
    long pendingInAddress;

    /** The machine's answer to the IN that ended the last run: into the accumulator, or where INS stores it. */
    void completeIn(int size, long value) {
        if (!pendingInToMemory) {
            setReg(0, size, value); // AL/AX/EAX: not affected by REX
            return;
        }
        pendingInToMemory = false;
        write(pendingInAddress, size, value); // checked before the IN went out: no fault is left to take here
        mmioRetired(); // a store to a device here is done with: no restart replays it
    }

    void executeMap1(int b) {
        switch (b) {
            case 0x01 -> SystemInstructions.group7(this);
            case 0x05 -> FastSystemCalls.syscall(this);
            case 0x07 -> FastSystemCalls.sysret(this);
            case 0x34 -> FastSystemCalls.sysenter(this);
            case 0x35 -> FastSystemCalls.sysexit(this);
            case 0x0B -> throw GuestFault.of(GuestFault.UD);
            case 0x18, 0x19, 0x1A, 0x1B, 0x1C, 0x1D, 0x1E, 0x1F, 0x0D -> { // prefetch, hint NOPs, ENDBR64
                decodeModrm();
                done();
            }
            case 0x00 -> SystemInstructions.group6(this);
            case 0xA0, 0xA8 -> SegmentLoads.push(this, b == 0xA0 ? SegmentLoads.FS : SegmentLoads.GS);
            case 0xA1, 0xA9 -> SegmentLoads.pop(this, b == 0xA1 ? SegmentLoads.FS : SegmentLoads.GS);
            case 0xA3, 0xAB, 0xB3, 0xBB -> ShiftsAndBits.bitTest(this, b == 0xA3 ? 0 : b == 0xAB ? 1 : b == 0xB3 ? 2 : 3, false);
            case 0xBA -> ShiftsAndBits.bitTest(this, -1, true);
            case 0xBC, 0xBD -> ShiftsAndBits.bitScan(this, b == 0xBD);
            case 0xB8 -> {
                if (rep != 0xF3) {
                    throw GuestFault.of(GuestFault.UD); // JMPE: not in 64-bit mode
                }
                decodeModrm();
                long v = readRm(opSize);
                setReg(regField, opSize, Long.bitCount(v));
                setArith(v == 0 ? ZF : 0);
                done();
            }
            case 0xA4, 0xA5, 0xAC, 0xAD -> ShiftsAndBits.doubleShift(this, b <= 0xA5, (b & 1) == 0);
            case 0xB0, 0xB1 -> {
                decodeModrm();
                int size = b == 0xB0 ? 1 : opSize;
                long dst = readRm(size);
                long acc = reg(0, size);
                Arithmetic.aluOp(this, 7, acc, dst, size);
                if ((acc & mask(size)) == (dst & mask(size))) {
                    writeRm(size, reg(regField, size));
                } else {
                    if (mod != 3) {
                        writeRm(size, dst); // a memory destination is written back (a locked cycle); a register one is left alone
                    }
                    setReg(0, size, dst);
                }
                done();
            }
            case 0xC0, 0xC1 -> {
                decodeModrm();
                int size = b == 0xC0 ? 1 : opSize;
                long dst = readRm(size);
                long src = reg(regField, size);
                long sum = Arithmetic.aluOp(this, 0, dst, src, size);
                if (mod == 3) {
                    setReg(regField, size, dst);
                    writeRm(size, sum); // the destination last: XADD r, r with one register leaves the sum
                } else {
                    writeRm(size, sum); // the store first: if it faults, the register is as it was
                    setReg(regField, size, dst);
                }
                done();
            }
            case 0xC7 -> SystemInstructions.group9(this);
            case 0xB2 -> FarTransfers.loadFarPointer(this, SegmentLoads.SS);
            case 0xB4 -> FarTransfers.loadFarPointer(this, SegmentLoads.FS);
            case 0xB5 -> FarTransfers.loadFarPointer(this, SegmentLoads.GS);
            case 0xC4, 0xC5, 0xC6 -> Sse.execute(this, b);
            case 0xAE -> SystemInstructions.group15(this);
            case 0x10, 0x11, 0x28, 0x29, 0x54, 0x55, 0x56, 0x57, 0x60, 0x61, 0x62, 0x64, 0x65, 0x66, 0x6C, 0x6D, 0x6E, 0x6F,
                 0x70, 0x71, 0x72, 0x73, 0x74, 0x75, 0x76, 0x7E, 0x7F, 0xD4, 0xD6, 0xD7, 0xDB, 0xDF, 0xEB, 0xEF,
                 0xF8, 0xF9, 0xFA, 0xFB, 0xFC, 0xFD, 0xFE, 0x68, 0x69, 0x6A, 0x63, 0x67, 0x6B, 0xD5, 0xE5, 0xE4, 0xF4,
                 0xF5, 0xDA, 0xDE, 0xEA, 0xEE, 0xE0, 0xE3, 0xF6, 0xEC, 0xED, 0xDC, 0xDD, 0xE8, 0xE9, 0xD8, 0xD9, 0xD1,
                 0xD2, 0xD3, 0xE1, 0xE2, 0xF1, 0xF2, 0xF3, 0x14, 0x15, 0x50, 0x12, 0x13, 0x16, 0x17, 0x2B, 0xE7,
                 0xF7 -> Sse.execute(this, b);
            case 0x77 -> Mmx.emms(this);
            case 0xC3 -> { // MOVNTI m32/m64, r: a plain store here
                decodeModrm();
                if (mod == 3 || p66 || rep != 0) {
                    throw GuestFault.of(GuestFault.UD);
                }
                int size = rexW ? 8 : 4;
                write(ea(), size, reg(regField, size));
                done();
            }
            case 0x06 -> SystemInstructions.clts(this);
            case 0x3A -> Sse4.execute0F3A(this, fetch8());
            case 0x02, 0x03 -> SelectorChecks.accessRightsOrLimit(this, b == 0x03);
            case 0x08, 0x09 -> SystemInstructions.invalidateCaches(this);
            case 0x51, 0x58, 0x59, 0x5C, 0x5D, 0x5E, 0x5F, 0x2E, 0x2F, 0xC2, 0x2A, 0x2C, 0x2D, 0x5A, 0x5B, 0xE6 ->
                    SseFloat.execute(this, b);
            case 0xD0, 0x7C, 0x7D -> Sse3.arithmetic(this, b);
            case 0xF0 -> Sse3.loadUnaligned(this);
            case 0x20, 0x22 -> SystemInstructions.movCr(this, b == 0x22);
            case 0x21, 0x23 -> SystemInstructions.movDr(this, b == 0x23);
            case 0x30 -> {
                requireCpl0();
                code.newEpoch(); // serializing, as CPUID
                long value = (r[2] << 32) | (r[0] & 0xFFFFFFFFL);
                if ((int) r[1] == Msrs.IA32_EFER) {
                    if (paging() && ((value ^ efer) & ControlBits.EFER_LME) != 0) {
                        throw GuestFault.withCode(GuestFault.GP, 0); // LME changes only with paging off
                    }
                    value = (value & ~ControlBits.EFER_LMA) | (efer & ControlBits.EFER_LMA); // LMA is the CPU's to set
                }
                CpuidAndMsrs.wrmsr(this, (int) r[1], value);
                done();
            }
            case 0x31 -> {
                requireTscAccess();
                long count = tsc.read();
                r[0] = count & 0xFFFFFFFFL;
                r[2] = count >>> 32;
                done();
            }
            case 0x33 -> {
                long v = CpuidAndMsrs.rdpmc(this, (int) r[1]);
                r[0] = v & 0xFFFFFFFFL;
                r[2] = v >>> 32;
                done();
            }
            case 0x32 -> {
                requireCpl0();
                long v = CpuidAndMsrs.rdmsr(this, (int) r[1]);
                r[0] = v & 0xFFFFFFFFL;
                r[2] = v >>> 32;
                done();
            }
            case 0x40, 0x41, 0x42, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49, 0x4A, 0x4B, 0x4C, 0x4D, 0x4E, 0x4F -> {
                decodeModrm();
                long v = readRm(opSize);
                if (condition(b & 0xF)) {
                    setReg(regField, opSize, v);
                } else if (opSize == 4) {
                    setReg(regField, 4, reg(regField, 4)); // a 32-bit CMOV zero-extends even when it does not move
                }
                done();
            }
            case 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8A, 0x8B, 0x8C, 0x8D, 0x8E, 0x8F ->
                    jumpIf(condition(b & 0xF), 4);
            case 0x90, 0x91, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9E, 0x9F -> {
                decodeModrm();
                writeRm(1, condition(b & 0xF) ? 1 : 0);
                done();
            }
            case 0xA2 -> {
                CpuidAndMsrs.cpuidInstruction(this);
                done();
            }
            case 0xAF -> {
                decodeModrm();
                Arithmetic.imul3(this, regField, reg(regField, opSize), readRm(opSize), opSize);
                done();
            }
            case 0xB6, 0xB7 -> {
                decodeModrm();
                setReg(regField, opSize, readRm(b == 0xB6 ? 1 : 2));
                done();
            }
            case 0xBE, 0xBF -> {
                decodeModrm();
                int size = b == 0xBE ? 1 : 2;
                int shift = 64 - 8 * size;
                setReg(regField, opSize, (readRm(size) << shift) >> shift);
                done();
            }
            case 0xC8, 0xC9, 0xCA, 0xCB, 0xCC, 0xCD, 0xCE, 0xCF -> {
                int n = (b & 7) | rexB;
                if (opSize == 8) {
                    r[n] = Long.reverseBytes(r[n]);
                } else {
                    setReg(n, 4, Integer.reverseBytes((int) r[n]));
                }
                done();
            }
            default -> throw GuestFault.of(GuestFault.UD);
        }
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


    static boolean canonical(long address) {
        return address == (address << 16) >> 16;
    }

}

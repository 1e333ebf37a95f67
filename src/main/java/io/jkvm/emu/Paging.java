package io.jkvm.emu;

import io.jkvm.linux.Mapping;
import io.jkvm.x86.ControlBits;
import io.jkvm.x86.CpuidTable;
import io.jkvm.x86.RamLayout;

/** Linear to physical: the software TLB, the page walk of every paging mode, protection keys, SMEP/SMAP and #PF. */
abstract sealed class Paging extends CpuState permits MemoryAccess {
    Paging(Mapping ram, RamLayout layout, CpuidTable cpuid, int mxcsrMask, IoPort io) {
        super(ram, layout, cpuid, mxcsrMask, io);
        int maxPhys = cpuid.find(0x8000_0008, 0).map(e -> e.eax() & 0xFF).filter(b -> b >= 32 && b <= 52).orElse(36);
        this.reservedAddressBits = ((1L << 52) - 1) & ~((1L << maxPhys) - 1);
    }

    /** A read of guest-physical memory (RAM or MMIO), as the page walk reads its entries. */
    abstract long physRead(long physical, int size);

    /** A write of guest-physical memory, as the page walk sets accessed and dirty bits. */
    abstract void physWrite(long physical, int size, long v);

    private static final int TLB_SIZE = 4096;
    /** Direct pages: one per TLB slot. */
    static final int DIRECT_PAGES = TLB_SIZE;
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
        flushTlbWithGlobals();
    }

    /** WRMSR IA32_PKRS: the same. */
    void setPkrs(int value) {
        pkrs = value;
        flushTlbWithGlobals();
    }

    /**
     * The generation's bits in a tag: above a linear page shifted left by one with the valid bit (bits 0-52), below
     * {@link #GLOBAL_GENERATION}. A flush moves to the next generation, so no tag of the last one matches: 255 flushes
     * in 256 touch no entry (a guest's address-space switches flush at each).
     */
    private static final int GENERATION_SHIFT = 53;
    private static final long GENERATIONS = 0xFFL << GENERATION_SHIFT;
    /**
     * Set in the generation of global pages (bit 61, below {@link #DIRECT_USER}): a global page's translation (its leaf
     * with G under CR4.PGE) is tagged with {@link #globalGeneration}, which a CR3 write leaves, as the SDM's TLB keeps
     * global entries across it; a kernel's own pages are then not walked again after each switch of address space.
     */
    static final long GLOBAL_GENERATION = 1L << 61;
    /** The generation of global pages' tags: {@link #GLOBAL_GENERATION} and a count of the flushes that drop them. */
    long globalGeneration = GLOBAL_GENERATION;

    /** The TLB tag of a linear page in this generation: the page shifted left by one, the valid bit, the generation. */
    private long tlbTagOf(long page) {
        return (page << 1) | 1 | tlbGeneration;
    }

    /** The TLB tag of a global linear page in this generation of global pages. */
    private long globalTagOf(long page) {
        return (page << 1) | 1 | globalGeneration;
    }

    /** Whether the TLB holds {@code page}'s translation, global or not, in the current generations. */
    private boolean tlbHolds(int slot, long page) {
        long t = tlbTag[slot];
        return t == tlbTagOf(page) || t == globalTagOf(page);
    }

    /** Whether the TLB holds the translation of the linear page at {@code linearPage} as a global one. */
    final boolean globalTranslation(long linearPage) {
        long page = linearPage >>> 12;
        return paging() && tlbTag[(int) (page & (TLB_SIZE - 1))] == globalTagOf(page);
    }

    /** A flush of the non-global translations (a CR3 write, INVPCID of one or all contexts but globals). */
    void flushTlb() {
        long next = (tlbGeneration + (1L << GENERATION_SHIFT)) & GENERATIONS;
        if (next == 0) { // every generation used: tags of the one coming round again may still be there
            forgetEveryTranslation();
        }
        tlbGeneration = next;
        updateDirectSalt();
        fetchPage = -1;
    }

    /** A flush of every translation, global ones too (CR0, CR4, EFER, INVPCID of all with globals, a state load). */
    void flushTlbWithGlobals() {
        long next = ((globalGeneration + (1L << GENERATION_SHIFT)) & GENERATIONS) | GLOBAL_GENERATION;
        if (next == GLOBAL_GENERATION) { // every generation of global pages used
            forgetEveryTranslation();
        }
        globalGeneration = next;
        flushTlb();
    }

    private void forgetEveryTranslation() {
        java.util.Arrays.fill(tlbTag, 0);
        dropDirect(READ_TAG);
        dropDirect(WRITE_TAG);
        code.forgetLinear();
    }

    void invlpg(long linear) {
        int i = (int) ((linear >>> 12) & (TLB_SIZE - 1));
        tlbTag[i] = 0;
        direct[4 * i + READ_TAG] = -1;
        direct[4 * i + WRITE_TAG] = -1;
        fetchPage = -1;
        code.forgetLinearPage(linear);
    }

    // ---- direct pages: the data accesses that need no check beyond the tag ------------------------------------

    /**
     * RAM pages a read (a write) at this CPL may reach with nothing left to check, by the TLB's slot: four longs a
     * slot, the read page's tag and host address, then the write page's ({@link #READ_TAG} and on). A tag is the
     * linear page (with {@link #DIRECT_USER} at CPL 3; -1: none), the host address that of the physical page
     * ({@link Mapping#pageAddress}) shifted left by two: read back with {@code >>> 2}, it is below 2^62 to the JIT,
     * which then drops FFM's bounds check of every access (with no mask constant taking a register in the loops).
     * One slot's four share a cache line: an access touches one line, not one in each of two arrays. Filled by an
     * access the full path allowed, dropped with the TLB; a write page also has no decoded code and no dirty log to
     * mark.
     */
    final long[] direct = new long[4 * TLB_SIZE];
    static final int READ_TAG = 0, READ_PAGE = 1, WRITE_TAG = 2, WRITE_PAGE = 3;

    {
        dropDirect(READ_TAG);
        dropDirect(WRITE_TAG);
    }

    /** Every slot's tag at {@code which} (READ_TAG or WRITE_TAG) cleared. */
    private void dropDirect(int which) {
        for (int i = which; i < direct.length; i += 4) {
            direct[i] = -1;
        }
    }

    /**
     * The page of {@code linear}, just translated for {@code access} to RAM at {@code physical}, as a direct page,
     * unless a later access could still fault or be refused there without a TLB change: alignment checking at CPL 3,
     * SMAP (it depends on EFLAGS.AC), a descriptor-table access, or a page the TLB does not hold.
     */
    final void fillDirect(long linear, long physical, int access) {
        if (implicitAccess || alignmentChecked() || !isRam(physical & ~0xFFFL, 0x1000)) {
            return; // the last also keeps the host address inside the mapping
        }
        long page = linear >>> 12;
        int i = (int) (page & (TLB_SIZE - 1));
        if (paging()) {
            int p = tlbPerm[i];
            if (!tlbHolds(i, page) || !tlbAllows(p, access) || guardedUserPage(p)) {
                return;
            }
        }
        long host = ram.pageAddress(physical & ~0xFFFL);
        if (host >>> 61 != 0) {
            return; // not held shifted by two (Linux maps below 2^47 unless asked for more, even with 5-level paging)
        }
        int slot = 4 * i + (access == ACC_WRITE ? WRITE_TAG : READ_TAG);
        direct[slot] = page | directSalt;
        direct[slot + 1] = host << 2;
    }

    /** Write pages go when stores must be seen: the dirty log starts. */
    final void dropDirectWrites() {
        dropDirect(WRITE_TAG);
    }

    /** The direct stores to the physical page at {@code physicalPage} go: it got decoded code. */
    final void dropDirectWrites(long physicalPage) {
        long host = ram.pageAddress(physicalPage) << 2;
        for (int i = 0; i < direct.length; i += 4) {
            if (direct[i + WRITE_PAGE] == host) {
                direct[i + WRITE_TAG] = -1;
            }
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
        if (tlbHolds(i, page)) {
            int p = tlbPerm[i];
            if (tlbAllows(p, access) && (!guardedUserPage(p) || !supervisorBlocked(access))) {
                return tlbPhys[i] | (linear & 0xFFF);
            }
        }
        return walk(linear, access, i);
    }

    /** Whether TLB permissions {@code p} allow {@code access} at this CPL, SMEP and SMAP aside. */
    private boolean tlbAllows(int p, int access) {
        return (access != ACC_WRITE || (p & 1) != 0) && (cpl != 3 || (p & 2) != 0) && (access != ACC_EXEC || (p & 4) != 0);
    }

    /** Whether a page of TLB permissions {@code p} is a user page seen from CPL 0-2 under SMEP or SMAP. */
    private boolean guardedUserPage(int p) {
        return cpl != 3 && (p & 2) != 0 && (cr4 & SUPERVISOR_GUARDS) != 0;
    }

    /** PAE and IA-32e entries' physical-address bits from MAXPHYADDR (CPUID 0x80000008 EAX[7:0], else 36) to 51: reserved. */
    final long reservedAddressBits;

    /**
     * Walks the page tables of the paging mode CR4.PAE, CR4.LA57 and EFER.LMA select: 5-level or 4-level (IA-32e),
     * PAE (3 levels, the first the four PDPTEs, which carry no R/W or U/S bits), or 32-bit paging (2 levels of 4-byte
     * entries, 4 MiB pages with CR4.PSE and bits 39:32 of their frame in PDE bits 20:13).
     */
    /** The entries a walk read and their addresses, for its accessed and dirty bits: a walk's own, kept off the heap's churn. */
    private final long[] walkEntries = new long[5], walkAddresses = new long[5];

    private long walk(long linear, int access, int slot) {
        boolean ia32e = longMode();
        if (ia32e && !canonical(linear)) {
            throw GuestFault.withCode(stackAddressed ? GuestFault.SS : GuestFault.GP, 0); // non-canonical
        }
        boolean pae = ia32e || (cr4 & ControlBits.CR4_PAE) != 0;
        boolean user = cpl == 3;
        boolean nxe = pae && (efer & ControlBits.EFER_NXE) != 0;
        int top = ia32e ? (cr4 & ControlBits.CR4_LA57) != 0 ? 5 : 4 : pae ? 3 : 2;
        int entrySize = pae ? 8 : 4;
        long table = ia32e ? cr3 & ControlBits.PTE_ADDRESS : pae ? cr3 & 0xFFFFFFE0L : cr3 & 0xFFFFF000L;
        boolean writable = true, userOk = true, exec = true;
        long[] entries = walkEntries, addrs = walkAddresses;
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
            if (pae && ((e & reservedAddressBits) != 0 || (ia32e && level >= 4 && (e & ControlBits.PTE_LARGE) != 0))) {
                throw reservedBitFault(linear, access); // address bits at or above MAXPHYADDR, or PS in a PML4E or PML5E
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
            boolean global = (cr4 & ControlBits.CR4_PGE) != 0 && (entries[levels - 1] & ControlBits.PTE_GLOBAL) != 0;
            tlbTag[slot] = global ? globalTagOf(linear >>> 12) : tlbTagOf(linear >>> 12);
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
    boolean implicitAccess;

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

}

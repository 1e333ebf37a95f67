package io.jkvm.emu;

import io.jkvm.linux.HostCpu;
import io.jkvm.linux.Mapping;
import io.jkvm.x86.ControlBits;
import io.jkvm.x86.CpuModel;
import io.jkvm.x86.CpuidTable;
import io.jkvm.x86.RamLayout;
import io.jkvm.x86.VcpuExit;

/**
 * Guest memory as instructions reach it: RAM and MMIO at physical addresses (each MMIO access reaching its device
 * once, replayed across a restart), the dirty log, locked read-modify-writes, alignment and data breakpoints.
 */
abstract sealed class MemoryAccess extends Paging permits InstructionFetch {
    MemoryAccess(Mapping ram, RamLayout layout, CpuidTable cpuid, int mxcsrMask, IoPort io) {
        super(ram, layout, cpuid, mxcsrMask, io);
    }

    /** A LOCK prefix (or XCHG with memory) on the instruction being run. */
    boolean lock;

    /** Set by a store that dropped decoded code or went to MMIO: the block being run stops after this instruction. */
    boolean endBlock;
    /** The physical page whose decoded blocks {@link BlockExecution#fetchBlocks} holds (-1: none looked up). */
    long fetchBlocksBase = -1;

    @Override
    long physRead(long physical, int size) {
        return isRam(physical, size) ? ram.get(physical, size) : mmioRead(physical, size);
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
    void mmioRetired() {
        if (mmioCount != 0) {
            java.util.Arrays.fill(mmioValue, 0, mmioCount, null);
            mmioCount = 0;
        }
        mmioReplayed = 0;
    }

    /** The dirty log stores mark while a migration tracks them; null otherwise (set while the vCPU is paused). */
    DirtyPages dirty;

    @Override
    void physWrite(long physical, int size, long v) {
        if (isRam(physical, size)) {
            stored(physical, size);
            ram.put(physical, size, v);
            storedOverOthersCode(physical, size);
            return;
        }
        mmioWrite(physical, size, v);
    }

    /**
     * Whether stores to the page of {@code physical} (in RAM) may go the direct way: no dirty log to mark, and no
     * decoded code there, this core's or another's, to check them against.
     */
    private boolean directWritable(long physical) {
        return dirty == null && !code.holdsCode(physical) && !othersHoldCode(physical);
    }

    /** Whether another core over this RAM holds decoded code in the page of {@code physical}. */
    abstract boolean othersHoldCode(long physical);

    /** A store of {@code size} bytes at {@code physical} in RAM was made: the others learn of it if over their code. */
    abstract void storedOverOthersCode(long physical, int size);

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
     * words or pages, CMPXCHG16B's two words) run exclusive ({@link SplitLock}), one at a time over the guest RAM; the
     * others run while this vCPU's mark is busy (its run loop holds it). So every locked instruction is atomic against
     * every other, though a split one is not against another vCPU's plain store to the same bytes meanwhile
     * (docs/limits.md).
     */
    final SplitLock.Mark lockMark = SplitLock.markFor(ram);
    /** This instruction marked {@link #lockMark} busy itself (no run loop held it), from its read to its store. */
    boolean holdingShared;
    /** The locked instruction's operand: the RAM word it lies in (-1: not read yet) and the word as read. */
    long lockedWordAt = -1, lockedWord;
    boolean underSplitLock;

    /** Ends a locked instruction's attempt: another vCPU changed the word, or it must run exclusive. */
    static final class LockRetry extends RuntimeException {
        final boolean wider;

        LockRetry(boolean wider) {
            super(null, null, false, false);
            this.wider = wider;
        }
    }

    static final LockRetry CONTENDED = new LockRetry(false), WIDER = new LockRetry(true);

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
        if (!isRam(physical, size)) {
            return plainRead(linear, size); // a device: its own business
        }
        if ((physical & 7) + size > 8) {
            throw WIDER;
        }
        if (!holdingShared) {
            holdingShared = SplitLock.enterOne(lockMark);
        }
        lockedWordAt = physical & ~7L;
        lockedWord = ram.getLongVolatile(lockedWordAt);
        return (lockedWord >>> ((physical & 7) * 8)) & mask(size);
    }

    /** The store of a locked read-modify-write: lands only if the word still holds what was read, else the instruction runs again. */
    private void lockedWrite(long linear, int size, long v) {
        if (underSplitLock || lockedWordAt < 0) {
            plainWrite(linear, size, v); // exclusive, or to a device
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
        storedOverOthersCode(physical, size);
        if (directWritable(physical)) {
            fillDirect(linear, physical, ACC_WRITE); // a word only locked instructions store to is direct for them too
        }
    }

    /** The operands {@link #hostCompareExchange16} hands the host: RDX:RAX, then RCX:RBX. */
    private final long[] cmpxchg16bValues = new long[4];

    /**
     * LOCK CMPXCHG16B on the 16 aligned bytes at {@code linear} in RAM by the host's own instruction, atomic against
     * every other vCPU's access as on hardware (Java has no 16-byte compare-and-swap): RDX:RAX compared, RCX:RBX
     * stored, else RDX:RAX loaded; ZF says which. The page is translated for a write first (a failed compare writes
     * the destination back, SDM), so a fault leaves everything as it was. False, with nothing done, when the bytes
     * are a device's, the host lacks the instruction, or the instruction runs exclusive already ({@link SplitLock}):
     * the caller's reads and writes then do it.
     */
    boolean hostCompareExchange16(long linear) {
        if (underSplitLock || !HostCpu.hasCmpxchg16b()) {
            return false;
        }
        long physical = translate(linear, ACC_WRITE);
        if (!isRam(physical, 16)) {
            return false;
        }
        if (watchingData && !implicitAccess) {
            dataBreakpointHits |= Breakpoints.dataHits(core(), linear, 16, true); // a read-write watch, or a write one
        }
        if (!holdingShared) {
            holdingShared = SplitLock.enterOne(lockMark); // no exclusive instruction runs meanwhile
        }
        long[] v = cmpxchg16bValues;
        v[0] = r[0];
        v[1] = r[2];
        v[2] = r[3];
        v[3] = r[1];
        boolean swapped = ram.compareAndExchange16(physical, v);
        stored(physical, 16);
        storedOverOthersCode(physical, 16);
        if (swapped) {
            modifyArith(ZF, ZF);
        } else {
            r[0] = v[0];
            r[2] = v[1];
            modifyArith(ZF, 0);
        }
        return true;
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
    int dataBreakpointHits;

    /** The instruction being interpreted watches for data breakpoints (DR7 enables one). */
    boolean watchingData;
    /** LOCK or a watch: read and write leave their plain path, which decoded blocks and most instructions take. */
    boolean slowAccess;

    /** A LOCK prefix, or XCHG with memory: this instruction's read-modify-write is atomic. */
    void lockPrefix() {
        lock = true;
        slowAccess = true;
    }

    /** How many runs of REP STOS or REP MOVS elements were stored at once, through direct pages (for the tests). */
    long bulkStringRuns;

    /**
     * The host address of {@code linear} when a read (a write) from there to its page's end needs nothing beyond the
     * direct-page check ({@link #fillDirect}); -1 when the page is not direct now, or the instruction watches its
     * accesses. A hit is never negative (below 2^62 + 4096): a caller's test of the sign folds away on the hit's path
     * in C2, so the miss is one path, where what only it reads (a pending flag record's bits) is computed.
     */
    final long directReadAddress(long linear) {
        return slowAccess ? -1 : taggedReadAddress(linear, linear >>> 12);
    }

    final long directWriteAddress(long linear) {
        return slowAccess ? -1 : taggedWriteAddress(linear, linear >>> 12);
    }

    /**
     * The host address of {@code linear} for a string instruction's run of reads from there to its page's end: its
     * direct page's, or else that of a page the full path's checks pass for once (RAM, translated for a read at this
     * CPL: a kernel's copy from a user page under SMAP, which is never direct, as each access checks EFLAGS.AC); -1 when
     * the instruction watches its accesses, checks alignment, or the page is a device's. A fault is the first
     * element's, as the full path would raise it.
     */
    final long runReadAddress(long linear) {
        long host = directReadAddress(linear);
        if (host >= 0 || slowAccess || alignmentChecked()) {
            return host;
        }
        return hostInRamPage(translate(linear, ACC_READ));
    }

    /**
     * As {@link #runReadAddress}, for a run of stores: the page translated for a write (its dirty bit set, as the first
     * element's store would), and -1 also while its stores must be seen one by one ({@link #directWritable}: a dirty
     * log, decoded code there).
     */
    final long runWriteAddress(long linear) {
        long host = directWriteAddress(linear);
        if (host >= 0 || slowAccess || alignmentChecked()) {
            return host;
        }
        long physical = translate(linear, ACC_WRITE);
        long inRam = hostInRamPage(physical);
        return inRam >= 0 && directWritable(physical) ? inRam : -1; // RAM first: the code check indexes RAM's pages
    }

    /** The host address of {@code physical} when its whole page is RAM, else -1 (a device's). */
    private long hostInRamPage(long physical) {
        long page = physical & ~0xFFFL;
        return isRam(page, 0x1000) ? ram.pageAddress(page) + (physical & 0xFFF) : -1;
    }

    /** As {@link #directReadAddress(long)}, for {@code size} bytes: -1 also when they would cross the page's end. */
    final long directReadAddress(long linear, int size) {
        return slowAccess ? -1 : compiledReadAddress(linear, size);
    }

    final long directWriteAddress(long linear, int size) {
        return slowAccess ? -1 : compiledWriteAddress(linear, size);
    }

    // The blocks' look-ups, decoded and compiled: the tag alone. slowAccess is never set where they run: blocks run
    // only with no breakpoint armed (blocksRun), and a locked instruction the interpreter runs inside a block sets it
    // and clears it again before the block goes on (executeLocked), so the test the interpreter's look-up makes is
    // always false there, and a load and a branch at every access.

    /**
     * As {@link #directReadAddress(long, int)}, for blocks: nothing else is left to check there. The key is the page of
     * the access's last byte: past its page's end that is the next page, whose tag is never in the first page's slot
     * (the pages of one slot lie the TLB's size apart), so it misses with no test or branch of its own (one the JIT
     * would compile away until the first such access, and deoptimize at it).
     */
    final long compiledReadAddress(long linear, int size) {
        return taggedReadAddress(linear, (linear + size - 1) >>> 12);
    }

    /** As {@link #directWriteAddress(long, int)}, for blocks. */
    final long compiledWriteAddress(long linear, int size) {
        return taggedWriteAddress(linear, (linear + size - 1) >>> 12);
    }

    /**
     * The host address of {@code linear} when its direct read entry's tag is {@code lastPage}'s (the linear page of
     * the access's last byte, which must be linear's own for a hit), else -1. The entry holds the page's address
     * shifted left by two ({@link Paging#direct}): the shift back and the add tell C2 the sum is in [0, 2^62 + 4095].
     */
    private long taggedReadAddress(long linear, long lastPage) {
        long[] slots = direct;
        int mask = slots.length - 1, i = (int) (linear >>> 12) << 2 & mask; // the array's length as the mask: no bounds checks
        return slots[i] == (lastPage | directSalt) ? (slots[i + READ_PAGE & mask] >>> 2) + (linear & 0xFFF) : -1;
    }

    private long taggedWriteAddress(long linear, long lastPage) {
        long[] slots = direct;
        int mask = slots.length - 1, i = (int) (linear >>> 12) << 2 & mask;
        return slots[i + WRITE_TAG & mask] == (lastPage | directSalt)
                ? (slots[i + WRITE_PAGE & mask] >>> 2) + (linear & 0xFFF) : -1;
    }

    long read(long linear, int size) {
        long host = directReadAddress(linear, size);
        if (host >= 0) {
            return ram.getAt(host, size);
        }
        return slowAccess ? slowRead(linear, size) : plainRead(linear, size);
    }

    // The accesses of compiled blocks (and of the decoded tier's 4- and 8-byte loads and stores), one per size: a
    // direct page's bytes at once, anything else through read or write. Each is small, so the JIT inlines it into
    // every compiled method; read and write themselves, compiled on their own for the other callers, grow past the
    // size at which C2 inlines an already compiled method.
    // What only the full path needs is done on it, so that the direct path (constants after inlining) has nothing of
    // it: {@code stack} is stackAddressed (a non-canonical address's #SS or #GP), {@code last} says the access is its
    // instruction's only one, whose MMIO log is then retired here; a write returns whether the block may go on (false
    // when the store went to a device or dropped decoded code, endBlock).

    final long read8(long linear, boolean stack, boolean last) {
        long host = compiledReadAddress(linear, 1);
        return host >= 0 ? ram.byteAt(host) : compiledRead(linear, 1, stack, last);
    }

    final long read16(long linear, boolean stack, boolean last) {
        long host = compiledReadAddress(linear, 2);
        return host >= 0 ? ram.shortAt(host) : compiledRead(linear, 2, stack, last);
    }

    final long read32(long linear, boolean stack, boolean last) {
        long host = compiledReadAddress(linear, 4);
        return host >= 0 ? ram.intAt(host) : compiledRead(linear, 4, stack, last);
    }

    final long read64(long linear, boolean stack, boolean last) {
        long host = compiledReadAddress(linear, 8);
        return host >= 0 ? ram.longAt(host) : compiledRead(linear, 8, stack, last);
    }

    final boolean write8(long linear, long v, boolean stack, boolean last) {
        long host = compiledWriteAddress(linear, 1);
        if (host >= 0) {
            ram.putByteAt(host, v);
            return true;
        }
        return compiledWrite(linear, 1, v, stack, last);
    }

    final boolean write16(long linear, long v, boolean stack, boolean last) {
        long host = compiledWriteAddress(linear, 2);
        if (host >= 0) {
            ram.putShortAt(host, v);
            return true;
        }
        return compiledWrite(linear, 2, v, stack, last);
    }

    final boolean write32(long linear, long v, boolean stack, boolean last) {
        long host = compiledWriteAddress(linear, 4);
        if (host >= 0) {
            ram.putIntAt(host, v);
            return true;
        }
        return compiledWrite(linear, 4, v, stack, last);
    }

    final boolean write64(long linear, long v, boolean stack, boolean last) {
        long host = compiledWriteAddress(linear, 8);
        if (host >= 0) {
            ram.putLongAt(host, v);
            return true;
        }
        return compiledWrite(linear, 8, v, stack, last);
    }

    // A stack run's accesses (StackRuns): runHost is the host address of runLinear, the first byte of the span the run
    // reaches, when one look-up found that whole span on one direct page; -1 when not, and each access looks itself up.
    // The offset is masked to the page (it is below the span's length already), so C2 knows the sum's range.

    final long stackRead64(long linear, long runHost, long runLinear) {
        long host = runHost >= 0 ? runHost + (linear - runLinear & 0xFFF) : compiledReadAddress(linear, 8);
        return host >= 0 ? ram.longAt(host) : compiledRead(linear, 8, true, true);
    }

    final boolean stackWrite64(long linear, long v, long runHost, long runLinear) {
        long host = runHost >= 0 ? runHost + (linear - runLinear & 0xFFF) : compiledWriteAddress(linear, 8);
        if (host >= 0) {
            ram.putLongAt(host, v);
            return true;
        }
        return compiledWrite(linear, 8, v, true, true);
    }

    // Compiled accesses at a host address looked up before them (-1 when none was found; their full paths then):
    // a read-modify-write's read and store take the one its instruction looked up in the direct write entries
    // ({@link #directWriteAddress(long, int)}), neither its instruction's only access, so the full paths leave the MMIO
    // log to the check after it; an address run's (AddressRuns) take their offsets in the run's look-up, each a load's
    // or a store's only access ({@code last}) or a read-modify-write's.

    final long readAt8(long linear, long host, boolean stack, boolean last) {
        return host >= 0 ? ram.byteAt(host) : compiledRead(linear, 1, stack, last);
    }

    final long readAt16(long linear, long host, boolean stack, boolean last) {
        return host >= 0 ? ram.shortAt(host) : compiledRead(linear, 2, stack, last);
    }

    final long readAt32(long linear, long host, boolean stack, boolean last) {
        return host >= 0 ? ram.intAt(host) : compiledRead(linear, 4, stack, last);
    }

    final long readAt64(long linear, long host, boolean stack, boolean last) {
        return host >= 0 ? ram.longAt(host) : compiledRead(linear, 8, stack, last);
    }

    final boolean writeAt8(long linear, long v, long host, boolean stack, boolean last) {
        if (host >= 0) {
            ram.putByteAt(host, v);
            return true;
        }
        return compiledWrite(linear, 1, v, stack, last);
    }

    final boolean writeAt16(long linear, long v, long host, boolean stack, boolean last) {
        if (host >= 0) {
            ram.putShortAt(host, v);
            return true;
        }
        return compiledWrite(linear, 2, v, stack, last);
    }

    final boolean writeAt32(long linear, long v, long host, boolean stack, boolean last) {
        if (host >= 0) {
            ram.putIntAt(host, v);
            return true;
        }
        return compiledWrite(linear, 4, v, stack, last);
    }

    final boolean writeAt64(long linear, long v, long host, boolean stack, boolean last) {
        if (host >= 0) {
            ram.putLongAt(host, v);
            return true;
        }
        return compiledWrite(linear, 8, v, stack, last);
    }

    /** A compiled read the direct path did not take (see above). */
    private long compiledRead(long linear, int size, boolean stack, boolean last) {
        stackAddressed = stack;
        long v = read(linear, size);
        if (last) {
            mmioRetired();
        }
        return v;
    }

    /** A compiled write the direct path did not take: whether the block may go on (see above). */
    private boolean compiledWrite(long linear, int size, long v, boolean stack, boolean last) {
        stackAddressed = stack;
        write(linear, size, v);
        if (last) {
            mmioRetired();
        }
        return !endBlock;
    }

    /** A non-canonical stack address is #SS(0), not the #GP(0) of other accesses. */
    final void requireCanonicalStack(long address) {
        if (!canonical(address)) {
            throw GuestFault.withCode(GuestFault.SS, 0);
        }
    }

    private long slowRead(long linear, int size) {
        if (watchingData && !implicitAccess) {
            dataBreakpointHits |= Breakpoints.dataHits(core(), linear, size, false);
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
        long physical = translate(linear, ACC_READ);
        if (isRam(physical, size)) {
            fillDirect(linear, physical, ACC_READ);
        }
        return physRead(physical, size);
    }

    /** Checks that {@code size} bytes at {@code linear} can be stored, before a store that must not be half made. */
    void checkWritable(long linear, int size) {
        translate(linear, ACC_WRITE);
        translate(linear + size - 1, ACC_WRITE);
    }

    void write(long linear, int size, long v) {
        long host = directWriteAddress(linear, size);
        if (host >= 0) {
            ram.putAt(host, size, v);
            return;
        }
        if (!slowAccess) {
            plainWrite(linear, size, v);
            return;
        }
        if (watchingData && !implicitAccess) {
            dataBreakpointHits |= Breakpoints.dataHits(core(), linear, size, true);
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
        long physical = translate(linear, ACC_WRITE);
        if (isRam(physical, size) && directWritable(physical)) {
            fillDirect(linear, physical, ACC_WRITE);
        }
        physWrite(physical, size, v);
    }

}

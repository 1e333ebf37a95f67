package io.jkvm.emu;

import io.jkvm.linux.Mapping;
import io.jkvm.x86.CpuidTable;
import io.jkvm.x86.RamLayout;

/** The fast path: runs decoded blocks ({@link BlockDecoder}) from the code cache, falling back to the interpreter. */
abstract sealed class BlockExecution extends StepExecution permits RegionCompilation {
    BlockExecution(Mapping ram, RamLayout layout, CpuidTable cpuid, int mxcsrMask, IoPort io) {
        super(ram, layout, cpuid, mxcsrMask, io);
    }

    // ---- the fast path: decoded blocks -------------------------------------------------------------------------

    /** The decoded blocks of the physical page at {@link #fetchBlocksBase} (-1: none looked up). */
    private PageBlocks fetchBlocks;
    private int fetchBlocksFlushes;

    /**
     * How many instructions one {@link #runBlock()} may run in blocks chained one after the other: also the most a
     * compiled loop runs before it leaves its method and a raised interrupt line is seen.
     */
    static final int CHAIN_LIMIT = 4096;

    /**
     * Runs the decoded block at RIP and the blocks it branches or falls to, while nothing needs the boundary between
     * them (an interrupt due, an exit, a shadow, single-stepping); then the instruction the last block ends before if
     * that one needs the interpreter. Returns how many instructions it ran or faulted on (at least one). Single-stepping
     * and code outside RAM go through {@link #step()}, one instruction at a time.
     */
    int runBlock() {
        int total = 0;
        DecodedBlock last = null; // the block just run, and where it starts: a loop within it runs it again at once
        long lastRip = -1;
        while (true) {
            // After the first block only the interrupt and NMI lines can have changed what mayChain reads: decoded
            // forms, compiled or not, never change TF, RF, the shadow, the mode or the breakpoints, nor IF but to
            // clear it (CLI: no interrupt is due then that was not before), and a store that may reach a device, a
            // fault or an exit ends the chain.
            if ((total == 0 || interruptLine || nmiPending) && !mayChain()) {
                if (total > 0) {
                    return total; // the caller comes back here at once, through the checks it makes between blocks
                }
                step(); // single-stepping, breakpoints, an external interrupt to take here, or 16- and 32-bit code
                return 1;
            }
            // nothing between two blocks of one chain drops a block or changes the epoch or RIP's page: those end it
            DecodedBlock block = rip == lastRip ? last : last == null ? blockAtRip() : successor(last);
            if (block == null) {
                step(); // the interpreter's fetch raises the fault, or says there is no RAM
                return total + 1;
            }
            last = block;
            lastRip = rip;
            int ran = runDecoded(block);
            if (ran < 0) {
                return total - ran; // a fault, an exit or a shadow: back to the caller
            }
            total += ran;
            if (!branched && block.endsBeforeSlow) {
                if (!mayChain() || !runCrossing()) {
                    step(block.slow);
                }
                return total + 1;
            }
            if (total >= CHAIN_LIMIT) {
                return total;
            }
        }
    }

    /**
     * Whether the next block may run at once, with no boundary between: not single-stepping or resuming past a
     * breakpoint, no interrupt to take, and in 64-bit code.
     */
    boolean mayChain() {
        return (flagBits & (TF | Breakpoints.RF)) == 0 && !interruptDue() && blocksRun;
    }

    /** How many blocks {@link #successor} found by their link (for the tests). */
    long chainedBlocks;

    /**
     * The block at RIP after {@code last} ran: one of those that came after it the last times it left the same way (by
     * a branch, which may be either of the last two blocks it branched to, or not), if that is still the block at
     * RIP's address in RIP's page, with no look-up; in another page, the one it went to there last, if that is still
     * the block at RIP under this translation; else {@link #blockAtRip()}'s, kept for the next time.
     */
    private DecodedBlock successor(DecodedBlock last) {
        if ((rip & ~0xFFFL) != fetchPage) {
            DecodedBlock across = code.crossLink(last, rip, directSalt);
            if (across == null) {
                across = code.crossLink(last, rip, globalCodeSalt());
            }
            if (across != null) { // as a hit of the look-up by linear address
                return fetchedFrom(across);
            }
        } else {
            long physical = fetchPhysBase + (rip & 0xFFF);
            DecodedBlock next = !branched ? last.fellTo
                    : last.branchedTo != null && last.branchedTo.physical == physical ? last.branchedTo
                    : last.branchedBefore;
            if (next != null && code.chainable(next, physical) && tailMaps(next)) {
                chainedBlocks++;
                return next;
            }
        }
        DecodedBlock next = blockAtRip();
        if (next == null) {
            return null;
        }
        if ((next.physical ^ last.physical) >>> 12 != 0) {
            if (fetchBlocksFlushes == code.flushes) { // as blockAtRip keeps a block by linear address: one in an index
                code.linkAcross(last, rip, codeSalt(next), next);
            }
            return next;
        }
        if (!branched) {
            last.fellTo = next;
        } else if (last.branchedTo != next) {
            last.branchedBefore = last.branchedTo; // a block left by its Jccs and its last branch has several targets
            last.branchedTo = next;
        }
        return next;
    }

    /**
     * The salt {@code b}, at RIP, is found under by its linear address: that of global pages when RIP's page translates
     * as one in the TLB and the block ends in it (so the look-up outlives CR3 writes, as the translation does), else
     * the current translation's ({@link #directSalt}).
     */
    private long codeSalt(DecodedBlock b) {
        return b.tailPhysical < 0 && globalTranslation(rip & ~0xFFFL) ? globalCodeSalt() : directSalt;
    }

    /** The salt of blocks on global pages at this CPL's class (CPL 3 apart, as direct pages keep it). */
    private long globalCodeSalt() {
        return globalGeneration | (cpl == 3 ? DIRECT_USER : 0);
    }

    /** The decoded block at RIP, decoded now if it is not cached or no longer matches memory; null outside RAM or on a fault. */
    private DecodedBlock blockAtRip() {
        long page = rip & ~0xFFFL;
        if (page != fetchPage) {
            DecodedBlock known = code.atLinear(rip, directSalt);
            if (known == null) {
                known = code.atLinear(rip, globalCodeSalt());
            }
            if (known != null) { // found here before, under this translation
                return fetchedFrom(known);
            }
            long phys;
            try {
                phys = translate(page, ACC_EXEC);
            } catch (GuestFault f) {
                return null;
            }
            if (!isRam(phys, 0x1000)) {
                return null;
            }
            fetchPhysBase = phys;
            fetchPage = page;
        }
        PageBlocks blocks = fetchedPageBlocks();
        long physical = fetchPhysBase + (rip & 0xFFF);
        DecodedBlock block = blocks.get((int) (rip & 0xFFF));
        if (block == null || !code.current(block, physical) || !tailMaps(block)) {
            block = code.decode(physical, blocks, this::nextPagePhysical);
            block.decodedAt = instructions;
        }
        if (fetchBlocksFlushes == code.flushes) { // else the cache was full: the block is in no index, no store sees it
            code.atLinear(rip, codeSalt(block), block);
        }
        return block;
    }

    /**
     * Whether {@code b}, found at RIP by its physical address, has no tail or its tail's page is still the page after
     * RIP's (a block found by its linear address is, while the translation's salt holds: INVLPG and a TLB flush
     * forget those look-ups).
     */
    private boolean tailMaps(DecodedBlock b) {
        return b.tailPhysical < 0 || nextPagePhysical() == b.tailPhysical;
    }

    /**
     * The physical base of the page after the fetched one, where a block may go on past its page's end: -1 when it is
     * not RAM or its translation faults (no fault is raised: the block ends at its page's end, and the interpreter's
     * fetch faults if it gets there).
     */
    private long nextPagePhysical() {
        return physicalPage(fetchPage + 0x1000);
    }

    /**
     * The physical base of the page of {@code linear} as code is fetched from it now: -1 when it is not RAM or its
     * translation faults (no fault is raised).
     */
    final long physicalPage(long linear) {
        long cr2Before = cr2, physical;
        if (!canonical(linear)) {
            return -1;
        }
        try {
            physical = translate(linear & ~0xFFFL, ACC_EXEC);
        } catch (GuestFault f) {
            cr2 = cr2Before;
            return -1;
        }
        return isRam(physical, 0x1000) ? physical : -1;
    }

    /** {@code b}, found at RIP under this translation: the page it was decoded in is RIP's, the fetched page now. */
    private DecodedBlock fetchedFrom(DecodedBlock b) {
        fetchPage = rip & ~0xFFFL;
        fetchPhysBase = b.physical & ~0xFFFL;
        return b;
    }

    /** The decoded blocks of the fetched page, by offset. */
    final PageBlocks fetchedPageBlocks() {
        if (fetchBlocksBase != fetchPhysBase || fetchBlocksFlushes != code.flushes) {
            fetchBlocks = code.page(fetchPhysBase);
            fetchBlocksBase = fetchPhysBase;
            fetchBlocksFlushes = code.flushes;
        }
        return fetchBlocks;
    }

    // ---- an instruction across a page end: no decoded block holds one ----------------------------------------

    /** The longest instruction: the bytes gathered for one that may cross its page's end. */
    private static final int MAX_LENGTH = 15;
    /**
     * The last instructions across a page end run here as decoded ones, direct-mapped by RIP: their RIP, bytes and op
     * (none where the op is null). Several: a loop may hold two, and one slot decoded each of them at every run.
     */
    private static final int CROSSING_SLOTS = 16;
    private final long[] crossingRip = new long[CROSSING_SLOTS];
    private final byte[][] crossingBytes = new byte[CROSSING_SLOTS][];
    private final BlockOp[] crossingOp = new BlockOp[CROSSING_SLOTS];
    private final DecodedForm[] crossingForm = new DecodedForm[CROSSING_SLOTS];
    /** How many times an instruction across a page end ran that way, and was decoded for it (for the tests). */
    long crossingRuns, crossingDecodes;

    /**
     * Runs the instruction at RIP as a decoded one when it crosses the end of its page (the fetched page, RIP's) and
     * is a form blocks run: decoded once and kept while its bytes, compared at each run, stay the same. False when
     * the interpreter must run it (another form, not across the page end, the next page not RAM or faulting).
     */
    private boolean runCrossing() {
        int inPage = 0x1000 - (int) (rip & 0xFFF);
        if (inPage >= MAX_LENGTH || (rip & ~0xFFFL) != fetchPage) {
            return false;
        }
        long nextPhys = nextPagePhysical(); // RIP's page is the fetched one
        if (nextPhys < 0) {
            return false; // the instruction may end before the next page: the interpreter's fetch says
        }
        long here = fetchPhysBase + (rip & 0xFFF);
        int slot = (int) (rip ^ rip >>> 12) & (CROSSING_SLOTS - 1);
        BlockOp op = crossingOp[slot];
        if (op == null || crossingRip[slot] != rip || !ram.holds(here, crossingBytes[slot], 0, inPage)
                || !ram.holds(nextPhys, crossingBytes[slot], inPage, crossingBytes[slot].length - inPage)) {
            byte[] bytes = new byte[MAX_LENGTH];
            ram.read(here, bytes, 0, inPage);
            ram.read(nextPhys, bytes, inPage, MAX_LENGTH - inPage);
            op = BlockDecoder.reduce(bytes);
            crossingDecodes++;
            crossingOp[slot] = null;
            if (op == null || op.length() <= inPage) {
                return false;
            }
            crossingRip[slot] = rip;
            crossingBytes[slot] = java.util.Arrays.copyOf(bytes, op.length());
            crossingOp[slot] = op;
            crossingForm[slot] = DecodedForm.of(op);
        }
        boolean restorable = op.flagsBeforeStore(); // its form saves the flags (DecodedForm.SavingFlags)
        branched = false;
        endBlock = false;
        mmioReplayed = 0;
        crossingRuns++;
        try {
            crossingForm[slot].run(core());
            mmioRetired();
            interruptShadow = false;
            instructions++;
        } catch (GuestFault f) {
            mmioRetired();
            if (restorable) {
                restoreFlags();
            }
            faulted(f, rip);
        }
        return true;
    }

    /** Instructions retired by compiled regions, and how many times one was entered ({@link CoreStats}). */
    long inCompiledRegions, regionCalls;
    /** Instructions retired by decoded blocks, and how many of those ran ({@link CoreStats}). */
    long inDecodedBlocks, decodedBlockRuns;

    /** Whether the last {@link #runDecoded} left its block by a branch, before the instruction the block ends at. */
    boolean branched;
    /** The instruction of the block a compiled block is at (set before each): where a fault happened. */
    int blockProgress;

    /**
     * Runs {@code block}'s instructions: returns how many ran when the next block may follow at once, or minus how
     * many ran or faulted (at least one) when the caller must see the boundary first.
     */
    private int runDecoded(DecodedBlock block) {
        DecodedForm[] forms = block.forms; // the decoded tier reads the forms, not the ops: one array a run, not two
        branched = false;
        // an STI/MOV SS shadow covers one instruction, the first one here: decoded, it ends the block as an exit does
        // (compiled code never runs a shadowed one), with no test of the shadow at each instruction
        endBlock = interruptShadow;
        CompiledBlock compiled = block.compiled;
        if (compiled == null && compileThreshold >= 0 && forms.length > 0) {
            int runs = block.runs++;
            // runs >= runsAtLength(compileThreshold, forms.length), without the division
            if ((long) runs * Math.max(forms.length, THRESHOLD_LENGTH) >= thresholdInstructions || hotLoop(block)) {
                compiled = compiledClass(block);
            } else if (runs == sharedProbeAt) {
                compiled = sharedClass(block);
            }
        }
        // a shadowed first instruction runs decoded, below, so compiled code never runs one (its flags may be left dead);
        // so does a block whose region's other pages no longer translate as they did, and one whose region has SSE ops
        // while they would fault
        if (compiled != null && !interruptShadow && (block.regionPages == null || regionPagesMap(block))
                && (!compiled.sse || SseLanes.ready(core(), compiled.ssse3))) {
            regionCalls++;
            try {
                int ran = compiled.run(core());
                inCompiledRegions += Math.abs(ran);
                return ran;
            } catch (GuestFault f) {
                int n = blockProgress; // the compiled code put back the state before that instruction
                retiredInRegion(n); // those before it retired; the compiled code counts only at its returns
                mmioRetired();
                faulted(f, rip);
                return -(n + 1);
            } catch (Stop s) {
                retiredInRegion(blockProgress); // an exit (a port, an MMIO read to answer) at that instruction
                throw s;
            }
        }
        decodedBlockRuns++;
        long flagsBeforeStore = block.flagsBeforeStore; // the forms that save the flags, as they can fault after setting them
        int n = 0;
        mmioReplayed = 0; // mmioRetired resets it after an instruction that stored to a device
        try {
            while (n < forms.length) {
                boolean onward = forms[n].run(core());
                n++;
                // only a store to a device leaves an instruction here an MMIO log, and it sets endBlock (a read stops the
                // run, and the instruction restarts alone: EmulatedVcpu.finishRestartedAccess)
                if (endBlock) {
                    mmioRetired();
                    interruptShadow = false;
                    retiredDecoded(n);
                    return -n; // after an exit or a shadowed instruction, back to the boundary where interrupts are taken
                }
                if (!onward) {
                    branched = true;
                    retiredDecoded(n);
                    return n; // a branch: its target's block may follow
                }
            }
        } catch (Stop s) {
            retiredDecoded(n); // an exit at instruction n: those before it retired
            throw s;
        } catch (GuestFault f) {
            retiredDecoded(n); // those before it retired
            mmioRetired();
            if ((flagsBeforeStore >>> n & 1) != 0) { // instruction n set flags before its store faulted
                restoreFlags();
            }
            faulted(f, rip);
            return -(n + 1);
        }
        retiredDecoded(n);
        return n;
    }

    /** {@code n} instructions of a decoded block retired. */
    private void retiredDecoded(int n) {
        instructions += n;
        inDecodedBlocks += n;
    }

    /** {@code n} instructions of a compiled region retired before a fault or an exit stopped it. */
    private void retiredInRegion(int n) {
        instructions += n;
        inCompiledRegions += n;
    }

    /**
     * The longest block the compile threshold counts runs of: a longer one reaches it in proportionally fewer runs, as
     * what it costs decoded, and what its compiled code saves each run, grow with its instructions. A kernel's unrolled
     * code (SHA-256's rounds: blocks of 64 instructions, each run once per 64 bytes hashed) otherwise ran decoded
     * through most of a boot's module loading; counting from 8 instructions compiled more and saved no more
     * (docs/benchmarks.md).
     */
    static final int THRESHOLD_LENGTH = 16;
    /** The compile threshold in instructions of {@link #THRESHOLD_LENGTH}-instruction blocks. */
    private final long thresholdInstructions = (long) compileThreshold * THRESHOLD_LENGTH;

    /** {@code runs} of a block of up to {@link #THRESHOLD_LENGTH} instructions, as runs of one of {@code length}. */
    static int runsAtLength(int runs, int length) {
        return (int) ((long) runs * THRESHOLD_LENGTH / Math.max(length, THRESHOLD_LENGTH));
    }

    /**
     * Whether {@code block}, short of the compile threshold, is compiled now: it ran a fiftieth of the threshold's times
     * and a quarter or more of this vCPU's instructions since it was decoded (looked at every 1024th run: at the
     * default threshold, the first look), as the loop a program spends its time in does from its start. Its runs up to
     * the threshold would cost more decoded than the compile: core_simd's block function ran a fifth of its launch
     * decoded, and a launch's first loop runs its first thousands of rounds while the JIT has yet to compile the
     * decoded tier (docs/benchmarks.md).
     */
    private boolean hotLoop(DecodedBlock block) {
        int runs = block.runs;
        return (runs & 1023) == 0 && runs >= compileThreshold / 50 && retiredAQuarter(block);
    }

    /** Whether {@code block} retired a quarter or more of this vCPU's instructions since it was decoded. */
    final boolean retiredAQuarter(DecodedBlock block) {
        return (long) block.runs * block.forms.length * 4 > instructions - block.decodedAt;
    }

    /**
     * The fraction of the compile threshold at whose run count a block looks for a class made before for its region
     * ({@link #sharedClass}): such a class costs nothing to take, and another vCPU's runs made it hot already.
     */
    static final int SHARED_PROBE = 16;
    private final int sharedProbeAt = compileThreshold / SHARED_PROBE;

    /**
     * The class made before (by another vCPU over this RAM, or this one before its code cache was emptied) for the
     * region {@code block} would be compiled with, or null.
     */
    abstract CompiledBlock sharedClass(DecodedBlock block);

    /**
     * The compiled class of {@code block}, which reached the compile threshold or runs as a hot loop, or null while it
     * is being made or a block its region runs no longer matches memory ({@link RegionCompilation}).
     */
    abstract CompiledBlock compiledClass(DecodedBlock block);

    /**
     * Whether the other pages the region of {@code block} (at RIP) runs code in still translate as they did; when not,
     * the block has left its region (it runs decoded and is compiled again).
     */
    abstract boolean regionPagesMap(DecodedBlock block);

    /** How many locked instructions ran as one compare-and-swap in a block ({@link LockedInPlace}; for the tests). */
    long lockedInPlace;

    /** Register {@code n} as a {@code size}-byte operand; {@link BlockOp#HIGH_BYTE} + 0-3 are AH-BH. */
    long regOf(int n, int size) {
        return switch (size) {
            case 1 -> n >= BlockOp.HIGH_BYTE ? (r[n - BlockOp.HIGH_BYTE] >>> 8) & 0xFF : r[n] & 0xFF;
            case 2 -> r[n] & 0xFFFF;
            case 4 -> r[n] & 0xFFFFFFFFL;
            default -> r[n];
        };
    }

    void setRegOf(int n, int size, long v) {
        switch (size) {
            case 1 -> {
                if (n >= BlockOp.HIGH_BYTE) {
                    int low = n - BlockOp.HIGH_BYTE;
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
    long address(BlockOp d, long next) {
        return address(d.disp(), d.base(), d.index(), d.scale(), d.seg(), d.stackAddressed(), next);
    }

    /**
     * The linear address of a memory operand of these parts ({@link BlockOp}'s fields), which a form with its own
     * copy of them calls too; {@code stack} is {@link BlockOp#stackAddressed}.
     */
    final long address(long disp, int base, int index, int scale, int seg, boolean stack, long next) {
        long a = disp;
        stackAddressed = stack;
        if (base >= 0) {
            a += r[base];
        } else if (base == BlockOp.RIP) {
            a += next;
        }
        if (index >= 0) {
            a += r[index] << scale;
        }
        // FS (1) and GS (2) by masks, not branches: every decoded form with memory inlines this, and C2 left out the
        // branch to a segment base until a form's first FS or GS access, then deoptimized each form's code at it
        return a + (fsBase & -(seg & BlockOp.FS)) + (gsBase & -(seg >> 1 & 1));
    }

    long operand(BlockOp d, int size, long next) {
        int rm = d.rm();
        return rm >= 0 ? regOf(rm, size) : read(address(d, next), size);
    }

    void setOperand(BlockOp d, int size, long next, long v) {
        int rm = d.rm();
        if (rm >= 0) {
            setRegOf(rm, size, v);
        } else {
            write(address(d, next), size, v);
        }
    }

}

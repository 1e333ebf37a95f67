package io.jkvm.emu;

import io.jkvm.linux.Mapping;
import io.jkvm.x86.CpuidTable;
import io.jkvm.x86.RamLayout;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Which blocks one compiled method runs (a region: a hot block and the blocks around it that its branches reach, in
 * its page and the pages near it), when it is made, and what a region's blocks check before they enter it.
 */
abstract sealed class RegionCompilation extends BlockExecution permits Core {
    RegionCompilation(Mapping ram, RamLayout layout, CpuidTable cpuid, int mxcsrMask, IoPort io) {
        super(ram, layout, cpuid, mxcsrMask, io);
        shared = SharedRegions.join(ram);
        activity = shared.activity.join(code);
    }

    /** This core's part in what the cores over its RAM are doing, for its epochs. */
    final CoreActivity activity;

    /** The regions every vCPU over this RAM compiled, by their instructions. */
    private final SharedRegions shared;

    /**
     * Whether another core has run over this RAM: its stores reach code this one decoded without this one's seeing
     * them. A Linux boot patches its text (a hundred thousand IRETs to itself, each serializing) before it starts the
     * other vCPUs.
     */
    final boolean ramShared() {
        return shared.othersRan();
    }

    @Override
    final void codePageAdded(long physicalPage) {
        dropDirectWrites(physicalPage);
        activity.codePageAdded(); // the others' direct stores there go too, each before its next chain of blocks
    }

    @Override
    final boolean othersHoldCode(long physical) {
        return ramShared() && activity.othersHoldCode(physical);
    }

    @Override
    final void storedOverOthersCode(long physical, int size) {
        if (ramShared() && activity.othersHoldCodeAt(physical, size)) {
            activity.storedOverOthersCode();
        }
    }

    /**
     * Drops the direct stores once another core decoded code in a page that had none: from then on this core's stores
     * over code are counted. Between chains of blocks and on waking from HLT, before the next store.
     */
    final void acknowledgeCodeMarks() {
        long marks = activity.marksToAcknowledge();
        if (marks >= 0) {
            dropDirectWrites();
            activity.acknowledged(marks);
        }
    }

    private boolean started;

    /** This core runs guest code from now on: once it has, the others over the RAM look for its stores to code. */
    final void started() {
        if (!started) {
            started = true;
            shared.started();
        }
    }

    /**
     * The most blocks, and instructions, one compiled region holds (before it is cut to what the JIT takes): with
     * the code blocks share held once ({@link BlockRegion#ofOverlapping}), 24 and 240 keep more of a loop of many
     * blocks in one method (XZ's decoder in a bzImage: its first line some 0.6 s sooner than at 16 and 160), where
     * the kernel's regions and the flat guests' run as they did (docs/benchmarks.md).
     */
    static final int REGION_BLOCKS = 24, REGION_INSNS = 240;
    /**
     * How many pages before or after the entry's a region's blocks may lie in: a loop of a function larger than a page,
     * or calling one beside it, goes on in its method instead of leaving it at each branch to another page.
     */
    static final int REGION_REACH = 2;

    /** How many blocks run a region's method compiled for another block, entered at their own start (for the tests). */
    long regionEntries;

    /** How many regions went to the compiler thread (for the tests). */
    long regionsSent;

    /** How many regions this vCPU had compiled, at once or on the compiler thread ({@link CoreStats}). */
    long regionsMade;

    /** How many compiled methods run more than one block (for the tests). */
    long regionsCompiled;

    /** How many compiled methods run blocks of more than one page (for the tests). */
    long regionsAcrossPages;

    /** How many times a block left its region because a page the region runs no longer translated as it did (for the tests). */
    long regionPagesMoved;

    /** How many blocks run a class made before for a region of the same instructions ({@link SharedRegions}; for the tests). */
    long regionsShared;

    /**
     * The compiled class of {@code block}, which reached the compile threshold: at once when every block is compiled
     * before it runs, or when the block ran a quarter or more of this vCPU's instructions since it was decoded (a hot
     * loop, whose decoded runs would cost more than the build); else sent to the compiler thread
     * ({@link RegionCompiles}) and null until it is made (or the block has run on for long enough to wait for it).
     * Null too when a block its region runs no longer matches memory or left the cache: then the block counts its runs
     * again.
     */
    @Override
    final CompiledBlock compiledClass(DecodedBlock block) {
        RegionCompiles.Pending pending = block.pending;
        if (pending == null) {
            FoundRegion found = regionOf(block);
            SharedRegions.Key key = new SharedRegions.Key(found.region());
            RegionCompiles.Pending.Made known = shared.find(key);
            if (known != null) {
                return adopt(block, found.members(), found.region().starts(), known, true);
            }
            pending = new RegionCompiles.Pending(key, found.members(), block.runs);
            regionsMade++;
            if (compileThreshold == 0 || retiredAQuarter(block)) {
                pending.run();
            } else {
                regionsSent += RegionCompiles.send(pending) ? 1 : 0;
                block.pending = pending;
                return null;
            }
        } else if (!pending.isDone() && block.runs - pending.sentAt < RegionCompiles.waitAfter(compileThreshold, block.insns.length)) {
            return null;
        }
        block.pending = null;
        RegionCompiles.Pending.Made made = pending.made();
        shared.add(pending.key, made);
        return adopt(block, pending.members, pending.key.region().starts(), made, false);
    }

    /**
     * The class made before for the region {@code block} (at RIP, short of the compile threshold) would be compiled
     * with, by another vCPU or by this one before its code cache was emptied; null when there is none.
     */
    @Override
    final CompiledBlock sharedClass(DecodedBlock block) {
        if (block.pending != null || shared.size() == 0 || !shared.othersRan() && code.flushes == 0) {
            return null; // no other core has run, and this one's cache was never emptied: the classes are its blocks' own
        }
        FoundRegion found = regionOf(block);
        RegionCompiles.Pending.Made known = shared.find(new SharedRegions.Key(found.region()));
        return known == null ? null : adopt(block, found.members(), found.region().starts(), known, true);
    }

    /**
     * {@code block} runs {@code made}, the class of its region ({@code members} after it, at {@code starts}), and so do
     * the members it keeps; null (the block counts its runs again) when a member no longer matches memory.
     */
    private CompiledBlock adopt(DecodedBlock block, DecodedBlock[] members, long[] starts, RegionCompiles.Pending.Made made,
                                boolean known) {
        int kept = made.kept();
        DecodedBlock[] region = new DecodedBlock[kept];
        region[0] = block;
        System.arraycopy(members, 0, region, 1, kept - 1);
        for (int k = 1; k < kept; k++) { // decoded when the region was found: their bytes may have changed since
            DecodedBlock m = region[k];
            if (m.dropped || !code.current(m, m.physical)) {
                block.runs = 0; // a dropped block's page no longer tells the cache of stores to it
                return null;
            }
        }
        blocksCompiled++;
        regionsShared += known ? 1 : 0;
        block.compiled = made.code();
        if (kept > 1) { // the entry checks the bytes of the members its method runs, and only those
            long[] keptStarts = Arrays.copyOf(starts, kept);
            long entryInPage = rip & 0xFFF;
            block.regionBlocks = others(region, 0);
            block.regionPages = regionPages(region, keptStarts, entryInPage, 0);
            regionsCompiled++;
            if (block.regionPages != null) {
                regionsAcrossPages++;
                code.runTogether(region); // a store to any of its pages drops the others' blocks too
            }
            enterAtMembers(region, keptStarts, entryInPage, made.code());
        }
        return block.compiled;
    }

    /**
     * The region's other blocks run its method too, entered at their own starts, unless they run a region of as many
     * blocks already: runBlock comes to them when the method has left (after CHAIN_LIMIT instructions, at an exit), and
     * they would run decoded, or a smaller region of their own, until their own region, mostly the same blocks, was
     * compiled and warmed up by the JIT again. One being made for them is no longer wanted. Each checks the bytes of
     * the others, the entry's too, as the entry checks theirs, and the pages of the others as the entry does.
     */
    private void enterAtMembers(DecodedBlock[] region, long[] starts, long entryInPage, CompiledBlock code) {
        int kept = region.length;
        for (int k = 1; k < kept; k++) {
            DecodedBlock m = region[k];
            if (m.compiled != null && (m.regionBlocks == null ? 1 : m.regionBlocks.length + 1) >= kept) {
                continue;
            }
            if (m.pending != null) {
                m.pending.cancel(false); // the compiler thread skips it if it has not begun it
                m.pending = null;
            }
            m.regionBlocks = others(region, k);
            m.regionPages = regionPages(region, starts, entryInPage, k);
            m.compiled = code.at(k);
            regionEntries++;
        }
    }

    /** The region's blocks but {@code self}, in the region's order: those whose bytes self's entry checks with its own. */
    private static DecodedBlock[] others(DecodedBlock[] region, int self) {
        DecodedBlock[] others = new DecodedBlock[region.length - 1];
        for (int j = 0, o = 0; j < region.length; j++) {
            if (j != self) {
                others[o++] = region[j];
            }
        }
        return others;
    }

    /**
     * The pages the region's blocks lie in besides block {@code self}'s, their tails' pages among them, as pairs: the
     * linear page's distance from self's, and the physical page it translated to when the region was found; null when
     * all lie in self's page.
     * {@code starts} are the blocks' linear offsets from the entry, which starts {@code entryInPage} into its page.
     */
    private static long[] regionPages(DecodedBlock[] region, long[] starts, long entryInPage, int self) {
        long own = Math.floorDiv(entryInPage + starts[self], 0x1000);
        long[] pages = new long[4 * region.length];
        int n = 0;
        for (int k = 0; k < region.length; k++) {
            long distance = Math.floorDiv(entryInPage + starts[k], 0x1000) - own;
            n = listPage(pages, n, distance, region[k].physical & ~0xFFFL);
            if (region[k].tailPhysical >= 0 && k != self) { // self's own tail is checked where it is looked up
                n = listPage(pages, n, distance + 1, region[k].tailPhysical);
            }
        }
        return n == 0 ? null : Arrays.copyOf(pages, n);
    }

    /** Lists the page {@code distance} from self's, at {@code physical}, unless it is self's or listed: the new count. */
    private static int listPage(long[] pages, int n, long distance, long physical) {
        boolean listed = distance == 0;
        for (int j = 0; j < n && !listed; j += 2) {
            listed = pages[j] == distance;
        }
        if (!listed) {
            pages[n++] = distance;
            pages[n++] = physical;
        }
        return n;
    }

    /**
     * Whether the pages {@code block}'s region runs code in besides RIP's (its own) still translate as they did when
     * the region was found: its method goes from block to block with no look-up. The block at RIP is RIP's page's.
     * When they do not, the block leaves the region and counts its decoded runs again, to be compiled with the pages
     * around it as they translate now (a page mapped elsewhere, the same code run at another address).
     */
    @Override
    final boolean regionPagesMap(DecodedBlock block) {
        long[] pages = block.regionPages;
        long page = rip & ~0xFFFL;
        for (int k = 0; k < pages.length; k += 2) {
            if (physicalPage(page + (pages[k] << 12)) != pages[k + 1]) {
                regionPagesMoved++;
                block.compiled = null;
                block.regionBlocks = null;
                block.regionPages = null;
                block.runs = 0;
                block.decodedAt = instructions;
                return false;
            }
        }
        return true;
    }

    private static final long UNKNOWN = Long.MIN_VALUE;

    /** The linear base of the page {@code page} - {@link #REGION_REACH} pages from RIP's, as regionOf numbers them. */
    private long linearPage(int page) {
        return (rip & ~0xFFFL) + ((long) (page - REGION_REACH) << 12);
    }

    /** A region found for a block, and the decoded blocks after its entry, in the region's order. */
    private record FoundRegion(BlockRegion region, DecodedBlock[] members) {
    }

    /**
     * The region {@code block} (at RIP) is compiled with: it, and breadth first the blocks that direct branches and
     * fall-throughs of those before reach in its page and the {@link #REGION_REACH} pages on either side (as they
     * translate now), are current and ran at least a sixteenth of the entry's runs (up to the compile threshold's;
     * compiling everything at once: decoded now), whether or not one of them comes back to it: a hot path through
     * several blocks that is no loop (a system call's, a page fault's, through the kernel's functions) is entered once
     * a pass instead of once a block, unless it reaches blocks already compiled (the block alone then). A hot loop
     * compiled early takes the blocks around it at its own count. A block with a tail is taken while the page after
     * its own still translates to its tail's (a loop across a page end, as XZ's range decoder has in a bzImage): the
     * region's pages then list the tail's page, which every other block's entry checks as it checks theirs.
     */
    private FoundRegion regionOf(DecodedBlock block) {
        int entry = (int) (rip & 0xFFF);
        FoundRegion single = new FoundRegion(BlockRegion.of(block.insns), new DecodedBlock[0]);
        PageBlocks entryPage = fetchedPageBlocks();
        if ((rip & ~0xFFFL) != fetchPage || entryPage.get(entry) != block) {
            return single;
        }
        int flushes = code.flushes;
        long[] pagePhysical = new long[2 * REGION_REACH + 1]; // by distance + REACH: -1 none, UNKNOWN not looked up
        Arrays.fill(pagePhysical, UNKNOWN);
        PageBlocks[] pageBlocks = new PageBlocks[2 * REGION_REACH + 1];
        pagePhysical[REGION_REACH] = fetchPhysBase;
        pageBlocks[REGION_REACH] = entryPage;
        List<DecodedBlock> members = new ArrayList<>(List.of(block));
        List<Long> starts = new ArrayList<>(List.of(0L));
        int total = block.insns.length;
        boolean loops = false, reachesCompiled = false;
        for (int m = 0; m < members.size(); m++) {
            for (long to : BlockRegion.successors(members.get(m).insns, starts.get(m))) {
                loops |= to == 0;
                long offset = entry + to;
                int page = (int) Math.floorDiv(offset, 0x1000) + REGION_REACH;
                if (page < 0 || page > 2 * REGION_REACH || starts.contains(to) || members.size() == REGION_BLOCKS) {
                    continue;
                }
                if (pagePhysical[page] == UNKNOWN) {
                    pagePhysical[page] = physicalPage(linearPage(page));
                    pageBlocks[page] = pagePhysical[page] < 0 ? null
                            : compileThreshold == 0 ? code.page(pagePhysical[page]) : code.pageIfAny(pagePhysical[page]);
                }
                PageBlocks blocks = pageBlocks[page];
                if (blocks == null || flushes != code.flushes) {
                    continue;
                }
                long physical = pagePhysical[page] + (offset & 0xFFF);
                DecodedBlock s = blocks.get((int) (offset & 0xFFF));
                if (s == null && compileThreshold == 0) {
                    long nextLinear = linearPage(page + 1);
                    s = code.decode(physical, blocks, () -> physicalPage(nextLinear));
                    if (code.flushes != flushes) {
                        return single; // the cache was full and is empty now: the page indexes are stale
                    }
                }
                if (s == null || s.insns.length == 0
                        || s.tailPhysical >= 0 && physicalPage(linearPage(page + 1)) != s.tailPhysical
                        || s.runs < Math.min(compileThreshold, block.runs) / 16
                        || total + s.insns.length > REGION_INSNS || !code.current(s, physical)) {
                    continue;
                }
                members.add(s);
                starts.add(to);
                total += s.insns.length;
                reachesCompiled |= s.compiled != null;
            }
        }
        if (members.size() == 1 || !loops && reachesCompiled || flushes != code.flushes) {
            return single; // a path into code compiled before goes on in that code's method, not in a copy of it
        }
        int n = members.size();
        BlockOp[][] blocks = new BlockOp[n][];
        long[] at = new long[n];
        for (int k = 0; k < n; k++) {
            blocks[k] = members.get(k).insns;
            at[k] = starts.get(k);
        }
        return new FoundRegion(BlockRegion.ofOverlapping(blocks, at), members.subList(1, n).toArray(DecodedBlock[]::new));
    }
}

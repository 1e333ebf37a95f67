package io.jkvm.emu;

import io.jkvm.linux.Mapping;

/**
 * Decoded blocks by guest-physical address, with the two ways they go stale:
 * <ul>
 * <li>the core's own stores: every RAM store checks a bitmap of the 64-byte lines that hold decoded code, and a hit
 * drops at once the blocks holding a byte it wrote and those whose compiled region runs one of them (self-modifying
 * code, REP MOVS over code, XSAVE over code...); a hit on a block's tail (its bytes past its page's end,
 * {@link DecodedBlock#tailPhysical}) drops the page that block starts in, and a hit on a page a compiled region of
 * another page runs code of drops that page;</li>
 * <li>writes the core does not see (the machine loading an image or doing DMA between two runs, another vCPU): a new
 * epoch, begun on every entry to {@code run()} and on serializing instructions, makes each block compare its bytes
 * with memory once before it runs again (x86 asks a CPU to serialize before running code another agent wrote).</li>
 * </ul>
 * Lines, not pages, so code sharing a page with data (small guests, the benchmarks) is not dropped at each store.
 * Besides the physical index, blocks are found by linear RIP ({@link #atLinear}), as QEMU's jump cache finds its
 * translations: a jump to another page then needs no translation and no page index.
 * The cache is bounded (docs/limits.md): past {@link #MAX_PAGES} pages with decoded code or {@link #MAX_INSNS}
 * decoded instructions it is emptied whole, as QEMU empties its translation buffer, and decoding starts again.
 */
final class CodeCache {
    static final int PAGE = 4096;
    /** Pages with decoded blocks at most: each costs a table of its blocks ({@link PageBlocks}) besides them. */
    static final int MAX_PAGES = 4096;
    /** Decoded instructions at most (about 44 bytes each: docs/limits.md). */
    static final int MAX_INSNS = 1 << 18;

    private final Mapping ram;
    private final Region[] regions; // by physical >>> 21; null: nothing decoded in those 2 MiB
    private int epoch;
    /** Pages with decoded blocks, and the decoded instructions their indexes hold (blocks dropped or replaced leave it). */
    private int pages, insns;
    /** Instructions decoded in all, dropped ones decoded again included (for the tests). */
    long decodedInstructions;
    /** Times the cache was emptied: a page index the core holds from before a flush is stale. */
    int flushes;

    /**
     * Blocks by the linear RIP they were last found at, in slots by RIP, with the salt of the translation then
     * ({@link CpuState#directSalt}: the TLB's generation and whether at CPL 3, bits 53-62) and {@link #forgotten}
     * (below them). Forgotten when the cache is emptied and when the core reuses a TLB generation; a slot's block that
     * a store dropped is {@link DecodedBlock#dropped}, and one in a page whose translation went alone (INVLPG) is of an
     * older {@link #pageGeneration}: both match nothing.
     */
    private static final int LINEAR_SLOTS = 4096;
    private final long[] linearRip = new long[LINEAR_SLOTS];
    private final long[] linearSalt = new long[LINEAR_SLOTS];
    private final DecodedBlock[] linearBlock = new DecodedBlock[LINEAR_SLOTS];
    /** Times the blocks by linear address were forgotten: a slot filled before the last time matches nothing. */
    private long forgotten;
    /**
     * By linear page (hashed): bumped when the core drops that page's translation alone (INVLPG), and the page before
     * it, whose blocks may go on into it. A slot, or a link across pages, filled under an older generation of its RIP's
     * page matches nothing; the others stay (a kernel that patches its text or unmaps a page INVLPGs thousands of
     * times a boot, and forgetting every look-up at each made all its hot code look its blocks up again).
     */
    private static final int PAGE_GENERATIONS = 1024;
    private final int[] pageGeneration = new int[PAGE_GENERATIONS];
    private final int[] linearGeneration = new int[LINEAR_SLOTS];

    /** The decoded blocks of 2 MiB of RAM, allocated when code there is first decoded. */
    private static final class Region {
        final PageBlocks[] pages = new PageBlocks[512]; // by page in the region; null: nothing decoded there
        final long[] codeLines = new long[512];                // by page: bit n set when line n holds decoded bytes
        final long[] tailLines = new long[512];                // by page: line n holds bytes of another page's block
        @SuppressWarnings("unchecked")
        final java.util.ArrayList<DecodedBlock>[] tails = new java.util.ArrayList[512]; // those blocks, by page
        @SuppressWarnings("unchecked") // by page: blocks of other pages whose compiled region runs blocks of this one
        final java.util.ArrayList<DecodedBlock>[] companions = new java.util.ArrayList[512];
    }

    /** The region of {@code physical} (in RAM), made if there is none. */
    private Region regionAt(long physical) {
        Region region = regions[(int) (physical >>> 21)];
        if (region == null) {
            region = regions[(int) (physical >>> 21)] = new Region();
        }
        return region;
    }

    /** Told of each physical page that gets decoded code where it had none. */
    private final java.util.function.LongConsumer codePageAdded;

    CodeCache(Mapping ram, java.util.function.LongConsumer codePageAdded) {
        this.ram = ram;
        this.codePageAdded = codePageAdded;
        this.regions = new Region[(int) ((ram.size() + (1 << 21) - 1) >>> 21)];
    }

    /** The decoded blocks of the page at {@code pageBase} (in RAM), by offset; made if there are none yet. */
    PageBlocks page(long pageBase) {
        Region region = regionAt(pageBase);
        int pageInRegion = (int) (pageBase >>> 12) & 511;
        PageBlocks page = region.pages[pageInRegion];
        if (page == null) {
            if (pages == MAX_PAGES) {
                flush();
                return page(pageBase);
            }
            page = region.pages[pageInRegion] = new PageBlocks();
            pages++;
        }
        return page;
    }

    /** The decoded blocks of the page at {@code pageBase} (in RAM), or null when none were decoded there. */
    PageBlocks pageIfAny(long pageBase) {
        Region region = regions[(int) (pageBase >>> 21)];
        return region == null ? null : region.pages[(int) (pageBase >>> 12) & 511];
    }

    /**
     * The blocks of one compiled region, which lie in more than one page: a store that drops decoded code of any of
     * those pages drops the blocks of the others too (each of which may run the region's method). Those pages keep
     * their code lines, so a later store to them still drops the blocks of the pages that ran with theirs. A page a
     * block's tail lies in drops the pages of every block of the region, its own among them: a block starting there
     * may run the tail's bytes in the method without holding them itself.
     */
    void runTogether(DecodedBlock[] region) {
        for (DecodedBlock b : region) {
            addCompanions(b.physical, region, false);
            if (b.tailPhysical >= 0) {
                addCompanions(b.tailPhysical, region, true);
            }
        }
    }

    /** The blocks of {@code region} another page than {@code physical}'s holds ({@code all}: every one) go with its code. */
    private void addCompanions(long physical, DecodedBlock[] region, boolean all) {
        Region r = regions[(int) (physical >>> 21)];
        int pageInRegion = (int) (physical >>> 12) & 511;
        java.util.ArrayList<DecodedBlock> list = r.companions[pageInRegion];
        if (list == null) {
            list = r.companions[pageInRegion] = new java.util.ArrayList<>();
        } else if (list.size() >= 32) {
            list.removeIf(c -> c.dropped); // the blocks of regions gone: their pages were dropped or decoded again
        }
        for (DecodedBlock other : region) {
            if ((all || (other.physical ^ physical) >>> 12 != 0) && !list.contains(other)) {
                list.add(other);
            }
        }
    }

    /** Drops every decoded block (the cache is full). */
    private void flush() {
        forgetLinear();
        java.util.Arrays.fill(linearBlock, null); // stale now, they would keep the blocks of before the flush alive
        java.util.Arrays.fill(regions, null);
        pages = 0;
        insns = 0;
        flushes++;
    }

    /** Pages holding decoded blocks now, for the footprint test. */
    int pages() {
        return pages;
    }

    /** Decoded instructions the index holds now (bounded by {@link #MAX_INSNS}). */
    int instructions() {
        return insns;
    }

    /**
     * Whether {@code b}, decoded at {@code physical}, still matches memory, and so do the blocks its compiled region
     * runs (compared once per epoch).
     */
    boolean current(DecodedBlock b, long physical) {
        if (b.checkedEpoch == epoch) {
            return true;
        }
        if (!matches(b, physical)) {
            return false;
        }
        for (int k = 0; b.regionBlocks != null && k < b.regionBlocks.length; k++) {
            if (!matches(b.regionBlocks[k], b.regionBlocks[k].physical)) {
                return false; // the compiled region runs that block's code too
            }
        }
        b.checkedEpoch = epoch;
        return true;
    }

    private boolean matches(DecodedBlock b, long physical) {
        if (b.tailPhysical < 0) {
            return ram.holds(physical, b.bytes);
        }
        int head = PAGE - (int) (physical & (PAGE - 1));
        return ram.holds(physical, b.bytes, 0, head) && ram.holds(b.tailPhysical, b.bytes, head, b.bytes.length - head);
    }

    /** Decodes the block at {@code physical} into {@code page}, the table {@link #page} gave for its page, within the page. */
    DecodedBlock decode(long physical, PageBlocks page) {
        return decode(physical, page, () -> -1);
    }

    /**
     * Decodes the block at {@code physical} into {@code page}, the table {@link #page} gave for its page; past the
     * page's end it may go on into the page {@code tail} gives (its physical base in RAM, or -1 for none).
     */
    DecodedBlock decode(long physical, PageBlocks page, java.util.function.LongSupplier tail) {
        int offset = (int) (physical & (PAGE - 1));
        DecodedBlock b = BlockDecoder.decode(ram, physical - offset, offset, epoch, tail);
        decodedInstructions += b.insns.length;
        if (insns + b.insns.length > MAX_INSNS) {
            flush(); // the caller's page index is now stale: it sees the new flush count and looks it up again
            return b;
        }
        insns += b.insns.length;
        DecodedBlock stale = page.put(b);
        if (stale != null) {
            insns -= stale.insns.length;
            stale.unlink(); // it keeps no older blocks alive from a link of a block of its page
        }
        int length = b.bytes.length;
        if (length > 0) {
            int head = headLength(b);
            Region region = regions[(int) (physical >>> 21)];
            int pageInRegion = (int) (physical >>> 12) & 511;
            addLines(region, pageInRegion, region.codeLines, lines(offset, head), physical - offset);
            if (b.tailPhysical >= 0) {
                tailBlocks++;
                Region tailRegion = regionAt(b.tailPhysical);
                int tailPage = (int) (b.tailPhysical >>> 12) & 511;
                addLines(tailRegion, tailPage, tailRegion.tailLines, lines(0, length - head), b.tailPhysical);
                java.util.ArrayList<DecodedBlock> tails = tailRegion.tails[tailPage];
                if (tails == null) {
                    tails = tailRegion.tails[tailPage] = new java.util.ArrayList<>();
                } else if (tails.size() >= 32) {
                    tails.removeIf(t -> t.dropped); // blocks decoded again (their tail page no longer mapped there)
                }
                tails.add(b);
            }
        }
        return b;
    }

    /** How many blocks were decoded going on into the next page (for the tests). */
    long tailBlocks;

    /** The lines of a page that hold decoded bytes: of its own blocks, and of tails of other pages' blocks. */
    private static long codeLines(Region region, int pageInRegion) {
        return region.codeLines[pageInRegion] | region.tailLines[pageInRegion];
    }

    /**
     * Adds {@code lines} to a page's line set {@code sets} (its region's code or tail lines); when the page had no
     * code lines before, {@link #codePageAdded} hears of it after they are set, as another core reads them then.
     */
    private void addLines(Region region, int pageInRegion, long[] sets, long lines, long pageBase) {
        boolean first = codeLines(region, pageInRegion) == 0;
        sets[pageInRegion] |= lines;
        if (first) {
            codePageAdded.accept(pageBase);
        }
    }

    /** The 64-byte lines a store of {@code size} (1-16) bytes from {@code offset} in a page touches, as a bit set. */
    private static long touchedLines(int offset, int size) {
        return (1L << (offset >>> 6)) | (1L << ((offset + size - 1) >>> 6));
    }

    /** The 64-byte lines {@code length} (at least 1) bytes from {@code offset} in a page touch, as a bit set. */
    private static long lines(int offset, int length) {
        long set = 0;
        for (int line = offset >>> 6; line <= (offset + length - 1) >>> 6; line++) {
            set |= 1L << line;
        }
        return set;
    }

    /**
     * A store of {@code size} (1-8) bytes at {@code physical}, inside RAM and inside one page; true when it dropped
     * decoded code (the block being run may be among it).
     */
    boolean stored(long physical, int size) {
        Region region = regions[(int) (physical >>> 21)];
        if (region == null) {
            return false;
        }
        int pageInRegion = (int) (physical >>> 12) & 511;
        long lines = codeLines(region, pageInRegion);
        if (lines != 0) {
            int offset = (int) (physical & (PAGE - 1));
            if ((lines & touchedLines(offset, size)) != 0) { // the look-ups by linear address find its blocks dropped
                dropBlocksOver(region, pageInRegion, offset, offset + size);
                java.util.ArrayList<DecodedBlock> tails = region.tails[pageInRegion];
                region.tails[pageInRegion] = null;
                region.tailLines[pageInRegion] = 0;
                dropPagesOf(tails, false); // a compiled region there may run the block with its tail here
                java.util.ArrayList<DecodedBlock> companions = region.companions[pageInRegion];
                region.companions[pageInRegion] = null;
                dropPagesOf(companions, true); // their own companions ran with their bytes: stores there still count
                return true;
            }
        }
        return false;
    }

    /**
     * Drops the blocks of the pages of {@code blocks} (null: none) that are still in the index, each page whole;
     * with {@code keepLines} those pages keep their code lines, so a store there is still seen as a store over code.
     */
    private void dropPagesOf(java.util.List<DecodedBlock> blocks, boolean keepLines) {
        for (int k = 0; blocks != null && k < blocks.size(); k++) {
            DecodedBlock b = blocks.get(k);
            if (!b.dropped) {
                Region region = regions[(int) (b.physical >>> 21)];
                int page = (int) (b.physical >>> 12) & 511;
                dropBlocks(region, page);
                if (!keepLines) {
                    region.codeLines[page] = 0;
                }
            }
        }
    }

    /**
     * Drops the blocks of a page that hold a byte from offset {@code from} to {@code to} (not included), and those
     * whose compiled region runs one of those; the others stay, with the lines they hold. A kernel patching a jump in
     * its text keeps the rest of that page's code, decoded, counted and compiled (QEMU drops only the translations
     * over the bytes written, too). Blocks of other pages that run these are the caller's.
     */
    private void dropBlocksOver(Region region, int pageInRegion, int from, int to) {
        PageBlocks page = region.pages[pageInRegion];
        if (page == null) {
            region.codeLines[pageInRegion] = 0;
            return;
        }
        java.util.Set<DecodedBlock> over = java.util.Collections.newSetFromMap(new java.util.IdentityHashMap<>());
        page.forEach(b -> {
            if (holdsBytes(b, from, to)) {
                over.add(b);
            }
        });
        page.forEach(b -> {
            for (int k = 0; b.regionBlocks != null && k < b.regionBlocks.length && !over.contains(b); k++) {
                if (over.contains(b.regionBlocks[k])) {
                    over.add(b); // its method runs a block that goes
                }
            }
        });
        if (over.size() == page.size()) {
            dropBlocks(region, pageInRegion);
            region.codeLines[pageInRegion] = 0;
            return;
        }
        page.removeIf(over::contains);
        for (DecodedBlock b : over) {
            insns -= b.insns.length;
            b.unlink();
        }
        long[] lines = {0};
        page.forEach(b -> lines[0] |= b.bytes.length == 0 ? 0 : lines((int) (b.physical & (PAGE - 1)), headLength(b)));
        region.codeLines[pageInRegion] = lines[0]; // as decode marked them
    }

    /**
     * Whether block {@code b}'s bytes in its own page hold one from offset {@code from} to {@code to}; a block of no
     * bytes (the interpreter's, where no op could start one) holds its start, so a store there decodes it again.
     */
    private static boolean holdsBytes(DecodedBlock b, int from, int to) {
        int start = (int) (b.physical & (PAGE - 1));
        return start < to && from < start + Math.max(1, headLength(b));
    }

    /** How many of block {@code b}'s bytes lie in its own page (the rest, if any, in its tail's). */
    private static int headLength(DecodedBlock b) {
        return Math.min(b.bytes.length, PAGE - (int) (b.physical & (PAGE - 1)));
    }

    /**
     * Drops the blocks that start in a page; the tails of other pages' blocks there stay, and so do its code lines,
     * which the caller clears or keeps: other cores read them unlocked, so they never pass through no lines on the way
     * to some ({@link CoreActivity#othersHoldCode}).
     */
    private void dropBlocks(Region region, int pageInRegion) {
        PageBlocks dropped = region.pages[pageInRegion];
        if (dropped != null) { // one a stale slot of the linear look-up still holds keeps no others alive
            dropped.forEach(b -> {
                insns -= b.insns.length; // a kernel patching its text drops and decodes its blocks again all boot long
                b.unlink();
            });
            region.pages[pageInRegion] = null;
            pages--;
        }
    }

    /**
     * Whether the page of {@code physical} (in RAM) holds decoded code: a store there is checked against it. Other
     * cores ask too ({@link CoreActivity#othersHoldCode}), unlocked: a region's arrays are final, a line set a long.
     */
    boolean holdsCode(long physical) {
        Region region = regions[(int) (physical >>> 21)];
        int pageInRegion = (int) (physical >>> 12) & 511;
        return region != null && codeLines(region, pageInRegion) != 0;
    }

    /** Whether {@code size} (1-16) bytes at {@code physical}, inside one page, reach a line of decoded code. */
    boolean holdsCodeAt(long physical, int size) {
        Region region = regions[(int) (physical >>> 21)];
        if (region == null) {
            return false;
        }
        long lines = codeLines(region, (int) (physical >>> 12) & 511);
        return (lines & touchedLines((int) (physical & (PAGE - 1)), size)) != 0;
    }

    /**
     * Whether {@code b}, linked from a block of its page, is the block for {@code physical}, still in the index, and
     * matches memory (compared once per epoch, as a look-up would): then it runs without a look-up. The blocks of a
     * page dropped by a store are {@link DecodedBlock#dropped}, and the chain that made the store ends; a flush leaves
     * no block from before it linked from any that runs after it.
     */
    boolean chainable(DecodedBlock b, long physical) {
        return b.physical == physical && !b.dropped && current(b, physical);
    }

    private static int linearSlot(long rip) {
        return (int) (rip ^ rip >>> 12) & (LINEAR_SLOTS - 1);
    }

    /**
     * The block last found at linear {@code rip} under a translation with {@code salt}, if it still matches memory
     * (compared once per epoch, as a look-up would); else null. The salt stands for the translation: same generation
     * and CPL class, same physical page.
     */
    DecodedBlock atLinear(long rip, long salt) {
        int i = linearSlot(rip);
        DecodedBlock b = linearBlock[i];
        if (b == null || linearRip[i] != rip || linearSalt[i] != (salt | forgotten)
                || linearGeneration[i] != generationOf(rip) || b.dropped || !current(b, b.physical)) {
            return null;
        }
        foundByLinear++;
        return b;
    }

    /** How many blocks {@link #atLinear(long, long)} found (for the tests). */
    long foundByLinear;

    /**
     * The block {@code last} went to in another page the last time, if it is still the block at linear {@code rip}
     * under a translation with {@code salt} (the check of a slot of {@link #atLinear(long, long)}, with no slot to look
     * up, the same generation of its page), in the index (not dropped by a store) and matching memory.
     */
    DecodedBlock crossLink(DecodedBlock last, long rip, long salt) {
        DecodedBlock b = last.crossTo;
        if (b == null || last.crossRip != rip || last.crossSalt != (salt | forgotten)
                || last.crossGeneration != generationOf(rip) || b.dropped || !current(b, b.physical)) {
            return null;
        }
        crossLinked++;
        return b;
    }

    /** {@code next}, in another page than {@code last}, ran after it at linear {@code rip} under {@code salt}. */
    void linkAcross(DecodedBlock last, long rip, long salt, DecodedBlock next) {
        last.crossTo = next;
        last.crossRip = rip;
        last.crossSalt = salt | forgotten;
        last.crossGeneration = generationOf(rip);
    }

    private int generationOf(long rip) {
        long page = rip >>> 12;
        return pageGeneration[(int) (page ^ page >>> 10) & (PAGE_GENERATIONS - 1)];
    }

    /**
     * The translation of the linear page of {@code linear} went (INVLPG): no block is found at a RIP in it, or in the
     * page before it (a block there may go on into this one), by its linear address until found again.
     */
    void forgetLinearPage(long linear) {
        for (long page = (linear >>> 12) - 1; page <= linear >>> 12; page++) {
            pageGeneration[(int) (page ^ page >>> 10) & (PAGE_GENERATIONS - 1)]++;
        }
    }

    /** How many blocks {@link #crossLink} found (for the tests). */
    long crossLinked;

    /** {@code b} is the block at linear {@code rip} under a translation with {@code salt}. */
    void atLinear(long rip, long salt, DecodedBlock b) {
        int i = linearSlot(rip);
        linearRip[i] = rip;
        linearSalt[i] = salt | forgotten;
        linearGeneration[i] = generationOf(rip);
        linearBlock[i] = b;
    }

    /** The cache was emptied, or a TLB generation comes round again: no block is found by its linear address until found again. */
    void forgetLinear() {
        forgotten++; // 2^53 times would reach the salt's bits: centuries at a million a second
    }

    /** Memory may have been written where the core cannot see: check each block against it before it runs again. */
    void newEpoch() {
        epoch++;
    }

    /** How many epochs began (for the tests). */
    long epochs() {
        return epoch;
    }
}

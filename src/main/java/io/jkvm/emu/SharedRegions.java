package io.jkvm.emu;

import io.jkvm.linux.Mapping;

import java.util.Arrays;
import java.util.Map;
import java.util.WeakHashMap;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The compiled regions of every vCPU over one guest RAM, by what they run: each vCPU finds its own regions from its
 * own decoded blocks, but a region of the same instructions at the same offsets is the same class, whichever vCPU
 * found it (its method takes the core it runs on as its argument). A vCPU whose block reaches the compile threshold,
 * or a sixteenth of it, and whose region another vCPU (or itself, before its code cache was emptied) compiled already
 * runs that class: no class built, no JIT compile, and its code is the JIT's warm code from the start. Linux runs the
 * same kernel code on each vCPU, as QEMU's vCPUs share one translation cache.
 */
final class SharedRegions {
    /** One per guest RAM, found by the mapping itself (identity). */
    private static final Map<Mapping, SharedRegions> BY_RAM = new WeakHashMap<>();
    /**
     * Regions kept at most; past them the table is emptied whole, as the code cache is (the classes still in use stay
     * with their blocks): it bounds the classes it holds on to beyond each vCPU's code cache (docs/limits.md).
     */
    static final int MAX_REGIONS = 4096;

    private final Map<Key, RegionCompiles.Pending.Made> made = new ConcurrentHashMap<>();

    /** What each core over the RAM is doing, for its epochs ({@link CoreActivity}). */
    final CoreActivity.Cores activity = new CoreActivity.Cores();

    private SharedRegions() {
    }

    /** The table of the vCPUs over {@code ram}, which a new core joins. */
    static SharedRegions join(Mapping ram) {
        synchronized (BY_RAM) {
            return BY_RAM.computeIfAbsent(ram, r -> new SharedRegions());
        }
    }

    /**
     * How many of the cores over the RAM have run: a core made but not yet run (a vCPU waiting for its STARTUP IPI)
     * has neither stored to code another core decoded nor compiled a class another could take.
     */
    private final java.util.concurrent.atomic.AtomicInteger running = new java.util.concurrent.atomic.AtomicInteger();

    /** A core begins to run guest code (once for each core). */
    void started() {
        running.incrementAndGet();
    }

    /** Whether more than one core has run. */
    boolean othersRan() {
        return running.get() > 1;
    }

    /** A region as a key: its blocks' instructions and offsets, compared by value. */
    static final class Key {
        private final BlockRegion region;
        private final int hash;

        Key(BlockRegion region) {
            this.region = region;
            this.hash = 31 * Arrays.deepHashCode(region.blocks()) + Arrays.hashCode(region.starts());
        }

        BlockRegion region() {
            return region;
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof Key k && k.hash == hash && k.region.entryCut() == region.entryCut()
                    && Arrays.equals(k.region.starts(), region.starts())
                    && Arrays.deepEquals(k.region.blocks(), region.blocks());
        }

        @Override
        public int hashCode() {
            return hash;
        }
    }

    /** The class made for a region of {@code key}'s instructions, or null. */
    RegionCompiles.Pending.Made find(Key key) {
        return made.get(key);
    }

    /** {@code m} was made for {@code key}'s region. */
    void add(Key key, RegionCompiles.Pending.Made m) {
        if (made.size() >= MAX_REGIONS) {
            made.clear();
        }
        made.put(key, m);
    }

    /** How many regions the table holds (for the tests). */
    int size() {
        return made.size();
    }
}

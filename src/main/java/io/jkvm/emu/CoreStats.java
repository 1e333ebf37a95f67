package io.jkvm.emu;

/**
 * Where one vCPU's software core retired its instructions, and what its two caches did: the figures to read a run's
 * speed by (a Linux boot spends most of its time in the few instructions its decoded blocks run; docs/benchmarks.md).
 *
 * @param instructions        every instruction retired
 * @param inCompiledRegions   those retired by compiled regions (JVM bytecode, {@link RegionCompilation})
 * @param regionCalls         how many times a compiled region was entered from the block executor
 * @param inDecodedBlocks     those retired by decoded blocks run op by op ({@link BlockExecution})
 * @param decodedBlockRuns    how many decoded blocks ran
 * @param instructionsDecoded instructions the decoded-block cache decoded, again after a flush or a store to code
 * @param cacheFlushes        how often the decoded-block cache was emptied whole (it is bounded; docs/limits.md)
 * @param regionsMade         regions this vCPU had compiled (others' classes it took over are not counted)
 */
public record CoreStats(long instructions, long inCompiledRegions, long regionCalls, long inDecodedBlocks,
                        long decodedBlockRuns, long instructionsDecoded, int cacheFlushes, long regionsMade) {

    /** Instructions retired one at a time by the interpreter: 16- and 32-bit code, single steps, the rest. */
    public long oneAtATime() {
        return instructions - inCompiledRegions - inDecodedBlocks;
    }

    /** One line for a person: the share of each tier and the caches' counts. */
    public String summary() {
        return String.format(java.util.Locale.ROOT,
                "%d instructions: %s in compiled regions (%d entries), %s in decoded blocks (%d runs), %s one at a time;"
                        + " %d decoded, %d cache flush%s, %d region%s compiled",
                instructions, share(inCompiledRegions), regionCalls, share(inDecodedBlocks), decodedBlockRuns,
                share(oneAtATime()), instructionsDecoded, cacheFlushes, cacheFlushes == 1 ? "" : "es", regionsMade,
                regionsMade == 1 ? "" : "s");
    }

    private String share(long part) {
        return instructions == 0 ? "0%" : String.format(java.util.Locale.ROOT, "%.1f%%", 100.0 * part / instructions);
    }
}

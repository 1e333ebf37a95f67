package io.jkvm.emu;

/**
 * A straight run of decoded instructions, entered at its first instruction and left at a taken branch, at its end, or
 * before an instruction the interpreter must run. It starts in one guest-physical page and may go on into the page
 * after it in linear order (its tail), as that translated when it was decoded: it runs only while it still does.
 */
final class DecodedBlock {
    /** The decoded instructions, in order. */
    final BlockOp[] insns;
    /** The same instructions as the decoded tier runs them. */
    final DecodedForm[] forms;
    /**
     * The bytes the decoder examined (the instructions', and those of the one it stopped at), to check the block
     * against memory written by someone the core does not see.
     */
    final byte[] bytes;
    /** Bit n set: instruction n sets flags before a store that may fault ({@link BlockOp#flagsBeforeStore}). */
    final long flagsBeforeStore;
    /** Whether the instruction right after the last one needs the interpreter (it runs next, in the same call). */
    final boolean endsBeforeSlow;
    /**
     * That instruction as the block decoder read it, when the interpreter may run it from this decoding
     * ({@link BlockDecoder#steppedAsDecoded}: the kernel's entries and exits, STI, the MSR and CPUID instructions);
     * null when it fetches and decodes it itself.
     */
    final Instruction slow;
    /** The {@link CodeCache} epoch in which {@link #bytes} last matched memory. */
    int checkedEpoch;
    /** How often it ran decoded; at the core's compile threshold it is compiled. */
    int runs;
    /** Its bytecode once compiled ({@link BlockCompiler}); dropped with the block. */
    CompiledBlock compiled;
    /** The core's retired instructions when it was decoded: how hot it is against the rest at the threshold. */
    long decodedAt;
    /** Its region's class while the compiler thread makes it ({@link RegionCompiles}). */
    RegionCompiles.Pending pending;
    /** Where it was decoded: a block reached by another's link ({@link #fellTo}) must still be the block there. */
    final long physical;
    /** The physical base of the page its bytes go on into past its own page's end, or -1: it ends in its page. */
    final long tailPhysical;
    /**
     * The last blocks of its own page that ran after it when it ended at its end (or before a slow form), and the last
     * two it branched to (its Jccs and the branch it ends with may each be taken).
     */
    DecodedBlock fellTo, branchedTo, branchedBefore;
    /**
     * The last block of another page that ran after it, with the linear RIP it ran at, the translation's salt then and
     * the generation of that linear page ({@link CodeCache#crossLink}: valid as a slot of the look-up by linear address is).
     */
    DecodedBlock crossTo;
    long crossRip, crossSalt;
    int crossGeneration;
    /** The other blocks its compiled method runs: their bytes are checked with its own. */
    DecodedBlock[] regionBlocks;
    /**
     * The pages besides its own its compiled method runs blocks of, as pairs: the linear page's distance from its own,
     * and the physical page that translated to when the region was found (it runs the method only while they still
     * do); null when its region lies in its own page.
     */
    long[] regionPages;

    /** Set when it left the cache's index (decoded again, or its page dropped): a link to it leads nowhere then. */
    boolean dropped;

    /** It leaves the cache's index: its links go (no older block stays reachable through it), and links to it fail. */
    void unlink() {
        fellTo = null;
        branchedTo = null;
        branchedBefore = null;
        crossTo = null;
        dropped = true;
    }

    DecodedBlock(BlockOp[] insns, byte[] bytes, boolean endsBeforeSlow, int checkedEpoch, long physical) {
        this(insns, bytes, endsBeforeSlow, null, checkedEpoch, physical, -1);
    }

    DecodedBlock(BlockOp[] insns, byte[] bytes, boolean endsBeforeSlow, Instruction slow, int checkedEpoch, long physical,
                 long tailPhysical) {
        this.insns = insns;
        this.slow = slow;
        DecodedForm[] forms = new DecodedForm[insns.length];
        for (int n = 0; n < insns.length; n++) {
            forms[n] = DecodedArithmetic.inBlock(insns, n);
        }
        this.forms = forms;
        this.physical = physical;
        this.tailPhysical = tailPhysical;
        long before = 0;
        for (int n = 0; n < insns.length; n++) {
            before |= insns[n].flagsBeforeStore() ? 1L << n : 0;
        }
        this.flagsBeforeStore = before;
        this.bytes = bytes;
        this.endsBeforeSlow = endsBeforeSlow;
        this.checkedEpoch = checkedEpoch;
    }
}

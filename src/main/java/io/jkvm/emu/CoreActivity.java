package io.jkvm.emu;

import java.util.Arrays;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Which cores over one guest RAM may have stored to its decoded code since a core last compared that code with memory
 * (its last code-cache epoch). A serializing instruction must show this core code another core wrote before it. None
 * did when every other core has waited in HLT since the last epoch, not woken once (a one-process guest on two vCPUs,
 * the other idle); nor when no core stored over another's decoded code, as QEMU tracks its translated pages: a core's
 * stores there go the full way, which counts them ({@link #storedOverOthersCode}), since a page gets decoded code in
 * one core only after every other core has given up its direct stores to it ({@link #marksToAcknowledge}).
 */
final class CoreActivity {
    /** The cores of one RAM, one for each vCPU id: a vCPU remade on the core after a move takes its old one's place. */
    static final class Cores {
        /** Replaced whole at each change, so an epoch can tell the set it saw is still the set. */
        private volatile CoreActivity[] all = new CoreActivity[0];
        /** Pages that got decoded code in a core, counted: each asks the others to drop their direct stores. */
        private final AtomicLong codeMarks = new AtomicLong();
        /** Stores a core made over code another core decoded, counted. */
        private final AtomicLong codeStores = new AtomicLong();

        /** A core with no decoded code the others' stores need to look at (for the tests). */
        CoreActivity join() {
            return join(null);
        }

        /** The core whose decoded blocks are {@code code}: the others' stores look there for them. */
        synchronized CoreActivity join(CodeCache code) {
            CoreActivity a = new CoreActivity(this, code);
            CoreActivity[] now = Arrays.copyOf(all, all.length + 1);
            now[now.length - 1] = a;
            all = now;
            return a;
        }

        /** How many cores the set holds (for the tests). */
        int count() {
            return all.length;
        }

        /** {@code a} is vCPU {@code id}'s: a core that was that vCPU's before leaves the set. */
        synchronized void identify(CoreActivity a, int id) {
            a.vcpu = id;
            all = Arrays.stream(all).filter(c -> c == a || c.vcpu != id).toArray(CoreActivity[]::new);
        }
    }

    /** A wake count no core has: the core was awake at the epoch. */
    private static final long AWAKE = -1;

    private final Cores cores;
    /** This core's decoded blocks, or null. */
    private final CodeCache code;
    /** The vCPU this core is, or -1 (a core the tests make alone). */
    private int vcpu = -1;
    /** The code marks this core has seen and dropped its direct stores for: it stores over no code unseen since. */
    private volatile long marksSeen;
    /** The code marks and the stores over code at this core's last check, and whether the others had seen the marks. */
    private long marksAtCheck = -1, storesAtCheck;
    private boolean othersCleanAtCheck;
    /** How many times this core woke from HLT: each wake may be followed by stores. */
    private volatile long wakes;
    /** Whether this core waits in HLT now: it set this after its last store, and clears it before its next. */
    private volatile boolean asleep;
    /** The cores as this one's last epoch saw them, and each one's wake count then if it was asleep, else AWAKE. */
    private CoreActivity[] coresAtEpoch;
    private long[] asleepWakesAtEpoch;

    private CoreActivity(Cores cores, CodeCache code) {
        this.cores = cores;
        this.code = code;
    }

    /** This core is vCPU {@code id}'s, in place of any core that was before. */
    void isVcpu(int id) {
        cores.identify(this, id);
    }

    /** This core waits in HLT from now on (after its last store). */
    void sleeps() {
        asleep = true;
    }

    /** This core woke from HLT (before its first store). */
    void wakes() {
        wakes++; // one writer: this core's thread
        asleep = false;
    }

    /**
     * Whether another core may have stored since this one's last epoch: it was awake then, it is awake now, or it woke
     * in between (each count read before the flag, so a wake between the two reads shows in the count next time).
     */
    boolean othersMayHaveStored() {
        CoreActivity[] all = cores.all;
        if (all != coresAtEpoch) {
            return true;
        }
        for (int i = 0; i < all.length; i++) {
            CoreActivity other = all[i];
            long seen = asleepWakesAtEpoch[i];
            if (other != this && (seen == AWAKE || other.wakes != seen || !other.asleep)) {
                return true;
            }
        }
        return false;
    }

    /** This core begins an epoch: what the others are doing now is what its next check compares with. */
    void epochBegins() {
        CoreActivity[] all = cores.all;
        long[] seen = new long[all.length];
        for (int i = 0; i < all.length; i++) {
            long w = all[i].wakes;
            seen[i] = all[i].asleep ? w : AWAKE;
        }
        coresAtEpoch = all;
        asleepWakesAtEpoch = seen;
    }

    /**
     * This core decoded code in a page that had none (its lines are set, its own direct stores there dropped): the
     * others drop theirs. A core that had seen every mark before has seen its own.
     */
    void codePageAdded() {
        long marks = cores.codeMarks.incrementAndGet();
        if (marks - 1 == marksSeen) {
            marksSeen = marks;
        }
    }

    /**
     * The code marks this core has to acknowledge (by dropping its direct stores, then {@link #acknowledged}), or -1
     * when it has seen them all. A core checks between its chains of blocks and as it wakes from HLT, before it stores.
     */
    long marksToAcknowledge() {
        long marks = cores.codeMarks.get();
        return marks == marksSeen ? -1 : marks;
    }

    /** This core dropped its direct stores after {@code marks} code marks: its stores over code since were counted. */
    void acknowledged(long marks) {
        marksSeen = marks;
    }

    /**
     * Whether another core holds decoded code in the page of {@code physical}: this core's stores there must go the
     * full way. Reads the others' line sets unlocked: a page marked after this core's last acknowledgment may be
     * missed, and the marking core's next check then sees this core has not acknowledged it.
     */
    boolean othersHoldCode(long physical) {
        for (CoreActivity other : cores.all) {
            if (other != this && other.code != null && other.code.holdsCode(physical)) {
                return true;
            }
        }
        return false;
    }

    /** Whether a store of {@code size} bytes at {@code physical} reaches a line of another core's decoded code. */
    boolean othersHoldCodeAt(long physical, int size) {
        for (CoreActivity other : cores.all) {
            if (other != this && other.code != null && other.code.holdsCodeAt(physical, size)) {
                return true;
            }
        }
        return false;
    }

    /** This core stored over code another core decoded (after the store). */
    void storedOverOthersCode() {
        cores.codeStores.incrementAndGet();
    }

    /**
     * Whether code this core decoded may have been stored over by another core unseen since its last check: a core
     * stored over another's code, a page got code since (another core may have stored there directly before it
     * acknowledged), or another core awake has not acknowledged every mark, now or at the last check.
     */
    boolean othersMayHaveChangedCode() {
        long marks = cores.codeMarks.get(), stores = cores.codeStores.get();
        boolean clean = true;
        for (CoreActivity other : cores.all) {
            if (other != this && !other.asleep && other.marksSeen != marks) {
                clean = false; // it may store through a direct page it had before the page got code
                break;
            }
        }
        boolean changed = marks != marksAtCheck || stores != storesAtCheck || !othersCleanAtCheck || !clean;
        marksAtCheck = marks;
        storesAtCheck = stores;
        othersCleanAtCheck = clean;
        return changed;
    }
}

package io.jkvm.emu;

import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * Which cores over one guest RAM may have stored to it since a core last compared its decoded code with memory (its
 * last code-cache epoch): one that has waited in HLT since then, not woken once, stored nothing. A serializing
 * instruction must show this core code another core wrote before it; with every other core asleep since the last
 * epoch there is none, and a one-process guest on two vCPUs (the other idle) begins no epoch at each IRET.
 */
final class CoreActivity {
    /** The cores of one RAM, in the order they joined. */
    static final class Cores {
        private final List<CoreActivity> all = new CopyOnWriteArrayList<>();

        CoreActivity join() {
            CoreActivity a = new CoreActivity(this);
            all.add(a);
            return a;
        }
    }

    private final Cores cores;
    /** How many times this core woke from HLT: each wake may be followed by stores. */
    private volatile long wakes;
    /** Whether this core waits in HLT now: it set this after its last store, and clears it before its next. */
    private volatile boolean asleep;
    /** At this core's last epoch, each other core's wake count, and whether it was asleep; null before the first. */
    private long[] wakesAtEpoch;
    private boolean[] asleepAtEpoch;

    private CoreActivity(Cores cores) {
        this.cores = cores;
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
        List<CoreActivity> all = cores.all;
        long[] seenWakes = wakesAtEpoch;
        if (seenWakes == null || seenWakes.length != all.size()) {
            return true;
        }
        for (int i = 0; i < seenWakes.length; i++) {
            CoreActivity other = all.get(i);
            if (other != this && (!asleepAtEpoch[i] || other.wakes != seenWakes[i] || !other.asleep)) {
                return true;
            }
        }
        return false;
    }

    /** This core begins an epoch: what the others are doing now is what its next check compares with. */
    void epochBegins() {
        List<CoreActivity> all = cores.all;
        long[] w = new long[all.size()];
        boolean[] a = new boolean[w.length];
        for (int i = 0; i < w.length; i++) {
            CoreActivity other = all.get(i);
            w[i] = other.wakes;
            a[i] = other.asleep;
        }
        wakesAtEpoch = w;
        asleepAtEpoch = a;
    }
}

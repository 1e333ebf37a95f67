package io.jkvm.emu;

import java.util.Arrays;

/**
 * Which cores over one guest RAM may have stored to it since a core last compared its decoded code with memory (its
 * last code-cache epoch): one that has waited in HLT since then, not woken once, stored nothing. A serializing
 * instruction must show this core code another core wrote before it; with every other core asleep since the last
 * epoch there is none, and a one-process guest on two vCPUs (the other idle) begins no epoch at each IRET.
 */
final class CoreActivity {
    /** The cores of one RAM, one for each vCPU id: a vCPU remade on the core after a move takes its old one's place. */
    static final class Cores {
        /** Replaced whole at each change, so an epoch can tell the set it saw is still the set. */
        private volatile CoreActivity[] all = new CoreActivity[0];

        synchronized CoreActivity join() {
            CoreActivity a = new CoreActivity(this);
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
    /** The vCPU this core is, or -1 (a core the tests make alone). */
    private int vcpu = -1;
    /** How many times this core woke from HLT: each wake may be followed by stores. */
    private volatile long wakes;
    /** Whether this core waits in HLT now: it set this after its last store, and clears it before its next. */
    private volatile boolean asleep;
    /** The cores as this one's last epoch saw them, and each one's wake count then if it was asleep, else AWAKE. */
    private CoreActivity[] coresAtEpoch;
    private long[] asleepWakesAtEpoch;

    private CoreActivity(Cores cores) {
        this.cores = cores;
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
}

package io.jkvm.devices;

/**
 * How far a vCPU has got, so a timer does not run out before its guest had the time to reach anything: on the
 * software core a cold JVM can take longer than a short timer count to run a few hundred guest instructions, which
 * no real CPU does (a guest that arms a 1 ms timer and then HLTs expects to be halted when it fires).
 */
public interface GuestProgress {
    /** How far the vCPU is now, to compare with later. */
    Mark mark();

    /**
     * The instructions the vCPU has retired since {@code mark}; {@link Long#MAX_VALUE} when it has waited for an
     * interrupt since, or cannot say (it runs on KVM, or was replaced): time it spent then counts in full.
     */
    long retiredSince(Mark mark);

    /** Whether, since {@code mark}, the vCPU has retired at least {@code instructions} or waited: a timer due may fire. */
    default boolean reached(Mark mark, long instructions) {
        return retiredSince(mark) >= instructions;
    }

    /** The vCPU as it was, the instructions it had retired (-1 where they are not counted) and its waits for an interrupt. */
    record Mark(Object vcpu, long instructions, long waits) {
    }

    /** Progress that is always enough: timers run on host time alone. */
    GuestProgress HOST_TIME = new GuestProgress() {
        @Override
        public Mark mark() {
            return new Mark(null, -1, -1);
        }

        @Override
        public long retiredSince(Mark mark) {
            return Long.MAX_VALUE;
        }
    };
}

package io.jkvm.emu;

/**
 * The core's time-stamp counter: the host's monotonic clock scaled to the rate the vCPU's TSC counts at, plus an
 * offset that WRMSR IA32_TSC sets. 1 GHz by default, where the counter is the clock in nanoseconds. IA32_TSC_ADJUST
 * follows the guest's changes as the SDM gives it (17.17.3): a guest's WRMSR to either adds the same difference to
 * the other; the machine's own writes (a restore) set each alone, as KVM's host-initiated writes do.
 */
final class TimeStampCounter {
    static final long DEFAULT_KHZ = 1_000_000;
    private static final long NANOS_PER_SECOND = 1_000_000_000L;

    private long khz = DEFAULT_KHZ;
    private long offset;
    private long adjust;

    long khz() {
        return khz;
    }

    long read() {
        return at(System.nanoTime());
    }

    /** The value the counter has at host time {@code hostNanos} (System.nanoTime), unless written before then. */
    long at(long hostNanos) {
        return ticks(hostNanos, khz) + offset;
    }

    /** The machine sets the counter (a restore): IA32_TSC_ADJUST stays as it is. */
    void write(long value) {
        offset = value - ticks(System.nanoTime(), khz);
    }

    /** The guest's WRMSR IA32_TSC: IA32_TSC_ADJUST changes by as much as the counter does. */
    void guestWrite(long value) {
        long before = read();
        write(value);
        adjust += value - before;
    }

    long adjust() {
        return adjust;
    }

    /** The machine sets IA32_TSC_ADJUST (a restore): the counter stays as it is. */
    void setAdjust(long value) {
        adjust = value;
    }

    /** The guest's WRMSR IA32_TSC_ADJUST: the counter changes by as much as the MSR does. */
    void guestWriteAdjust(long value) {
        offset += value - adjust;
        adjust = value;
    }

    /** Counts at {@code newKhz} from now on, going on from the value it has now. */
    void setKhz(long newKhz) {
        if (newKhz <= 0) {
            throw new IllegalArgumentException("a TSC rate must be positive, not " + newKhz + " kHz");
        }
        long now = System.nanoTime();
        long value = ticks(now, khz) + offset;
        khz = newKhz;
        offset = value - ticks(now, khz);
    }

    /** {@code nanos} of the clock in ticks at {@code khz}, split at whole seconds so the product cannot overflow. */
    static long ticks(long nanos, long khz) {
        if (khz == DEFAULT_KHZ) {
            return nanos;
        }
        long seconds = Math.floorDiv(nanos, NANOS_PER_SECOND);
        long rest = Math.floorMod(nanos, NANOS_PER_SECOND);
        return seconds * khz * 1000 + rest * khz / 1_000_000;
    }
}

package io.jkvm.devices;

/**
 * A device clock's ticks in a span of the host's monotonic nanoseconds, exact: whole seconds and the rest are scaled
 * apart, since nanoseconds × a few MHz overflow a long within hours (the PIT's 1.19 MHz in 2.1 h, the PM timer's
 * 3.58 MHz in 43 min). For rates below 9 GHz.
 */
final class ClockTicks {
    private static final long NANOS_PER_SECOND = 1_000_000_000L;

    private ClockTicks() {
    }

    static long in(long nanos, long hz) {
        long seconds = Math.floorDiv(nanos, NANOS_PER_SECOND), rest = Math.floorMod(nanos, NANOS_PER_SECOND);
        return seconds * hz + rest * hz / NANOS_PER_SECOND;
    }
}

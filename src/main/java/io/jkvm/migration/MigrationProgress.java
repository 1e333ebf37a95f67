package io.jkvm.migration;

/**
 * Where a pre-copy round leaves a live migration: what went out, how fast, how fast the guest dirties memory, and
 * the downtime a stop-and-copy would take now. Its line is what `info` and the source's terminal show.
 */
public record MigrationProgress(int round, long pagesSent, long bytesSent, double megabytesPerSecond, long dirtyPages,
                                long dirtyPagesPerSecond, long expectedDowntimeMillis) {
    public String line() {
        return String.format("round %d: %d pages (%.1f MB) sent at %.1f MB/s; %d dirty, dirtied at %d pages/s; "
                        + "expected downtime %d ms", round, pagesSent, bytesSent / 1e6, megabytesPerSecond, dirtyPages,
                dirtyPagesPerSecond, expectedDowntimeMillis);
    }
}

package io.jkvm.migration;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** The progress line `info` and the source's terminal show for a pre-copy round. */
class MigrationProgressTest {
    @Test
    void aRoundSaysWhatWentOutHowFastAndTheDowntimeItExpects() {
        MigrationProgress p = new MigrationProgress(2, 16_400, 67_305_600, 512.25, 300, 1_500, 3);
        assertEquals("round 2: 16400 pages (67.3 MB) sent at 512.3 MB/s; 300 dirty, dirtied at 1500 pages/s; "
                + "expected downtime 3 ms", p.line());
    }
}

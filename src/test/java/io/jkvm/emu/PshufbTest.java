package io.jkvm.emu;

import org.junit.jupiter.api.Test;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * PSHUFB's byte selection ({@link SseLanes#shuffled}) against the SDM's definition byte by byte: selectors that rotate
 * each 32-bit lane (which take a shorter path) from either source quadword, the same with a byte zeroed or taken from
 * the other quadword (which must not), and random ones.
 */
class PshufbTest {
    /** The SDM: result byte i is 0 if selector byte i has bit 7 set, else source byte (selector & 15) of lo:hi. */
    private static long reference(long lo, long hi, long selectors) {
        long out = 0;
        for (int i = 0; i < 8; i++) {
            int sel = (int) (selectors >>> (8 * i)) & 0xFF;
            if ((sel & 0x80) == 0) {
                int index = sel & 15;
                long source = index < 8 ? lo : hi;
                out |= (source >>> (8 * (index & 7)) & 0xFF) << (8 * i);
            }
        }
        return out;
    }

    @Test
    void laneRotationsAndTheirNeighboursSelectAsTheManualSays() {
        long lo = 0x0807060504030201L, hi = 0x100F0E0D0C0B0A09L;
        long[] rotations = {0x0605040702010003L, 0x0504070601000302L, 0x0407060500030201L};
        for (long rotation : rotations) {
            for (long selectors : new long[] {rotation, rotation | 0x0808080808080808L, rotation | 0x80,
                    rotation | 0x0800, rotation | 0x8000000000000000L, rotation ^ 0x01}) {
                assertEquals(reference(lo, hi, selectors), SseLanes.shuffled(lo, hi, selectors),
                        "selectors " + Long.toHexString(selectors));
            }
        }
        // ChaCha20's rotation by 16 of the lanes 0x04030201 and 0x08070605
        assertEquals(0x0605080702010403L, SseLanes.shuffled(lo, hi, 0x0504070601000302L));
    }

    @Test
    void randomSelectorsSelectAsTheManualSays() {
        Random random = new Random(0x5053485542L);
        for (int n = 0; n < 20_000; n++) {
            long lo = random.nextLong(), hi = random.nextLong(), selectors = random.nextLong();
            assertEquals(reference(lo, hi, selectors), SseLanes.shuffled(lo, hi, selectors));
        }
    }
}

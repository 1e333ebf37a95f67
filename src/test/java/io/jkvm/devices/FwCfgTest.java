package io.jkvm.devices;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class FwCfgTest {
    @Test
    void theItemsGiveTheSignatureCpusAndRam() {
        FwCfg f = new FwCfg(128L << 20, 3);
        f.write(0, 2, 0x00);
        StringBuilder signature = new StringBuilder();
        for (int i = 0; i < 4; i++) {
            signature.append((char) f.read(1, 1));
        }
        assertEquals("QEMU", signature.toString());
        f.write(0, 2, 0x05);
        assertEquals(3, f.read(1, 1) | f.read(1, 1) << 8);
        f.write(0, 2, 0x03);
        long ram = 0;
        for (int i = 0; i < 8; i++) {
            ram |= f.read(1, 1) << (8 * i);
        }
        assertEquals(128L << 20, ram);
        f.write(0, 2, 0x1234);
        assertEquals(0, f.read(1, 1), "an unknown key reads as zeros");
    }

    @Test
    void readingOnPastAnItemsEndStaysZeroAndKeepsTheOffsetBounded() {
        FwCfg f = new FwCfg(128L << 20, 3);
        f.write(0, 2, 0x00);
        for (int i = 0; i < 300_000; i++) { // a guest that reads on for ever must not count the offset past an int
            f.read(1, 4);
        }
        assertEquals(0, f.read(1, 4));
        assertTrue(f.save().offset() <= 0x10000, "offset " + f.save().offset());
        f.restore(f.save());
        f.write(0, 2, 0x00);
        assertEquals('Q' | 'E' << 8 | 'M' << 16 | 'U' << 24, f.read(1, 4), "a new selection starts the item again");
    }
}

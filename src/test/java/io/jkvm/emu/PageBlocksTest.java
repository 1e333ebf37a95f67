package io.jkvm.emu;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;

/**
 * A page's decoded blocks by offset: found where put, replaced at the same offset, kept across the table's growth,
 * gone once removed.
 */
class PageBlocksTest {
    private static final long PAGE_BASE = 0x7000;

    private static DecodedBlock blockAt(int offset) {
        return new DecodedBlock(new BlockOp[0], new byte[0], false, 0, PAGE_BASE + offset);
    }

    @Test
    void everyOffsetOfAPageFindsItsOwnBlock() {
        PageBlocks page = new PageBlocks();
        List<DecodedBlock> put = new ArrayList<>();
        for (int offset = 0; offset < CodeCache.PAGE; offset++) { // a block at every byte: the table's largest
            DecodedBlock b = blockAt(offset);
            assertNull(page.put(b));
            put.add(b);
        }
        assertEquals(CodeCache.PAGE, page.size());
        for (int offset = 0; offset < CodeCache.PAGE; offset++) {
            assertSame(put.get(offset), page.get(offset), "offset " + offset);
        }
        Set<DecodedBlock> seen = new HashSet<>();
        page.forEach(seen::add);
        assertEquals(new HashSet<>(put), seen);
    }

    @Test
    void aBlockDecodedAgainReplacesTheStaleOne() {
        PageBlocks page = new PageBlocks();
        DecodedBlock stale = blockAt(0x123), other = blockAt(0x124), fresh = blockAt(0x123);
        page.put(stale);
        page.put(other);
        assertSame(stale, page.put(fresh), "the replaced block is returned, to be unlinked");
        assertSame(fresh, page.get(0x123));
        assertSame(other, page.get(0x124));
        assertEquals(2, page.size());
    }

    @Test
    void removedBlocksAreFoundNoMoreAndTheOthersStay() {
        PageBlocks page = new PageBlocks();
        for (int offset = 0; offset < 200; offset++) {
            page.put(blockAt(offset * 7));
        }
        page.removeIf(b -> (b.physical - PAGE_BASE) % 2 == 0); // the even offsets go
        assertEquals(100, page.size());
        for (int offset = 0; offset < 200; offset++) {
            DecodedBlock b = page.get(offset * 7);
            if (offset * 7 % 2 == 0) {
                assertNull(b, "offset " + offset * 7);
            } else {
                assertEquals(PAGE_BASE + offset * 7, b.physical, "offset " + offset * 7);
            }
        }
        page.put(blockAt(0));
        assertEquals(101, page.size(), "a block put again after the removal counts once");
    }

    @Test
    void offsetsWithNoBlockFindNone() {
        PageBlocks page = new PageBlocks();
        for (int offset = 0; offset < CodeCache.PAGE; offset += 37) {
            page.put(blockAt(offset));
        }
        for (int offset = 0; offset < CodeCache.PAGE; offset++) {
            DecodedBlock b = page.get(offset);
            if (offset % 37 == 0) {
                assertEquals(PAGE_BASE + offset, b.physical);
            } else {
                assertNull(b, "offset " + offset);
            }
        }
    }
}

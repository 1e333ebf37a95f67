package io.jkvm.kvm;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** KVM's bitmap order: page p is bit p % 64 of 64-bit word p / 64, words rounded up. */
class DirtyBitmapTest {

    @Test
    void pagesAreBitsOfLittleEndianWords() {
        DirtyBitmap b = new DirtyBitmap(2, 0x100000, 130, new long[] {1L | 1L << 63, 1L, 1L << 1});
        assertArrayEquals(new long[] {0, 63, 64, 129}, b.dirtyPages());
        assertArrayEquals(new long[] {0x100000, 0x13F000, 0x140000, 0x181000}, b.dirtyAddresses());
        assertEquals(4, b.count());
        assertTrue(b.isDirty(63));
        assertFalse(b.isDirty(62));
        assertThrows(IndexOutOfBoundsException.class, () -> b.isDirty(130));
        assertEquals("slot 2: 4 of 130 pages dirty [0x100000, 0x13f000, 0x140000, 0x181000]", b.toString());
    }

    @Test
    void wordsAreRoundedUpAndCopied() {
        assertEquals(0, DirtyBitmap.wordsFor(0));
        assertEquals(1, DirtyBitmap.wordsFor(64));
        assertEquals(2, DirtyBitmap.wordsFor(65));
        assertThrows(IllegalArgumentException.class, () -> new DirtyBitmap(0, 0, 65, new long[1]));
        long[] words = {5};
        DirtyBitmap b = new DirtyBitmap(0, 0, 3, words);
        words[0] = 0;
        assertEquals(2, b.count());
        b.words()[0] = 0;
        assertEquals(2, b.count());
        assertEquals(b, new DirtyBitmap(0, 0, 3, new long[] {5}));
        assertTrue(new DirtyBitmap(0, 0, 0, new long[0]).isEmpty());
    }
}

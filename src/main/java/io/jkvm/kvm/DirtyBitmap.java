package io.jkvm.kvm;

import java.util.Arrays;
import java.util.stream.LongStream;

/**
 * The dirty log of one memory slot as KVM_GET_DIRTY_LOG returns it: bit {@code p % 64} of {@code words[p / 64]} is
 * page {@code p} of the slot (4 KiB pages counted from the slot's first guest-physical address), set when the guest
 * wrote that page (or KVM wrote it for the guest, e.g. accessed/dirty bits in its page tables) since the log was last
 * cleared. Writes the VMM makes through its own mapping of guest memory never appear here.
 */
public record DirtyBitmap(int slot, long guestPhysical, long pages, long[] words) {
    public static final long PAGE_SIZE = 4096;

    public DirtyBitmap {
        if (pages < 0 || words.length != wordsFor(pages)) {
            throw new IllegalArgumentException("a bitmap of " + pages + " pages has " + wordsFor(pages) + " words, not " + words.length);
        }
        words = words.clone();
    }

    /** 64-bit words KVM writes for a slot of {@code pages} pages (it rounds up to a whole word). */
    public static int wordsFor(long pages) {
        return Math.toIntExact((pages + 63) / 64);
    }

    @Override
    public long[] words() {
        return words.clone();
    }

    public boolean isDirty(long page) {
        if (page < 0 || page >= pages) {
            throw new IndexOutOfBoundsException("page " + page + " of a slot of " + pages + " pages");
        }
        return (words[(int) (page >>> 6)] & (1L << page)) != 0;
    }

    /** How many pages are dirty. */
    public long count() {
        long n = 0;
        for (long w : words) {
            n += Long.bitCount(w);
        }
        return n;
    }

    public boolean isEmpty() {
        return count() == 0;
    }

    /** The dirty pages' numbers within the slot, ascending. */
    public long[] dirtyPages() {
        return LongStream.range(0, pages).filter(this::isDirty).toArray();
    }

    /** The dirty pages' guest-physical addresses, ascending. */
    public long[] dirtyAddresses() {
        return Arrays.stream(dirtyPages()).map(p -> guestPhysical + p * PAGE_SIZE).toArray();
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof DirtyBitmap b && b.slot == slot && b.guestPhysical == guestPhysical && b.pages == pages
                && Arrays.equals(b.words, words);
    }

    @Override
    public int hashCode() {
        return Long.hashCode(guestPhysical) * 31 + Arrays.hashCode(words);
    }

    @Override
    public String toString() {
        StringBuilder s = new StringBuilder("slot " + slot + ": " + count() + " of " + pages + " pages dirty");
        long[] dirty = dirtyAddresses();
        for (int i = 0; i < Math.min(dirty.length, 16); i++) {
            s.append(i == 0 ? " [" : ", ").append("0x").append(Long.toHexString(dirty[i]));
        }
        return dirty.length == 0 ? s.toString() : s.append(dirty.length > 16 ? ", ...]" : "]").toString();
    }
}

package io.jkvm.x86;

import java.util.ArrayList;
import java.util.List;

/**
 * Where a guest's RAM sits in guest-physical space: {@code below} bytes from 0, and {@code above} bytes from 4 GiB.
 * A PC keeps RAM below its 32-bit MMIO window (the local and I/O APICs, PCI, the firmware) at 3 GiB and puts the
 * rest above 4 GiB; a flat guest has all its RAM from 0. Host memory mirrors guest-physical space one to one, so the
 * window between the two (the hole) is never RAM, and {@link #span()} is how far the host mapping reaches.
 */
public record RamLayout(long below, long above) {
    /** Where a PC's 32-bit MMIO window begins: RAM below 4 GiB ends here at the latest. */
    public static final long MMIO_WINDOW = 3L << 30;
    /** Where RAM resumes above the window. */
    public static final long HIGH_RAM = 1L << 32;

    public RamLayout {
        if (below <= 0 || above < 0 || below % 4096 != 0 || above % 4096 != 0) {
            throw new IllegalArgumentException("RAM of " + below + " bytes from 0 and " + above + " at 4 GiB");
        }
        if (above > 0 && below > MMIO_WINDOW) {
            throw new IllegalArgumentException("RAM below 4 GiB reaches into the MMIO window at 3 GiB");
        }
    }

    /** All {@code size} bytes from 0, as a flat guest has them. */
    public static RamLayout flat(long size) {
        return new RamLayout(size, 0);
    }

    /** {@code size} bytes laid out as a PC's: up to 3 GiB from 0, the rest from 4 GiB. */
    public static RamLayout pc(long size) {
        long below = Math.min(size, MMIO_WINDOW);
        return new RamLayout(below, size - below);
    }

    /**
     * The PC layout whose host mapping reaches {@code span} bytes (a snapshot's memory file, a migration's memory),
     * or null when no PC layout has that span (it would end inside the hole).
     */
    public static RamLayout pcOfSpan(long span) {
        if (span <= MMIO_WINDOW) {
            return flat(span);
        }
        return span > HIGH_RAM ? new RamLayout(MMIO_WINDOW, span - HIGH_RAM) : null;
    }

    /** The guest's RAM in bytes. */
    public long size() {
        return below + above;
    }

    /** Bytes of guest-physical space from 0 to the end of RAM: the host mapping's size. */
    public long span() {
        return above == 0 ? below : HIGH_RAM + above;
    }

    /** Where RAM above 4 GiB ends (0: there is none, so a check against it fails without asking {@link #above}). */
    public long highEnd() {
        return above == 0 ? 0 : HIGH_RAM + above;
    }

    /** Whether {@code length} bytes at {@code physical} are all RAM (none in the hole, none past the end). */
    public boolean contains(long physical, long length) {
        if (physical < 0 || length < 0) {
            return false;
        }
        return physical + length <= below || physical >= HIGH_RAM && physical + length <= highEnd();
    }

    /** One stretch of RAM in guest-physical space. */
    public record Range(long start, long length) {
        public long end() {
            return start + length;
        }
    }

    /** The RAM ranges, lowest first. */
    public List<Range> ranges() {
        List<Range> r = new ArrayList<>(2);
        r.add(new Range(0, below));
        if (above > 0) {
            r.add(new Range(HIGH_RAM, above));
        }
        return List.copyOf(r);
    }
}

package io.jkvm.emu;

import io.jkvm.x86.Segment;

/**
 * The checks a data access makes against its segment outside 64-bit mode (SDM vol. 3, 5.3 and 5.4): the offset's
 * last byte within the limit, or above it for an expand-down segment (up to 64 KiB or 4 GiB by its B bit); in
 * protected and compatibility mode also no access through a null (unusable) segment, no write to a read-only data
 * or a code segment, no read of an execute-only one. A failing access through SS is #SS(0), any other #GP(0).
 */
final class SegmentChecks {
    private SegmentChecks() {
    }

    static void check(Core c, int sreg, long offset, int size, boolean write) {
        Segment s = c.segments[sreg];
        int vector = sreg == SegmentLoads.SS ? GuestFault.SS : GuestFault.GP;
        int type = s.type();
        boolean code = (type & 8) != 0;
        if (c.protectedMode()) {
            if (s.unusable() || write && (code || (type & 2) == 0) || !write && code && (type & 2) == 0) {
                throw GuestFault.withCode(vector, 0);
            }
        }
        long limit = s.limit() & 0xFFFFFFFFL;
        long last = offset + size - 1;
        if (!code && (type & 4) != 0) { // expand-down: the valid offsets are those above the limit
            if (offset <= limit || last > (s.db() ? 0xFFFFFFFFL : 0xFFFF)) {
                throw GuestFault.withCode(vector, 0);
            }
        } else if (last > limit) {
            throw GuestFault.withCode(vector, 0);
        }
    }
}

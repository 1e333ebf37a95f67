package io.jkvm.emu;

import io.jkvm.x86.Segment;

/** The stack segment a privilege change loads (interrupts, IRET, far RET) and what such a change does to the others. */
final class Stacks {
    private Stacks() {
    }

    /**
     * The SS a change to {@code cpl} may load: a writable data segment whose RPL and DPL are {@code cpl}, else
     * {@code vector}(selector) (#TS for an interrupt's TSS stack, #GP for IRET and RET); not present is #SS(selector).
     */
    static Segment checkedStack(Core c, int selector, int cpl, int vector) {
        int code = selector & 0xFFFC;
        if (code == 0) {
            throw GuestFault.withCode(vector, 0);
        }
        long address = SegmentLoads.descriptorAddress(c, selector);
        long descriptor = c.supervisorRead(address, 8);
        Segment s = SegmentLoads.cached(selector, descriptor);
        boolean writableData = s.s() && (s.type() & 0xA) == 0x2;
        if ((selector & 3) != cpl || s.dpl() != cpl || !writableData) {
            throw GuestFault.withCode(vector, code);
        }
        if (!s.present()) {
            throw GuestFault.withCode(GuestFault.SS, code);
        }
        SegmentLoads.markAccessed(c, address, descriptor);
        return s;
    }

    static void loadStack(Core c, Segment stack) {
        c.segments[SegmentLoads.SS] = stack;
        c.ss = stack.selector() & ~3;
        c.modeChanged();
    }

    /** After a return to an outer level: ES, DS, FS and GS holding data or non-conforming code above the new CPL become null. */
    static void nullInaccessibleDataSegments(Core c) {
        for (int sreg : new int[]{SegmentLoads.ES, SegmentLoads.DS, SegmentLoads.FS, SegmentLoads.GS}) {
            Segment s = c.segments[sreg];
            boolean conformingCode = (s.type() & 0xC) == 0xC;
            if (!s.unusable() && s.dpl() < c.cpl && !conformingCode) {
                SegmentLoads.assign(c, sreg, new Segment(s.base(), s.limit(), 0, s.type(), s.present(), s.dpl(), s.db(),
                        s.s(), s.l(), s.g(), s.avl(), true), false);
            }
        }
    }
}

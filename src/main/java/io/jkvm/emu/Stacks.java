package io.jkvm.emu;

import io.jkvm.x86.Segment;

/** The stack segment a privilege change loads (interrupts, IRET, far RET) and what such a change does to the others. */
final class Stacks {
    private Stacks() {
    }

    /**
     * The SS a change to {@code cpl} may load: a writable data segment whose RPL and DPL are {@code cpl}, else
     * {@code vector} (#TS for a stack from the TSS, #GP for IRET and RET) with the selector, or 0 for a null one; not
     * present is #SS(selector). {@code ext} (1 for an event the guest did not ask for) is added to the error code.
     */
    static Segment checkedStack(Core c, int selector, int cpl, int vector, int ext) {
        int code = selector & 0xFFFC;
        if (code == 0) {
            throw GuestFault.withCode(vector, ext);
        }
        long address;
        try {
            address = SegmentLoads.descriptorAddress(c, selector);
        } catch (GuestFault outsideTheTable) {
            throw GuestFault.withCode(vector, code | ext);
        }
        long descriptor = c.supervisorRead(address, 8);
        Segment s = SegmentLoads.cached(selector, descriptor);
        boolean writableData = s.s() && (s.type() & 0xA) == 0x2;
        if ((selector & 3) != cpl || s.dpl() != cpl || !writableData) {
            throw GuestFault.withCode(vector, code | ext);
        }
        if (!s.present()) {
            throw GuestFault.withCode(GuestFault.SS, code | ext);
        }
        SegmentLoads.markAccessed(c, address, descriptor);
        return s;
    }

    /** An inner level's stack: its SS and stack pointer. */
    record Inner(Segment stack, long pointer) {
    }

    /**
     * The stack for a change to an inner level {@code cpl} outside IA-32e mode: SSn and ESPn from the 32-bit TSS
     * (ESPn at 4 + 8n, SSn after it); past the TSS limit is #TS(TR), an unusable SS #TS(SS) or #SS(SS).
     */
    static Inner fromTss32(Core c, int cpl, boolean external) {
        Segment tr = c.taskRegister;
        if (8L * cpl + 9 > (tr.limit() & 0xFFFFFFFFL)) { // SSn's last byte
            throw GuestFault.withCode(GuestFault.TS, (tr.selector() & 0xFFFC) | (external ? 1 : 0));
        }
        long sp = c.supervisorRead(tr.base() + 4 + 8L * cpl, 4);
        int ss = (int) c.supervisorRead(tr.base() + 8 + 8L * cpl, 2);
        return new Inner(checkedStack(c, ss, cpl, GuestFault.TS, external ? 1 : 0), sp);
    }

    /** Writes {@code values} as pushes of {@code size} bytes below {@code sp} on {@code stack}, the first pushed first; returns the new pointer. */
    static long pushOn(Core c, Segment stack, long sp, int size, java.util.List<Long> values, boolean flat) {
        long mask = flat ? -1L : stack.db() ? 0xFFFFFFFFL : 0xFFFF;
        for (long v : values) {
            sp = (sp - size) & mask;
            c.write(flat ? sp : (stack.base() + sp) & 0xFFFFFFFFL, size, v);
        }
        return sp;
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

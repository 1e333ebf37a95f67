package io.jkvm.emu;

import io.jkvm.x86.Segment;

/**
 * Interrupts and exceptions outside IA-32e mode, and IRET back: in real mode through the interrupt vector table
 * (4-byte IP:CS entries at the IDTR base, FLAGS, CS and IP pushed, no error codes); in protected mode through
 * 8-byte interrupt and trap gates of 16 or 32 bits, to the same privilege level or an inner one with the stack from
 * the 32-bit TSS. Task gates and IRET with NT set (task switches) and virtual-8086 mode are #GP: the core has neither.
 */
final class LegacyInterrupts {
    private LegacyInterrupts() {
    }

    /** Delivers {@code vector}; the caller turns a fault raised here into #DF or a shutdown, as for the 64-bit IDT. */
    static void deliver(Core c, int vector, boolean hasCode, int code, long returnRip, boolean external, int prevCpl) {
        int idtError = vector * 8 + 2 + (external ? 1 : 0);
        if (!c.protectedMode()) {
            if (vector * 4L + 3 > c.idtLimit) {
                throw GuestFault.withCode(GuestFault.GP, idtError);
            }
            long entry = c.read(c.idtBase + vector * 4L, 4);
            long flags = c.rflags();
            long sp = c.stackPointer();
            SegmentChecks.check(c, SegmentLoads.SS, (sp - 6) & (c.stack32 ? 0xFFFFFFFFL : 0xFFFF), 6, true);
            long below = Stacks.pushOn(c, c.segments[SegmentLoads.SS], sp, 2,
                    java.util.List.of(flags, (long) c.segments[SegmentLoads.CS].selector(), returnRip), false);
            c.setStackPointer(below); // FLAGS, CS and IP written before SP moves: a fault leaves SP where it was
            FarTransfers.loadRealModeCode(c, (int) (entry >>> 16));
            c.rip = entry & 0xFFFF;
            c.setRflags(flags & ~(Core.IF | Core.TF | Core.AC | 0x10000L));
            return;
        }
        if (vector * 8L + 7 > c.idtLimit) {
            throw GuestFault.withCode(GuestFault.GP, idtError);
        }
        c.setCpl(0); // the IDT, GDT and TSS are read by implicit supervisor accesses
        long gate = c.read(c.idtBase + vector * 8L, 8);
        int type = (int) (gate >>> 40) & 0x1F; // S and the type: 0E/0F 32-bit interrupt/trap gates, 06/07 16-bit
        if (type != 0xE && type != 0xF && type != 0x6 && type != 0x7) {
            throw GuestFault.withCode(GuestFault.GP, idtError);
        }
        if (!external && ((gate >>> 45) & 3) < prevCpl) {
            throw GuestFault.withCode(GuestFault.GP, idtError); // INT n through a gate of lower DPL than CPL
        }
        if ((gate & (1L << 47)) == 0) {
            throw GuestFault.withCode(GuestFault.NP, idtError);
        }
        int gateSize = (type & 8) != 0 ? 4 : 2;
        long target = (gate & 0xFFFF) | (gateSize == 4 ? (gate >>> 32) & 0xFFFF0000L : 0);
        int selector = (int) (gate >>> 16) & 0xFFFF;
        Segment handler = FarTransfers.checkedHandler(c, selector, prevCpl, external);
        boolean conforming = (handler.type() & 4) != 0;
        int newCpl = conforming ? prevCpl : handler.dpl();
        long flags = c.rflags();
        int oldCs = c.segments[SegmentLoads.CS].selector();
        java.util.List<Long> pushes = new java.util.ArrayList<>(6); // in push order
        Segment stack = c.segments[SegmentLoads.SS];
        long sp = c.stackPointer();
        if (newCpl < prevCpl) {
            pushes.add((long) stack.selector());
            pushes.add(sp);
            Stacks.Inner inner = Stacks.fromTss32(c, newCpl, external);
            stack = inner.stack();
            sp = inner.pointer();
        }
        pushes.add(flags);
        pushes.add((long) oldCs);
        pushes.add(returnRip);
        if (hasCode) {
            pushes.add((long) code);
        }
        c.setCpl(newCpl);
        sp = Stacks.pushOn(c, stack, sp, gateSize, pushes, false);
        c.loadCode(FarTransfers.withRpl(handler, newCpl), newCpl);
        Stacks.loadStack(c, stack);
        c.setStackPointer(sp);
        c.rip = target;
        long keep = flags & ~(Core.TF | 0x10000L | 0x20000L | 0x4000L); // TF, RF, VM and NT cleared
        if ((type & 1) == 0) {
            keep &= ~Core.IF; // an interrupt gate, not a trap gate
        }
        c.setRflags(keep);
    }

    /** IRET of the operand size (16 or 32 bits), in real mode or protected mode, to the same or an outer level. */
    static void iret(Core c) {
        int size = c.opSize;
        long sp = c.stackPointer();
        SegmentChecks.check(c, SegmentLoads.SS, sp, 3 * size, false);
        long offset = c.read(c.stackLinear(sp), size);
        int selector = (int) c.read(c.stackLinear(sp + size), size) & 0xFFFF;
        long popped = c.read(c.stackLinear(sp + 2L * size), size);
        long flags = c.rflags();
        if (!c.protectedMode()) {
            c.loadFlags(popped, 0x257FD5L, size); // not VM, VIF or VIP
            FarTransfers.loadRealModeCode(c, selector);
            c.setStackPointer(sp + 3L * size);
            c.rip = offset & Core.mask(size);
            return;
        }
        if ((flags & 0x4000L) != 0) {
            throw GuestFault.withCode(GuestFault.GP, 0); // NT: a return to another task, which the core has no TSS switch for
        }
        if ((popped & 0x20000L) != 0 && size == 4 && c.cpl == 0) {
            throw GuestFault.withCode(GuestFault.GP, 0); // to virtual-8086 mode, which the core does not have
        }
        int rpl = selector & 3;
        if (rpl < c.cpl) {
            throw GuestFault.withCode(GuestFault.GP, selector & 0xFFFC);
        }
        Segment code = FarTransfers.checkedCode(c, selector, rpl, true);
        FarTransfers.requireInCodeLimit(c, code, offset & Core.mask(size));
        long candidates = c.cpl == 0 && size == 4 ? 0x3D7FD5L : 0x257FD5L; // not VM; VIF and VIP at CPL0, 32 bits
        if (rpl == c.cpl) {
            c.loadFlags(popped, candidates, size);
            c.loadCode(code, rpl);
            c.setStackPointer(sp + 3L * size);
        } else {
            long outerSp = c.read(c.stackLinear(sp + 3L * size), size);
            int outerSs = (int) c.read(c.stackLinear(sp + 4L * size), size) & 0xFFFF;
            Segment stack = Stacks.checkedStack(c, outerSs, rpl, GuestFault.GP, 0);
            c.loadFlags(popped, candidates, size); // at the CPL the IRET runs at, once nothing more can fault
            c.loadCode(code, rpl);
            Stacks.loadStack(c, stack);
            c.setStackPointer(outerSp);
            Stacks.nullInaccessibleDataSegments(c);
        }
        c.rip = offset & Core.mask(size);
    }
}

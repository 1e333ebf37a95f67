package io.jkvm.emu;

import io.jkvm.x86.Segment;

/**
 * Exceptions and interrupts through the 64-bit IDT in IA-32e mode (IST and TSS stacks, #DF, shutdown) and IRET back
 * to 64-bit or compatibility mode; outside IA-32e mode both go to {@link LegacyInterrupts}. The escalation to #DF and
 * shutdown is the same for every mode.
 */
final class Interrupts {
    private Interrupts() {
    }

    /**
     * @param external an exception or hardware interrupt (EXT = 1 in the error code of a fault on the IDT), as
     *                 opposed to a software INT n / INT3
     */
    static void deliverEvent(Core c, int vector, boolean hasCode, int code, long returnRip, int depth, boolean external) {
        if (depth >= 2 || vector == GuestFault.DF && depth >= 1) {
            throw new Core.Stop(Core.Reason.SHUTDOWN);
        }
        int idtError = vector * 8 + 2 + (external ? 1 : 0);
        int prevCpl = c.cpl;
        try {
            if (!c.longMode()) {
                LegacyInterrupts.deliver(c, vector, hasCode, code, returnRip, external, prevCpl);
                return;
            }
            if (vector * 16L + 15 > c.idtLimit) {
                throw GuestFault.withCode(GuestFault.GP, idtError);
            }
            // The IDT, GDT and TSS are read by implicit supervisor accesses: no U/S or alignment checks.
            c.setCpl(0);
            long gateLow = c.read(c.idtBase + vector * 16L, 8);
            long gateHigh = c.read(c.idtBase + vector * 16L + 8, 8);
            int type = (int) ((gateLow >>> 40) & 0xF);
            if (type != 0xE && type != 0xF) {
                throw GuestFault.withCode(GuestFault.GP, idtError);
            }
            if ((gateLow & (1L << 47)) == 0) {
                throw GuestFault.withCode(GuestFault.NP, idtError);
            }
            if (!external && ((gateLow >>> 45) & 3) < prevCpl) {
                throw GuestFault.withCode(GuestFault.GP, idtError); // INT n through a gate of lower DPL than CPL
            }
            long target = (gateLow & 0xFFFF) | ((gateLow >>> 32) & 0xFFFF0000L) | (gateHigh << 32);
            int selector = (int) ((gateLow >>> 16) & 0xFFFF);
            int ist = (int) ((gateLow >>> 32) & 7);
            long oldRsp = c.r[4];
            int oldSs = c.segments[SegmentLoads.SS].selector(); // as loaded, RPL included
            int oldCs = c.segments[SegmentLoads.CS].selector();
            long flags = c.rflags();
            Segment handler = FarTransfers.checkedHandler(c, selector, prevCpl, external);
            int newCpl = (handler.type() & 4) != 0 ? prevCpl : handler.dpl(); // a conforming handler runs at CPL
            long rsp = c.r[4];
            if (ist != 0) {
                rsp = readTss(c, 0x24 + (ist - 1) * 8, external); // IST1 at 0x24, after RSP0-2 and a reserved quadword
            } else if (newCpl < prevCpl) {
                rsp = readTss(c, 4 + 8 * newCpl, external); // RSPn
            }
            rsp &= ~0xFL;
            long[] frame = hasCode ? new long[]{code, returnRip, oldCs, flags, oldRsp, oldSs}
                    : new long[]{returnRip, oldCs, flags, oldRsp, oldSs};
            c.setCpl(newCpl);
            for (int i = frame.length - 1; i >= 0; i--) {
                rsp -= 8;
                if (!c.canonical(rsp)) {
                    throw GuestFault.withCode(GuestFault.SS, 0);
                }
                c.write(rsp, 8, frame[i]);
            }
            c.r[4] = rsp;
            c.loadCode(FarTransfers.withRpl(handler, newCpl), newCpl);
            if (newCpl != prevCpl) {
                Stacks.loadStack(c, nullStack(newCpl));
            }
            c.rip = target;
            long keep = c.rflags() & ~(Core.TF | 0x10000L | 0x20000L | 0x4000L); // clear TF, RF, VM, NT
            if (type == 0xE) {
                keep &= ~Core.IF;
            }
            c.setRflags(keep);
        } catch (GuestFault nested) {
            c.setCpl(prevCpl);
            if (!external && depth == 0) {
                throw nested; // INT n, INT3, INTO: a fault on the way is the instruction's own, at its address
            }
            boolean contributory = vector == 0 || (vector >= 10 && vector <= 13);
            boolean nestedContributory = nested.vector == 0 || (nested.vector >= 10 && nested.vector <= 13);
            if (vector == GuestFault.DF || (vector == GuestFault.PF && (nestedContributory || nested.vector == GuestFault.PF))
                    || (contributory && nestedContributory)) {
                c.deliver(GuestFault.DF, true, 0, returnRip, depth + 1);
            } else {
                c.deliver(nested.vector, nested.hasErrorCode, nested.errorCode, returnRip, depth + 1);
            }
        }
    }

    /**
     * A stack pointer from the 64-bit TSS, found through TR's cache (as LTR or the state left it, not the GDT as it is
     * now); one past the TSS limit is #TS(TR selector), EXT for external events.
     */
    static long readTss(Core c, int offset, boolean external) {
        if (offset + 7 > (c.taskRegister.limit() & 0xFFFFFFFFL)) {
            throw GuestFault.withCode(GuestFault.TS, (c.tr & ~7) | (external ? 1 : 0));
        }
        return c.supervisorRead(c.taskRegister.base() + offset, 8);
    }

    /**
     * IRET in IA-32e mode: RIP, CS, RFLAGS, RSP and SS popped at the operand size (IRETQ with REX.W; 32 bits by
     * default in 64-bit mode). The CS descriptor decides whether the return is to 64-bit or compatibility mode.
     */
    static void iret(Core c) {
        c.serialize();
        c.nmiBlocked = false; // IRET ends an NMI handler: the next NMI may come
        if (!c.longMode()) {
            LegacyInterrupts.iret(c);
            return;
        }
        int size = c.opSize;
        long sp = c.stackPointer();
        if (c.code64) {
            c.requireCanonicalStack(sp);
        }
        // The frame is read whole before anything changes: a fault on any part of it leaves RSP and the rest as they were
        long newRip = c.read(c.stackLinear(sp), size);
        long newCs = c.read(c.stackLinear(sp + size), size) & 0xFFFF;
        long newFlags = c.read(c.stackLinear(sp + 2L * size), size);
        int oldCpl = c.cpl;
        int newCpl = (int) (newCs & 3);
        boolean popsStack = c.code64 || newCpl != oldCpl; // compatibility mode to the same level leaves SS:ESP
        long newRsp = popsStack ? c.read(c.stackLinear(sp + 3L * size), size) : sp + 3L * size;
        long newSs = popsStack ? c.read(c.stackLinear(sp + 4L * size), size) & 0xFFFF : c.segments[SegmentLoads.SS].selector();
        if (newCpl < oldCpl) {
            throw GuestFault.withCode(GuestFault.GP, (int) newCs & ~3);
        }
        Segment code = FarTransfers.checkedCode(c, (int) newCs, newCpl, true);
        Segment stack = null;
        if (popsStack) {
            boolean nullAllowed = code.l() && newCpl < 3; // a null SS only for 64-bit code below CPL3
            stack = (newSs & ~3) == 0 && nullAllowed ? nullStack(newCpl)
                    : Stacks.checkedStack(c, (int) newSs, newCpl, GuestFault.GP, 0);
        }
        long target = code.l() ? newRip : newRip & Core.mask(Math.min(size, 4));
        if (code.l() && !c.canonical(target)) {
            throw GuestFault.withCode(GuestFault.GP, 0);
        }
        c.loadFlags(newFlags, 0x3F7FD5L, size); // at the CPL the IRET runs at
        c.loadCode(code, newCpl);
        if (popsStack) {
            Stacks.loadStack(c, stack);
            c.r[4] = code.l() ? newRsp : newRsp & 0xFFFFFFFFL;
        } else {
            c.setStackPointer(newRsp);
        }
        if (newCpl > oldCpl) {
            Stacks.nullInaccessibleDataSegments(c);
        }
        c.rip = target;
    }

    /** SS in 64-bit mode after a privilege change: a null selector with RPL = CPL, unusable. */
    static Segment nullStack(int cpl) {
        return new Segment(0, 0, cpl, 0x3, false, cpl, true, true, false, false, false, true);
    }
}

package io.jkvm.emu;

/** Exceptions and interrupts through the 64-bit IDT (IST and TSS stacks, #DF, shutdown), and IRETQ back. */
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
            int oldSs = c.ss;
            int oldCs = c.cs | prevCpl;
            long flags = c.rflags();
            int newCpl = selector & 3; // flat model: the target CPL is the selector's RPL (kernel code is ring 0)
            long rsp = c.r[4];
            if (ist != 0) {
                rsp = readTss(c, 0x24 + (ist - 1) * 8, external); // IST1 at 0x24, after RSP0-2 and a reserved quadword
            } else if (newCpl < prevCpl) {
                rsp = readTss(c, 4, external);
            }
            rsp &= ~0xFL;
            long[] frame = hasCode ? new long[]{code, returnRip, oldCs, flags, oldRsp, oldSs}
                    : new long[]{returnRip, oldCs, flags, oldRsp, oldSs};
            c.setCpl(newCpl);
            for (int i = frame.length - 1; i >= 0; i--) {
                rsp -= 8;
                if (rsp != ((rsp << 16) >> 16)) {
                    throw GuestFault.withCode(GuestFault.SS, 0);
                }
                c.write(rsp, 8, frame[i]);
            }
            c.r[4] = rsp;
            c.cs = selector & ~3;
            c.codeSegmentLoaded(selector);
            if (newCpl != prevCpl) {
                c.ss = 0;
            }
            c.rip = target;
            long keep = c.rflags() & ~(Core.TF | 0x10000L | 0x20000L | 0x4000L); // clear TF, RF, VM, NT
            if (type == 0xE) {
                keep &= ~Core.IF;
            }
            c.setRflags(keep);
        } catch (GuestFault nested) {
            c.setCpl(prevCpl);
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

    /** A stack pointer from the 64-bit TSS; one past the TSS limit is #TS(TR selector), EXT for external events. */
    static long readTss(Core c, int offset, boolean external) {
        long low = c.read(c.gdtBase + (c.tr & ~7), 8);
        long limit = (low & 0xFFFF) | ((low >>> 32) & 0xF0000L);
        if ((low & (1L << 55)) != 0) {
            limit = (limit << 12) | 0xFFF; // granularity: 4 KiB units
        }
        if (offset + 7 > limit) {
            throw GuestFault.withCode(GuestFault.TS, (c.tr & ~7) | (external ? 1 : 0));
        }
        long high = c.read(c.gdtBase + (c.tr & ~7) + 8, 8);
        long base = ((low >>> 16) & 0xFFFFFFL) | (((low >>> 56) & 0xFF) << 24) | ((high & 0xFFFFFFFFL) << 32);
        return c.read(base + offset, 8);
    }

    static void iret(Core c) {
        c.code.newEpoch(); // serializing, as CPUID
        long newRip = c.pop();
        long newCs = c.pop() & 0xFFFF;
        long newFlags = c.pop();
        long newRsp = c.pop();
        long newSs = c.pop() & 0xFFFF;
        int newCpl = (int) (newCs & 3);
        if (newCpl < c.cpl) {
            throw GuestFault.withCode(GuestFault.GP, (int) newCs & ~3);
        }
        long writable = c.cpl == 0 ? 0x3F7FD5L : 0x3F7FD5L & ~(Core.IF | 0x3000L);
        c.setRflags((newFlags & writable) | (c.flagBits & ~writable & (Core.IF | 0x3000L)));
        c.setCpl(newCpl);
        c.cs = (int) newCs & ~3;
        c.codeSegmentLoaded((int) newCs);
        c.ss = (int) newSs;
        c.r[4] = newRsp;
        c.rip = newRip;
    }
}

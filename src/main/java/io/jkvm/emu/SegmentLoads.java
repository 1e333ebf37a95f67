package io.jkvm.emu;

/**
 * Segment register loads in 64-bit mode: MOV Sreg, r/m (8E), MOV r/m, Sreg (8C), PUSH/POP FS and GS (0F A0/A1,
 * 0F A8/A9), with the checks of the SDM's MOV and POP pseudocode. Only FS and GS keep a base in 64-bit mode: a
 * load takes the descriptor's 32-bit base; SS, DS and ES are flat whatever their descriptor says.
 */
final class SegmentLoads {
    static final int ES = 0, CS = 1, SS = 2, DS = 3, FS = 4, GS = 5;

    private SegmentLoads() {
    }

    /** 8E: MOV Sreg, r/m16. Loading CS this way is #UD; loading SS blocks interrupts until after the next instruction. */
    static void movToSegment(Core c) {
        c.decodeModrm();
        int sreg = c.regField & 7;
        if (sreg == CS || sreg > GS) {
            throw GuestFault.of(GuestFault.UD);
        }
        load(c, sreg, (int) c.readRm(2));
        if (sreg == SS) {
            c.interruptShadow = true;
        }
        c.done();
    }

    /** 8C: MOV r/m, Sreg. A register destination gets the selector zero-extended; memory always 16 bits. */
    static void movFromSegment(Core c) {
        c.decodeModrm();
        int sreg = c.regField & 7;
        if (sreg > GS) {
            throw GuestFault.of(GuestFault.UD);
        }
        int selector = selector(c, sreg);
        if (c.mod == 3) {
            c.setReg(c.rmField, c.opSize, selector);
        } else {
            c.writeRm(2, selector);
        }
        c.done();
    }

    /**
     * 0F A0 / 0F A8: PUSH FS/GS of the operand size (8, or 2 with 66), the selector zero-extended. The SDM lets a
     * CPU store only 16 bits of a wider slot; this host's Xeon writes all 8 (checked natively), and so does the core.
     */
    static void push(Core c, int sreg) {
        int size = c.opSize == 2 ? 2 : 8;
        long rsp = c.r[4] - size;
        Core.requireCanonicalStack(rsp);
        c.write(rsp, size, selector(c, sreg));
        c.r[4] = rsp;
        c.done();
    }

    /** 0F A1 / 0F A9: POP FS/GS; RSP moves only once the load has passed its checks. */
    static void pop(Core c, int sreg) {
        int size = c.opSize == 2 ? 2 : 8;
        Core.requireCanonicalStack(c.r[4]);
        int selector = (int) c.read(c.r[4], size) & 0xFFFF;
        load(c, sreg, selector);
        c.r[4] += size;
        c.done();
    }

    static int selector(Core c, int sreg) {
        return switch (sreg) {
            case ES -> c.es;
            case CS -> c.cs | c.cpl;
            case SS -> c.ss | c.cpl;
            case DS -> c.ds;
            case FS -> c.fs;
            default -> c.gs;
        };
    }

    /** Loads a data segment register (ES, SS, DS, FS, GS) after the 64-bit mode checks, or throws the fault. */
    static void load(Core c, int sreg, int selector) {
        int rpl = selector & 3;
        int code = selector & 0xFFFC;
        if ((selector & ~3) == 0) {
            if (sreg == SS && (c.cpl == 3 || rpl != c.cpl)) {
                throw GuestFault.withCode(GuestFault.GP, 0); // a null SS only below CPL3, with RPL = CPL
            }
            assign(c, sreg, selector, 0, nullSelectorClearsBase(c));
            return;
        }
        long address = descriptorAddress(c, selector);
        long descriptor = c.supervisorRead(address, 8);
        int type = (int) (descriptor >>> 40) & 0x1F; // S and the 4 type bits
        int dpl = (int) (descriptor >>> 45) & 3;
        boolean present = (descriptor & (1L << 47)) != 0;
        if (sreg == SS) {
            boolean writableData = (type & 0x1A) == 0x12;
            if (rpl != c.cpl || !writableData || dpl != c.cpl) {
                throw GuestFault.withCode(GuestFault.GP, code);
            }
            if (!present) {
                throw GuestFault.withCode(GuestFault.SS, code);
            }
        } else {
            boolean data = (type & 0x18) == 0x10;
            boolean readableCode = (type & 0x1A) == 0x1A;
            boolean conformingCode = (type & 0x1C) == 0x1C;
            if (!data && !readableCode) {
                throw GuestFault.withCode(GuestFault.GP, code);
            }
            if (!conformingCode && (rpl > dpl || c.cpl > dpl)) {
                throw GuestFault.withCode(GuestFault.GP, code);
            }
            if (!present) {
                throw GuestFault.withCode(GuestFault.NP, code);
            }
        }
        if ((descriptor & (1L << 40)) == 0) {
            c.supervisorWrite(address + 5, 1, (descriptor >>> 40) | 1); // the CPU marks the descriptor accessed
        }
        long base = ((descriptor >>> 16) & 0xFFFFFFL) | (((descriptor >>> 56) & 0xFF) << 24);
        assign(c, sreg, selector, base, true);
    }

    /** Where the descriptor is: a selector past the GDT limit, or in the LDT (jkvm's core has none), is #GP(selector). */
    private static long descriptorAddress(Core c, int selector) {
        if (!inGdt(c, selector)) {
            throw GuestFault.withCode(GuestFault.GP, selector & 0xFFFC);
        }
        return c.gdtBase + (selector & ~7);
    }

    /** Whether {@code selector} names a descriptor in the GDT, within its limit (the core has no LDT). */
    static boolean inGdt(Core c, int selector) {
        return (selector & 4) == 0 && (selector | 7) <= c.gdtLimit;
    }

    private static void assign(Core c, int sreg, int selector, long base, boolean setBase) {
        switch (sreg) {
            case ES -> c.es = selector;
            case SS -> c.ss = selector & ~3; // the core keeps SS without its RPL, which is always CPL
            case DS -> c.ds = selector;
            case FS -> {
                c.fs = selector;
                if (setBase) {
                    c.fsBase = base;
                }
            }
            default -> {
                c.gs = selector;
                if (setBase) {
                    c.gsBase = base;
                }
            }
        }
    }

    /**
     * A null selector in FS or GS: Intel (and Zhaoxin) clear the base; AMD and Hygon keep it unless CPUID.80000021H:EAX[6]
     * (NullSelectorClearsBase) says otherwise.
     */
    private static boolean nullSelectorClearsBase(Core c) {
        return !c.vendor.followsApm() || c.cpuidHas(0x80000021, 0, 0, 6);
    }
}

package io.jkvm.emu;

import io.jkvm.x86.Segment;

/**
 * Segment register loads: MOV Sreg, r/m (8E), MOV r/m, Sreg (8C), PUSH/POP FS and GS (0F A0/A1, 0F A8/A9), with
 * the checks of the SDM's MOV and POP pseudocode; each fills the register's descriptor cache. In real mode a load
 * sets the selector and a base of selector × 16 and keeps the limit and attributes. In 64-bit mode only FS and GS
 * keep a base: SS, DS and ES are flat whatever their descriptor says.
 */
final class SegmentLoads {
    static final int ES = 0, CS = 1, SS = 2, DS = 3, FS = 4, GS = 5;

    private SegmentLoads() {
    }

    /** 8E: MOV Sreg, r/m16. Loading CS this way is #UD; loading SS blocks interrupts until after the next instruction. */
    static void movToSegment(Core c) {
        c.takeModrm();
        int sreg = c.regField & 7;
        if (sreg == CS || sreg > GS) {
            throw GuestFault.of(GuestFault.UD);
        }
        load(c, sreg, (int) c.readRm(2));
        if (sreg == SS) {
            c.interruptShadow = true;
            c.movSsShadow = true; // unlike STI's, it holds back this instruction's single-step #DB too
        }
        c.done();
    }

    /** 8C: MOV r/m, Sreg. A register destination gets the selector zero-extended; memory always 16 bits. */
    static void movFromSegment(Core c) {
        c.takeModrm();
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
        c.push(selector(c, sreg), c.stackSize());
        c.done();
    }

    /** 0F A1 / 0F A9 (and POP ES, SS, DS outside 64-bit mode): the stack pointer moves once the load has passed its checks. */
    static void pop(Core c, int sreg) {
        int size = c.stackSize();
        long sp = c.stackPointer();
        if (c.code64) {
            c.requireCanonicalStack(sp);
        } else {
            SegmentChecks.check(c, SS, sp, size, false);
        }
        int selector = (int) c.read(c.stackLinear(sp), size) & 0xFFFF;
        load(c, sreg, selector);
        c.setStackPointer(sp + size);
        if (sreg == SS) {
            c.interruptShadow = true;
            c.movSsShadow = true; // unlike STI's, it holds back this instruction's single-step #DB too
        }
        c.done();
    }

    static int selector(Core c, int sreg) {
        if (!c.code64) {
            return c.segments[sreg].selector();
        }
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
        if (!c.protectedMode()) {
            Segment old = c.segments[sreg];
            assign(c, sreg, new Segment((long) selector << 4, old.limit(), selector, old.type(), old.present(), old.dpl(),
                    old.db(), old.s(), old.l(), old.g(), old.avl(), old.unusable()), true);
            return;
        }
        int rpl = selector & 3;
        int code = selector & 0xFFFC;
        if ((selector & ~3) == 0) {
            if (sreg == SS && (!c.code64 || c.cpl == 3 || rpl != c.cpl)) {
                throw GuestFault.withCode(GuestFault.GP, 0); // a null SS only in 64-bit mode below CPL3, with RPL = CPL
            }
            Segment old = c.segments[sreg];
            assign(c, sreg, new Segment(old.base(), old.limit(), selector, old.type(), old.present(), old.dpl(), old.db(),
                    old.s(), old.l(), old.g(), old.avl(), true), nullSelectorClearsBase(c));
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
        markAccessed(c, address, descriptor);
        assign(c, sreg, cached(selector, descriptor), true);
    }

    /** The CPU marks a code or data descriptor accessed in its table when it loads it. */
    static void markAccessed(Core c, long address, long descriptor) {
        if ((descriptor & (1L << 40)) == 0) {
            c.supervisorWrite(address + 5, 1, (descriptor >>> 40) | 1);
        }
    }

    /** A descriptor cache as a load of {@code descriptor} leaves it: accessed, the limit in bytes. */
    static Segment cached(int selector, long descriptor) {
        long base = ((descriptor >>> 16) & 0xFFFFFFL) | (((descriptor >>> 56) & 0xFF) << 24);
        int limit = (int) ((descriptor & 0xFFFF) | ((descriptor >>> 32) & 0xF0000L));
        boolean g = bit(descriptor, 55);
        if (g) {
            limit = (limit << 12) | 0xFFF;
        }
        boolean s = bit(descriptor, 44);
        int type = (int) (descriptor >>> 40) & 0xF;
        return new Segment(base, limit, selector, s ? type | 1 : type, bit(descriptor, 47), (int) (descriptor >>> 45) & 3,
                bit(descriptor, 54), s, bit(descriptor, 53), g, bit(descriptor, 52), false);
    }

    private static boolean bit(long v, int n) {
        return (v & (1L << n)) != 0;
    }

    /** The descriptor a selector names (the GDT, or the LDT with TI set), read as a supervisor; #GP(selector) outside the table. */
    static long descriptor(Core c, int selector) {
        return c.supervisorRead(descriptorAddress(c, selector), 8);
    }

    /** Where the descriptor is: a selector past the table's limit, or in the LDT when none is loaded, is #GP(selector). */
    static long descriptorAddress(Core c, int selector) {
        if ((selector & 4) != 0) {
            Segment ldt = c.ldtr;
            if (ldt.unusable() || (selector | 7) > (ldt.limit() & 0xFFFFFFFFL)) {
                throw GuestFault.withCode(GuestFault.GP, selector & 0xFFFC);
            }
            return ldt.base() + (selector & ~7);
        }
        if (!inGdt(c, selector)) {
            throw GuestFault.withCode(GuestFault.GP, selector & 0xFFFC);
        }
        return c.gdtBase + (selector & ~7);
    }

    /** Whether {@code selector} names a descriptor in the GDT, within its limit (the core has no LDT). */
    static boolean inGdt(Core c, int selector) {
        return (selector & 4) == 0 && (selector | 7) <= c.gdtLimit;
    }

    /** Fills a data segment register's cache; FS's and GS's bases go to fsBase and gsBase unless {@code setBase} is false. */
    static void assign(Core c, int sreg, Segment cache, boolean setBase) {
        int selector = cache.selector();
        c.segments[sreg] = cache;
        switch (sreg) {
            case ES -> c.es = selector;
            case SS -> {
                c.ss = selector & ~3; // the core keeps SS without its RPL, which is always CPL
                c.modeChanged(); // SS.B sizes the stack pointer
            }
            case DS -> c.ds = selector;
            case FS -> {
                c.fs = selector;
                if (setBase) {
                    c.fsBase = cache.base();
                }
            }
            default -> {
                c.gs = selector;
                if (setBase) {
                    c.gsBase = cache.base();
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

package io.jkvm.emu;

/**
 * LAR, LSL, VERR and VERW in 64-bit mode (SDM Vol. 2A): what a selector's descriptor gives or allows at the current
 * CPL, answered in ZF; a selector that is null, in the LDT (the core has none) or past the GDT limit is ZF = 0,
 * never a fault. Conforming code segments skip the privilege check; the other descriptors need DPL >= CPL and RPL.
 */
final class SelectorChecks {
    private SelectorChecks() {
    }

    /** The GDT descriptor's low 8 bytes for {@code selector}, or -1 for a selector with no readable descriptor. */
    private static long descriptor(Core c, int selector) {
        if ((selector & ~3) == 0 || !SegmentLoads.inGdt(c, selector)) {
            return -1;
        }
        return c.supervisorRead(c.gdtBase + (selector & ~7), 8);
    }

    private static int type(long descriptor) {
        return (int) (descriptor >>> 40) & 0x1F; // S and the 4 type bits
    }

    private static boolean visible(Core c, long descriptor, int selector) {
        boolean conformingCode = (type(descriptor) & 0x1C) == 0x1C;
        int dpl = (int) (descriptor >>> 45) & 3;
        return conformingCode || (dpl >= c.cpl && dpl >= (selector & 3));
    }

    /**
     * 0F 02 LAR and 0F 03 LSL: the access rights (bits 8-23 of the descriptor's high dword) or the limit in bytes
     * into the register, ZF = 1; ZF = 0 and the register unchanged when the selector gives neither. The system types
     * that have them in 64-bit mode: LDT, available and busy 64-bit TSS, and for LAR the 64-bit call gate.
     */
    static void accessRightsOrLimit(Core c, boolean limit) {
        c.takeModrm();
        int selector = (int) c.readRm(2) & 0xFFFF;
        long d = descriptor(c, selector);
        int type = d == -1 ? 0 : type(d);
        int system = type & 0xF;
        boolean typeHasIt = (type & 0x10) != 0 || system == 2 || system == 9 || system == 0xB || (!limit && system == 0xC);
        if (d == -1 || !typeHasIt || !visible(c, d, selector)) {
            c.modifyArith(Core.ZF, 0);
            c.done();
            return;
        }
        long value;
        if (limit) {
            value = (d & 0xFFFF) | ((d >>> 32) & 0xF0000L);
            if ((d & (1L << 55)) != 0) {
                value = (value << 12) | 0xFFF; // granularity: 4 KiB units
            }
        } else {
            value = (d >>> 32) & 0x00F0FF00L;
        }
        c.setReg(c.regField, c.opSize, value);
        c.modifyArith(Core.ZF, Core.ZF);
        c.done();
    }

    /** 0F 00 /4 VERR and /5 VERW (ModRM decoded): ZF = 1 when the segment is readable (writable) at this CPL. */
    static void verify(Core c, boolean write) {
        int selector = (int) c.readRm(2) & 0xFFFF;
        long d = descriptor(c, selector);
        boolean allowed = false;
        if (d != -1 && visible(c, d, selector)) {
            int type = type(d);
            boolean data = (type & 0x18) == 0x10, code = (type & 0x18) == 0x18, readOrWrite = (type & 2) != 0;
            allowed = write ? data && readOrWrite : data || (code && readOrWrite);
        }
        c.modifyArith(Core.ZF, allowed ? Core.ZF : 0);
        c.done();
    }
}

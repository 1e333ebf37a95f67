package io.jkvm.emu;

import io.jkvm.x86.ControlBits;

/**
 * The x87 control instructions (the arithmetic is not implemented: those opcodes are #UD): FWAIT, which raises
 * #MF for a pending unmasked exception when CR0.NE asks for native reporting and #NM under CR0.TS with CR0.MP;
 * FNINIT, FNCLEX, FNSTSW AX / m16, FNSTCW and FLDCW m16, with #NM under CR0.EM or CR0.TS. The state is the x87 part
 * of the FXSAVE image the core keeps (FCW at byte 0, FSW at byte 2), so XRSTOR/FXRSTOR can load a pending exception.
 */
final class X87 {
    private X87() {
    }

    private static final int FSW_EXCEPTIONS = 0x3F, FSW_STACK_FAULT = 0x40, FSW_ES = 0x80, FSW_BUSY = 0x8000;

    /** 9B: #NM when CR0.TS and CR0.MP are both set; #MF when FSW.ES says an unmasked exception waits (CR0.NE=1). */
    static void fwait(Core c) {
        if ((c.cr0 & (ControlBits.CR0_TS | ControlBits.CR0_MP)) == (ControlBits.CR0_TS | ControlBits.CR0_MP)) {
            throw GuestFault.of(GuestFault.NM);
        }
        // With CR0.NE clear a PC reports through FERR# and IRQ13, which jkvm's machine does not wire: nothing happens.
        if ((word(c, 2) & FSW_ES) != 0 && (c.cr0 & ControlBits.CR0_NE) != 0) {
            throw GuestFault.of(GuestFault.MF);
        }
        c.done();
    }

    /** D8-DF: the control forms only. */
    static void escape(Core c, int b) {
        if ((c.cr0 & (ControlBits.CR0_EM | ControlBits.CR0_TS)) != 0) {
            throw GuestFault.of(GuestFault.NM);
        }
        c.decodeModrm();
        int ext = c.regField & 7;
        if (c.mod == 3) {
            int modrm = 0xC0 | (ext << 3) | (c.rmField & 7);
            if (b == 0xDB && modrm == 0xE3) { // FNINIT
                Xsave.initX87(c);
            } else if (b == 0xDB && modrm == 0xE2) { // FNCLEX
                setWord(c, 2, word(c, 2) & ~(FSW_EXCEPTIONS | FSW_STACK_FAULT | FSW_ES | FSW_BUSY));
            } else if (b == 0xDF && modrm == 0xE0) { // FNSTSW AX
                c.setReg(0, 2, word(c, 2));
            } else {
                throw GuestFault.of(GuestFault.UD);
            }
        } else if (b == 0xD9 && ext == 5) { // FLDCW: unmasking a raised exception makes it pending (ES and B)
            int fcw = (int) c.read(c.ea(), 2);
            setWord(c, 0, fcw);
            int fsw = word(c, 2);
            boolean pending = (fsw & FSW_EXCEPTIONS & ~fcw) != 0;
            setWord(c, 2, pending ? fsw | FSW_ES | FSW_BUSY : fsw & ~(FSW_ES | FSW_BUSY));
        } else if (b == 0xD9 && ext == 7) { // FNSTCW
            c.write(c.ea(), 2, word(c, 0));
        } else if (b == 0xDD && ext == 7) { // FNSTSW m16
            c.write(c.ea(), 2, word(c, 2));
        } else {
            throw GuestFault.of(GuestFault.UD);
        }
        c.done();
    }

    private static int word(Core c, int offset) {
        return (c.x87[offset] & 0xFF) | (c.x87[offset + 1] & 0xFF) << 8;
    }

    private static void setWord(Core c, int offset, int v) {
        c.x87[offset] = (byte) v;
        c.x87[offset + 1] = (byte) (v >>> 8);
    }
}

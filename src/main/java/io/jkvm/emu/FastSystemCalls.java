package io.jkvm.emu;

import io.jkvm.x86.ControlBits;
import io.jkvm.x86.Segment;

/**
 * SYSCALL, SYSRET, SYSENTER and SYSEXIT in each mode they exist in, with the vendor differences docs/vendors.md
 * lists. SYSCALL: 64-bit mode on both vendors; compatibility mode (to CSTAR) and legacy protected mode (to STAR's
 * EIP, 32-bit code) on AMD only, #UD on Intel. SYSRET: from 64-bit mode on both, AMD's legacy form outside it.
 * SYSENTER and SYSEXIT: protected mode on both, IA-32e mode on Intel only (AMD: #UD); real mode #GP(0).
 */
final class FastSystemCalls {
    private FastSystemCalls() {
    }

    /**
     * Loads CS with the fixed attributes these instructions give it, no descriptor read (flat, execute/read,
     * accessed; 64-bit or 32-bit code), and SS flat read/write data; CPL with them.
     */
    private static void enter(Core c, int cs, int ss, boolean code64, int cpl) {
        c.loadCode(new Segment(0, 0xFFFFFFFF, cs | cpl, 0xB, true, cpl, !code64, true, code64, true, false, false), cpl);
        Stacks.loadStack(c, new Segment(0, 0xFFFFFFFF, ss | cpl, 0x3, true, cpl, true, true, false, true, false, false));
    }

    static void syscall(Core c) {
        if ((c.efer & ControlBits.EFER_SCE) == 0 || !c.code64 && (!c.vendor.followsApm() || !c.protectedMode())) {
            throw GuestFault.of(GuestFault.UD);
        }
        c.done();
        c.stepsOnNewFlags = true; // a kernel masks TF with FMASK and is not single-stepped on entry
        long flags = c.rflags();
        int cs = (int) ((c.star >>> 32) & 0xFFFC);
        c.r[1] = c.rip;
        if (c.longMode()) {
            c.r[11] = flags;
            c.setRflags(flags & ~c.fmask);
            c.rip = c.code64 ? c.lstar : c.cstar;
            enter(c, cs, cs + 8, true, 0);
        } else { // AMD's legacy-mode SYSCALL: to 32-bit code at STAR[31:0], IF, VM and RF cleared
            c.setRflags(flags & ~(Core.IF | (1L << 16) | (1L << 17)));
            c.rip = c.star & 0xFFFFFFFFL;
            enter(c, cs, cs + 8, false, 0);
        }
    }

    static void sysret(Core c) {
        if ((c.efer & ControlBits.EFER_SCE) == 0 || !c.code64 && (!c.vendor.followsApm() || !c.protectedMode())) {
            throw GuestFault.of(GuestFault.UD);
        }
        c.requireCpl0();
        if (c.rexW && !c.canonical(c.r[1]) && !c.vendor.followsApm()) {
            throw GuestFault.withCode(GuestFault.GP, 0); // Intel checks RCX at CPL0; AMD returns and faults at CPL3
        }
        int base = (int) ((c.star >>> 48) & 0xFFFF);
        c.stepsOnNewFlags = true; // a TF restored from R11 traps right after the return, at CPL3
        if (c.longMode()) {
            c.setRflags((c.r[11] & 0x3C7FD7L) | 0x2);
        } else {
            c.setRflags(c.rflags() | Core.IF); // AMD's legacy-mode SYSRET sets IF
        }
        long target = c.rexW ? c.r[1] : c.r[1] & 0xFFFFFFFFL;
        enter(c, c.rexW ? base + 16 : base, base + 8, c.rexW, 3);
        c.rip = target;
    }

    /**
     * SYSENTER: CS from IA32_SYSENTER_CS, SS = CS + 8, the stack pointer and instruction pointer from
     * IA32_SYSENTER_ESP/EIP, IF, RF and VM cleared, into 64-bit code in IA-32e mode (Intel; AMD has none there: #UD)
     * and 32-bit code in legacy protected mode.
     */
    static void sysenter(Core c) {
        if (c.longMode() && c.vendor.followsApm()) {
            throw GuestFault.of(GuestFault.UD);
        }
        if (!c.protectedMode() || (c.sysenterCs & 0xFFFC) == 0) {
            throw GuestFault.withCode(GuestFault.GP, 0);
        }
        c.done();
        c.setRflags(c.rflags() & ~(Core.IF | (1L << 16) | (1L << 17)));
        int cs = (int) (c.sysenterCs & 0xFFFC);
        boolean to64 = c.longMode();
        enter(c, cs, cs + 8, to64, 0);
        c.r[4] = to64 ? c.sysenterEsp : c.sysenterEsp & 0xFFFFFFFFL;
        c.rip = to64 ? c.sysenterEip : c.sysenterEip & 0xFFFFFFFFL;
    }

    /**
     * SYSEXIT: to CPL3 at RDX with RSP = RCX, CS = IA32_SYSENTER_CS + 32 and SS + 40 with REX.W (64-bit code), + 16
     * and + 24 without (32-bit code, EDX/ECX); #GP(0) at CPL > 0, outside protected mode, with a null
     * IA32_SYSENTER_CS or, for the 64-bit form, a non-canonical RCX or RDX (SDM). AMD: #UD in long mode (APM).
     */
    static void sysexit(Core c) {
        if (c.longMode() && c.vendor.followsApm()) {
            throw GuestFault.of(GuestFault.UD);
        }
        if (!c.protectedMode() || (c.sysenterCs & 0xFFFC) == 0 || c.cpl != 0
                || (c.rexW && !(c.canonical(c.r[1]) && c.canonical(c.r[2])))) {
            throw GuestFault.withCode(GuestFault.GP, 0);
        }
        c.done();
        int base = (int) (c.sysenterCs & 0xFFFC);
        long rsp = c.rexW ? c.r[1] : c.r[1] & 0xFFFFFFFFL;
        long rip = c.rexW ? c.r[2] : c.r[2] & 0xFFFFFFFFL;
        enter(c, base + (c.rexW ? 32 : 16), base + (c.rexW ? 40 : 24), c.rexW, 3);
        c.r[4] = rsp;
        c.rip = rip;
    }
}

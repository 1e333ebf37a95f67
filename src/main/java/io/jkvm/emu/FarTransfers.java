package io.jkvm.emu;

import io.jkvm.x86.Segment;

/**
 * Far JMP, CALL and RET in real mode, protected mode and IA-32e mode: to a code segment of the same privilege, through
 * a call gate (CallGates) to a more privileged one, RET also to an outer level; and the far-pointer loads LDS, LES,
 * LSS, LFS, LGS. A far JMP is how code enters protected mode's and long mode's code segments. Task gates and TSS
 * selectors are #GP(selector): the core has no task switch.
 */
final class FarTransfers {
    private FarTransfers() {
    }

    /** EA / 9A: JMP or CALL ptr16:16 or ptr16:32, the pointer in the instruction (not in 64-bit mode). */
    static void direct(Core c, boolean call) {
        long offset = c.insn.immediate() & (c.opSize == 2 ? 0xFFFFL : 0xFFFFFFFFL);
        int selector = (int) (c.insn.immediate() >>> (8 * c.opSize)) & 0xFFFF;
        c.done();
        transfer(c, selector, offset, call);
    }

    /** FF /3, FF /5: CALL or JMP m16:16, m16:32 or (REX.W) m16:64, the offset first, then the selector. */
    static void indirect(Core c, boolean call) {
        if (c.mod == 3) {
            throw GuestFault.of(GuestFault.UD);
        }
        int size = c.opSize;
        long offset = c.read(c.code64 ? c.ea() : c.checkedEa(size, false), size);
        int selector = (int) c.read(c.dataLinear((c.offset() + size) & c.offsetMask(), 2, false), 2);
        c.done();
        transfer(c, selector, offset, call);
    }

    private static void transfer(Core c, int selector, long offset, boolean call) {
        int size = c.opSize;
        if (!c.protectedMode()) {
            if (call) {
                pushReturn(c, size);
            }
            loadRealModeCode(c, selector);
            c.rip = offset & Core.mask(size);
            return;
        }
        if (CallGates.isCallGate(c, selector)) {
            CallGates.transfer(c, selector, call);
            return;
        }
        Segment target = checkedCode(c, selector, c.cpl, false);
        requireInCodeLimit(c, target, size == 8 ? offset : offset & Core.mask(size));
        if (call) {
            pushReturn(c, size);
        }
        c.loadCode(withRpl(target, c.cpl), c.cpl);
        c.rip = size == 8 ? offset : offset & Core.mask(size);
    }

    /** Pushes CS and the return offset, at the operand size, checking both slots before either is written. */
    private static void pushReturn(Core c, int size) {
        long sp = c.stackPointer();
        if (!c.code64) {
            SegmentChecks.check(c, SegmentLoads.SS, (sp - 2L * size) & (c.stack32 ? 0xFFFFFFFFL : 0xFFFF), 2 * size, true);
        }
        long selectorAt = c.stackLinear(sp - size), offsetAt = c.stackLinear(sp - 2L * size);
        c.checkWritable(selectorAt, size);
        c.write(offsetAt, size, c.rip);
        c.write(selectorAt, size, c.segments[SegmentLoads.CS].selector());
        c.setStackPointer(sp - 2L * size);
    }

    /** In real mode CS takes the selector and a base of selector × 16; the limit and attributes stay. */
    static void loadRealModeCode(Core c, int selector) {
        Segment old = c.segments[SegmentLoads.CS];
        c.loadCode(new Segment((long) selector << 4, old.limit(), selector, old.type(), true, 0, old.db(), true, false,
                old.g(), old.avl(), false), 0);
    }

    /**
     * The code segment a JMP, CALL, RET or IRET may load, or the fault: a null selector #GP(0); not a code segment
     * (a gate, a TSS, data) #GP(selector); a non-conforming one of another DPL than {@code rpl}, or (for JMP/CALL,
     * {@code toOuter} false) an RPL above CPL, #GP(selector); a conforming one of DPL above {@code rpl} #GP(selector);
     * not present #NP(selector); in IA-32e mode L and D both set #GP(selector).
     */
    static Segment checkedCode(Core c, int selector, int rpl, boolean toOuter) {
        int code = selector & 0xFFFC;
        if (code == 0) {
            throw GuestFault.withCode(GuestFault.GP, 0);
        }
        long address = SegmentLoads.descriptorAddress(c, selector);
        long descriptor = c.supervisorRead(address, 8);
        Segment s = SegmentLoads.cached(selector, descriptor);
        boolean isCode = s.s() && (s.type() & 8) != 0;
        boolean conforming = (s.type() & 4) != 0;
        if (!isCode || (!toOuter && !conforming && (selector & 3) > c.cpl)
                || (conforming ? s.dpl() > rpl : s.dpl() != rpl)
                || c.longMode() && s.l() && s.db()) {
            throw GuestFault.withCode(GuestFault.GP, code);
        }
        if (!s.present()) {
            throw GuestFault.withCode(GuestFault.NP, code);
        }
        SegmentLoads.markAccessed(c, address, descriptor);
        return s;
    }

    /**
     * The code segment an interrupt gate names: a null selector #GP(EXT); not code, or of DPL above the interrupted
     * CPL, #GP(selector + EXT); not present #NP(selector + EXT); in IA-32e mode anything but 64-bit code #GP.
     */
    static Segment checkedHandler(Core c, int selector, int prevCpl, boolean external) {
        int ext = external ? 1 : 0;
        if ((selector & 0xFFFC) == 0) {
            throw GuestFault.withCode(GuestFault.GP, ext);
        }
        long address = SegmentLoads.descriptorAddress(c, selector);
        long descriptor = c.supervisorRead(address, 8);
        Segment s = SegmentLoads.cached(selector, descriptor);
        if (!s.s() || (s.type() & 8) == 0 || s.dpl() > prevCpl || c.longMode() && !(s.l() && !s.db())) {
            throw GuestFault.withCode(GuestFault.GP, (selector & 0xFFFC) | ext);
        }
        if (!s.present()) {
            throw GuestFault.withCode(GuestFault.NP, (selector & 0xFFFC) | ext);
        }
        SegmentLoads.markAccessed(c, address, descriptor);
        return s;
    }

    /**
     * A transfer's target offset within its code segment: past the limit is #GP(0) (SDM: JMP, CALL, RET, IRET); 64-bit
     * code has no limit, and a non-canonical target there is #GP(0) too.
     */
    static void requireInCodeLimit(Core c, Segment code, long offset) {
        boolean bad = code.l() && c.longMode() ? !c.canonical(offset) : offset > (code.limit() & 0xFFFFFFFFL);
        if (bad) {
            throw GuestFault.withCode(GuestFault.GP, 0);
        }
    }

    static Segment withRpl(Segment s, int rpl) {
        return new Segment(s.base(), s.limit(), (s.selector() & ~3) | rpl, s.type(), s.present(), s.dpl(), s.db(), s.s(),
                s.l(), s.g(), s.avl(), s.unusable());
    }

    /**
     * CA / CB: RET far [imm16]. The operand size is 32 bits in 64-bit mode unless REX.W makes it 64 (LRETQ). To an
     * outer privilege level it pops SS:ESP too and nulls the data segment registers the new CPL may not use.
     */
    static void ret(Core c, int release) {
        int size = c.code64 && c.opSize != 8 && c.opSize != 2 ? 4 : c.opSize;
        long sp = c.stackPointer();
        if (!c.code64) {
            SegmentChecks.check(c, SegmentLoads.SS, sp, 2 * size, false);
        }
        long offset = c.read(c.stackLinear(sp), size);
        int selector = (int) c.read(c.stackLinear(sp + size), size) & 0xFFFF;
        if (!c.protectedMode()) {
            loadRealModeCode(c, selector);
            c.rip = offset & Core.mask(size);
            c.setStackPointer(sp + 2L * size + release);
            return;
        }
        int rpl = selector & 3;
        if (rpl < c.cpl) {
            throw GuestFault.withCode(GuestFault.GP, selector & 0xFFFC);
        }
        Segment code = checkedCode(c, selector, rpl, true);
        requireInCodeLimit(c, code, size == 8 ? offset : offset & Core.mask(size));
        if (rpl == c.cpl) {
            c.loadCode(code, rpl);
            c.setStackPointer(sp + 2L * size + release);
        } else {
            long outerSp = c.read(c.stackLinear(sp + 2L * size + release), size);
            int outerSs = (int) c.read(c.stackLinear(sp + 3L * size + release), size) & 0xFFFF;
            Segment stack = Stacks.checkedStack(c, outerSs, rpl, GuestFault.GP, 0);
            c.loadCode(code, rpl);
            Stacks.loadStack(c, stack);
            c.setStackPointer(outerSp + release);
            Stacks.nullInaccessibleDataSegments(c);
        }
        c.rip = size == 8 ? offset : offset & Core.mask(size);
    }

    /** LDS, LES (16- and 32-bit code), LSS, LFS, LGS: the offset into the register, the selector into the segment register. */
    static void loadFarPointer(Core c, int sreg) {
        c.takeModrm();
        if (c.mod == 3) {
            throw GuestFault.of(GuestFault.UD);
        }
        int size = c.opSize;
        long offset = c.read(c.code64 ? c.ea() : c.checkedEa(size, false), size);
        int selector = (int) c.read(c.dataLinear((c.offset() + size) & c.offsetMask(), 2, false), 2);
        SegmentLoads.load(c, sreg, selector);
        c.setReg(c.regField, size, offset);
        if (sreg == SegmentLoads.SS) {
            c.interruptShadow = true;
        }
        c.done();
    }
}

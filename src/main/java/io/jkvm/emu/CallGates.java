package io.jkvm.emu;

import io.jkvm.x86.Segment;

import java.util.ArrayList;
import java.util.List;

/**
 * Far CALL and JMP through a call gate (SDM vol. 3, 5.8): 16- and 32-bit gates outside IA-32e mode, 64-bit gates
 * (16 bytes) in it. A CALL to a more privileged non-conforming segment switches to that level's stack from the TSS,
 * pushes the old SS and stack pointer, copies the gate's parameter count of parameters (none in IA-32e mode, where SS
 * becomes null), then the return CS and offset; a far RET to the outer level undoes it. A JMP never changes level.
 */
final class CallGates {
    private CallGates() {
    }

    /** Whether {@code selector} names a call gate of this mode, rather than a code segment. */
    static boolean isCallGate(Core c, int selector) {
        if ((selector & 0xFFFC) == 0) {
            return false;
        }
        long descriptor = c.supervisorRead(SegmentLoads.descriptorAddress(c, selector), 8);
        int type = (int) (descriptor >>> 40) & 0x1F; // S clear and type 0C (32- or 64-bit gate) or 04 (16-bit)
        return type == 0x0C || type == 0x04 && !c.longMode();
    }

    static void transfer(Core c, int gateSelector, boolean call) {
        long address = SegmentLoads.descriptorAddress(c, gateSelector);
        long gate = c.supervisorRead(address, 8);
        int gateCode = gateSelector & 0xFFFC;
        int gateDpl = (int) (gate >>> 45) & 3;
        if (gateDpl < c.cpl || gateDpl < (gateSelector & 3)) {
            throw GuestFault.withCode(GuestFault.GP, gateCode);
        }
        if ((gate & (1L << 47)) == 0) {
            throw GuestFault.withCode(GuestFault.NP, gateCode);
        }
        boolean ia32e = c.longMode();
        int size = (gate & (8L << 40)) != 0 ? 4 : 2;
        long offset = (gate & 0xFFFF) | (size == 4 ? (gate >>> 32) & 0xFFFF0000L : 0);
        if (ia32e) {
            long high = c.supervisorRead(address + 8, 8);
            if (((high >>> 40) & 0x1F) != 0) {
                throw GuestFault.withCode(GuestFault.GP, gateCode); // the upper half's type must be 0
            }
            offset |= (high & 0xFFFFFFFFL) << 32;
            size = 8;
        }
        int selector = (int) (gate >>> 16) & 0xFFFF;
        int code = selector & 0xFFFC;
        if (code == 0) {
            throw GuestFault.withCode(GuestFault.GP, 0);
        }
        long targetAddress = SegmentLoads.descriptorAddress(c, selector);
        long descriptor = c.supervisorRead(targetAddress, 8);
        Segment target = SegmentLoads.cached(selector, descriptor);
        boolean conforming = (target.type() & 4) != 0;
        if (!target.s() || (target.type() & 8) == 0 || target.dpl() > c.cpl || ia32e && !(target.l() && !target.db())
                || !call && !conforming && target.dpl() != c.cpl) {
            throw GuestFault.withCode(GuestFault.GP, code);
        }
        if (!target.present()) {
            throw GuestFault.withCode(GuestFault.NP, code);
        }
        SegmentLoads.markAccessed(c, targetAddress, descriptor);
        int newCpl = conforming ? c.cpl : target.dpl();
        List<Long> pushes = new ArrayList<>();
        Segment stack = c.segments[SegmentLoads.SS];
        long sp = c.stackPointer();
        boolean flat = c.code64;
        if (call && newCpl < c.cpl) {
            pushes.add((long) stack.selector());
            pushes.add(sp);
            if (ia32e) {
                sp = Interrupts.readTss(c, 4 + 8 * newCpl, false); // RSPn; SS becomes null
                stack = Interrupts.nullStack(newCpl);
                flat = true;
            } else {
                int count = (int) (gate >>> 32) & 0x1F;
                for (int i = count - 1; i >= 0; i--) {
                    pushes.add(c.read(c.stackLinear(sp + (long) i * size), size)); // copied in the caller's order
                }
                Stacks.Inner inner = Stacks.fromTss32(c, newCpl, false);
                stack = inner.stack();
                sp = inner.pointer();
                flat = false;
            }
        }
        if (call) {
            pushes.add((long) c.segments[SegmentLoads.CS].selector());
            pushes.add(c.rip);
        }
        int oldCpl = c.cpl;
        c.setCpl(newCpl);
        try {
            sp = Stacks.pushOn(c, stack, sp, size, pushes, flat);
        } catch (GuestFault f) {
            c.setCpl(oldCpl);
            throw f;
        }
        c.loadCode(FarTransfers.withRpl(target, newCpl), newCpl);
        if (stack != c.segments[SegmentLoads.SS]) {
            Stacks.loadStack(c, stack);
        }
        c.setStackPointer(sp);
        c.rip = offset;
    }
}

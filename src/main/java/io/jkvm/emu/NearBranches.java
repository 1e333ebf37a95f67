package io.jkvm.emu;

/**
 * Near JMP, Jcc, CALL and RET: one definition for the interpreter and the decoded blocks. A target is checked before
 * anything moves (a faulting CALL pushes nothing, a faulting RET leaves RSP), and the fault is the branch's own.
 */
final class NearBranches {
    private NearBranches() {
    }

    /**
     * A near branch target at the branch's operand size {@code width} (2, 4 or 8): truncated to it; outside 64-bit mode
     * one past CS's limit is #GP(0), in it a non-canonical one is.
     */
    static long target(Core c, long target, int width) {
        long t = width == 8 ? target : width == 4 ? target & 0xFFFFFFFFL : target & 0xFFFF;
        if (!c.code64) {
            FarTransfers.requireInCodeLimit(c, c.segments[SegmentLoads.CS], t);
        }
        return c.canonicalTarget(t);
    }

    static void jump(Core c, long target, int width) {
        c.rip = target(c, target, width);
    }

    /** CALL: the return address (the next instruction's) pushed at {@code width}, then RIP at the target. */
    static void call(Core c, long target, long returnAddress, int width) {
        long t = target(c, target, width);
        c.push(width == 2 ? returnAddress & 0xFFFF : returnAddress, width);
        c.rip = t;
    }

    /** RET: the return address popped at {@code width}; a target that faults puts the stack pointer back. */
    static void ret(Core c, int width) {
        long sp = c.stackPointer();
        long value = c.pop(width);
        try {
            c.rip = target(c, value, width);
        } catch (GuestFault f) {
            c.setStackPointer(sp);
            throw f;
        }
    }
}

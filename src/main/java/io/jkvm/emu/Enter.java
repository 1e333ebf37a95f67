package io.jkvm.emu;

/**
 * ENTER and LEAVE. ENTER imm16, imm8 (the SDM's pseudocode): push the frame pointer, copy nesting-level − 1 frame
 * pointers from the enclosing frame, push the new frame pointer, then allocate. The pushes are of the operand size: 8 in 64-bit mode
 * (2 with 66, when only BP takes the frame pointer and RBP's upper bits stay, as this host's CPU does, checked
 * natively), 2 or 4 outside it, on SS:ESP or SS:SP as SS.B says.
 */
final class Enter {
    private Enter() {
    }

    /** LEAVE: the stack pointer from the frame pointer, then the saved frame pointer popped ({@code size} bytes). */
    static void leave(Core c, int size) {
        long sp = c.stackPointer();
        c.setStackPointer(c.r[5]);
        try {
            c.setReg(5, size, c.pop(size));
        } catch (GuestFault f) {
            c.setStackPointer(sp); // the pop faulted: RSP as before the instruction
            throw f;
        }
    }

    static void execute(Core c) {
        int allocSize = (int) c.insn.immediate() & 0xFFFF;
        int level = (int) (c.insn.immediate() >>> 16) & 31;
        int size = c.code64 ? (c.opSize == 2 ? 2 : 8) : c.opSize;
        long bpMask = c.code64 ? -1L : c.stack32 ? 0xFFFFFFFFL : 0xFFFF;
        long sp = push(c, c.stackPointer(), size, c.r[5]);
        long frameTemp = sp;
        if (level > 0) {
            long bp = c.r[5] & bpMask;
            for (int i = 1; i < level; i++) {
                bp = (bp - size) & bpMask;
                if (c.code64) {
                    c.requireCanonicalStack(bp);
                } else {
                    SegmentChecks.check(c, SegmentLoads.SS, bp, size, false);
                }
                sp = push(c, sp, size, c.read(c.stackLinear(bp), size));
            }
            sp = push(c, sp, size, frameTemp);
        }
        c.setReg(5, c.code64 ? size : c.stack32 ? 4 : 2, frameTemp); // EBP or BP by the stack size outside 64-bit mode
        c.setStackPointer(sp - allocSize); // registers change only once every access has passed
        c.done();
    }

    private static long push(Core c, long sp, int size, long value) {
        long at = sp - size;
        if (c.code64) {
            c.requireCanonicalStack(at);
        } else {
            at &= c.stack32 ? 0xFFFFFFFFL : 0xFFFF;
            SegmentChecks.check(c, SegmentLoads.SS, at, size, true);
        }
        c.write(c.stackLinear(at), size, value);
        return at;
    }
}

package io.jkvm.emu;

/**
 * ENTER imm16, imm8 in 64-bit mode (the SDM's pseudocode with StackSize 64): push RBP, copy nesting-level − 1
 * frame pointers from the enclosing frame, push the new frame pointer, then allocate. With a 66 prefix every push
 * is 2 bytes and only BP takes the frame pointer, RBP's upper bits staying (as this host's CPU does, checked natively).
 */
final class Enter {
    private Enter() {
    }

    static void execute(Core c) {
        int allocSize = (int) c.fetch(2);
        int level = (int) c.fetch(1) & 31;
        int size = c.opSize == 2 ? 2 : 8;
        long rsp = push(c, c.r[4], size, c.r[5]);
        long frameTemp = rsp;
        if (level > 0) {
            long rbp = c.r[5];
            for (int i = 1; i < level; i++) {
                rbp -= size;
                Core.requireCanonicalStack(rbp);
                rsp = push(c, rsp, size, c.read(rbp, size));
            }
            rsp = push(c, rsp, size, frameTemp);
        }
        c.setReg(5, size, frameTemp); // registers change only once every access has passed
        c.r[4] = rsp - allocSize;
        c.done();
    }

    private static long push(Core c, long rsp, int size, long value) {
        long at = rsp - size;
        Core.requireCanonicalStack(at);
        c.write(at, size, value);
        return at;
    }
}

package io.jkvm.emu;

/**
 * A {@link BlockOp#LOCKED} read-modify-write (LOCK ADD, OR, AND, SUB, XOR, INC, DEC, XADD or CMPXCHG of 4 or 8 bytes)
 * as one compare-and-swap on guest RAM, inside a decoded block. Only when its operand is naturally aligned in a direct
 * page (RAM the vCPU may store to plainly: no decoded code there, no dirty log): anything else goes to the interpreter's
 * locked path, with its translation, faults, devices and split operands.
 */
final class LockedInPlace {
    private LockedInPlace() {
    }

    /**
     * Runs {@code d} at {@code linear}, its operand's address: with this vCPU's mark busy ({@link SplitLock}) as the
     * interpreter's locked path sets it, then the flags and registers as the interpreter leaves them. False, with
     * nothing done, when the interpreter must run it.
     */
    static boolean run(Core c, BlockOp d, long linear) {
        int size = d.size(), kind = d.sub();
        long host = c.directWriteAddress(linear, size);
        if (host == 0 || (host & (size - 1)) != 0) {
            return false;
        }
        long m = CpuState.mask(size);
        long src = kind >= 16 ? d.imm() & m : kind == 8 || kind == 9 ? 1 : c.regOf(d.reg(), size);
        long acc = c.regOf(0, size), old, stored = 0;
        SplitLock.enterShared(c.lockMark);
        try {
            do {
                old = size == 8 ? c.ram.getLongVolatileAt(host) : c.ram.getIntVolatileAt(host);
                if (kind == 11 && old != acc) {
                    break; // CMPXCHG's compare failed: the word as read is the value, and the store leaves it
                }
                stored = switch (kind) {
                    case 8 -> (old + 1) & m;
                    case 9 -> (old - 1) & m;
                    case 10 -> Arithmetic.aluOp(c, 0, old, src, size); // XADD: the sum, with its flags
                    case 11 -> src;
                    default -> Arithmetic.aluOp(c, kind & 7, old, src, size);
                };
            } while (!(size == 8 ? c.ram.compareAndSetLongAt(host, old, stored) : c.ram.compareAndSetIntAt(host, old, stored)));
        } finally {
            SplitLock.exitShared(c.lockMark);
        }
        c.lockedInPlace++;
        switch (kind) {
            case 8, 9 -> Arithmetic.incDecFlags(c, kind == 8, old, stored, size);
            case 10 -> c.setRegOf(d.reg(), size, old);
            case 11 -> {
                Arithmetic.aluOp(c, 7, acc, old, size);
                if (old != acc) {
                    c.setRegOf(0, size, old);
                }
            }
            default -> {
            }
        }
        return true;
    }
}

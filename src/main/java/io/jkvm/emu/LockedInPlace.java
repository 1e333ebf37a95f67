package io.jkvm.emu;

/**
 * A {@link BlockOp#LOCKED} read-modify-write (LOCK ADD, OR, AND, SUB, XOR, INC, DEC, XADD or CMPXCHG of 4 or 8 bytes)
 * as one compare-and-swap on guest RAM, inside a decoded block or a compiled one. Only when its operand is naturally
 * aligned in a direct page (RAM the vCPU may store to plainly: no decoded code there, no dirty log): anything else
 * goes to the interpreter's locked path, with its translation, faults, devices and split operands.
 */
final class LockedInPlace {
    private LockedInPlace() {
    }

    /**
     * Runs {@code d} at {@code linear}, its operand's address, then sets the flags and registers as the interpreter
     * leaves them. False, with nothing done, when the interpreter must run it.
     */
    static boolean run(Core c, BlockOp d, long linear) {
        int size = d.size(), kind = d.sub();
        long host = directAddress(c, linear, size);
        if (host < 0) {
            return false;
        }
        long src = source(c, d), acc = c.regOf(0, size);
        long old = swap(c, host, kind, size, src, acc);
        switch (kind) {
            case 8, 9 -> Arithmetic.incDecFlags(c, kind == 8, old, stored(kind, old, src, CpuState.mask(size)), size);
            case 10 -> {
                Arithmetic.aluOp(c, 0, old, src, size);
                c.setRegOf(d.reg(), size, old);
            }
            case 11 -> {
                Arithmetic.aluOp(c, 7, acc, old, size);
                if (old != acc) {
                    c.setRegOf(0, size, old);
                }
            }
            default -> Arithmetic.aluOp(c, kind & 7, old, src, size);
        }
        return true;
    }

    /** The host address of {@code size} bytes at {@code linear} when a compare-and-swap may run there, else -1. */
    static long directAddress(Core c, long linear, int size) {
        long host = c.directWriteAddress(linear, size);
        return (host & (size - 1)) == 0 ? host : -1;
    }

    /** The operand a {@link BlockOp#LOCKED} op {@code d} applies: its immediate, 1 (INC, DEC), or its register. */
    private static long source(Core c, BlockOp d) {
        int kind = d.sub();
        return readsRegister(kind) ? c.regOf(d.reg(), d.size()) : kind >= 16 ? d.imm() & CpuState.mask(d.size()) : 1;
    }

    /**
     * Whether a locked op of {@code kind} applies its register {@code reg} (the ALU operations with a register, XADD,
     * CMPXCHG); with an immediate (kind 16 and up) and INC and DEC, ModRM.reg is the operation.
     */
    static boolean readsRegister(int kind) {
        return kind < 16 && kind != 8 && kind != 9;
    }

    /**
     * The atomic step of a locked op of {@code kind} on the {@code size} bytes at {@code host} ({@link #directAddress}),
     * with this vCPU's mark busy as the interpreter's locked path sets it ({@link SplitLock}), or a plain load and store
     * when its core is the only one over the RAM: the value stored is {@link #stored} of the value found (CMPXCHG
     * stores only over {@code acc}). Returns the value found. It changes no register and no flag, so compiled code
     * keeps both in its locals.
     */
    static long swap(Core c, long host, int kind, int size, long src, long acc) {
        long m = CpuState.mask(size), old, stored;
        if (c.lockMark.solo()) { // no other core over this RAM: nothing comes between the read and the store
            old = size == 8 ? c.ram.longAt(host) : c.ram.intAt(host);
            if (kind != 11 || old == acc) {
                stored = stored(kind, old, src, m);
                if (size == 8) {
                    c.ram.putLongAt(host, stored);
                } else {
                    c.ram.putIntAt(host, stored);
                }
            }
            c.lockedInPlace++;
            return old;
        }
        boolean marked = SplitLock.enterOne(c.lockMark);
        try {
            do {
                old = size == 8 ? c.ram.getLongVolatileAt(host) : c.ram.getIntVolatileAt(host);
                if (kind == 11 && old != acc) {
                    break; // CMPXCHG's compare failed: the word as read is the value, and the store leaves it
                }
                stored = stored(kind, old, src, m);
            } while (!(size == 8 ? c.ram.compareAndSetLongAt(host, old, stored) : c.ram.compareAndSetIntAt(host, old, stored)));
        } finally {
            if (marked) {
                SplitLock.exitShared(c.lockMark);
            }
        }
        c.lockedInPlace++;
        return old;
    }

    /** What a locked op of {@code kind} stores over {@code old}, {@code m} its size's mask. */
    static long stored(int kind, long old, long src, long m) {
        return switch (kind & 15) { // an immediate's kinds (16 + the ALU operation) as the register's
            case 0, 10 -> (old + src) & m;
            case 1 -> old | src;
            case 4 -> old & src;
            case 5 -> (old - src) & m;
            case 6 -> old ^ src;
            case 8 -> (old + 1) & m;
            case 9 -> (old - 1) & m;
            case 11 -> src;
            default -> throw new IllegalArgumentException("no locked read-modify-write of kind " + kind);
        };
    }
}

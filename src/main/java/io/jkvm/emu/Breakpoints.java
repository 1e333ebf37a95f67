package io.jkvm.emu;

/**
 * The debug registers' breakpoints (SDM vol. 3, 18.2 and 18.3): DR0-DR3 with DR7's enables, R/W and LEN fields.
 * An instruction breakpoint (R/W 00) is a fault before the instruction at that linear address, suppressed while
 * EFLAGS.RF is set; a data breakpoint (R/W 01 writes, 11 reads and writes) is a trap after the instruction that
 * touched a byte of the watched 1, 2, 4 or 8, and an I/O breakpoint (R/W 10, under CR4.DE) a trap after an IN, OUT,
 * INS or OUTS of a watched port. All report the breakpoints hit in DR6.B0-B3. DR7.GD makes any MOV of a debug
 * register a #DB fault with DR6.BD, GD cleared for the handler.
 */
final class Breakpoints {
    static final long RF = 1L << 16;

    private Breakpoints() {
    }

    /** Whether DR7 enables any breakpoint (L0-L3 or G0-G3): the block executor leaves such code to the interpreter. */
    static boolean armed(Core c) {
        return (c.dr7 & 0xFF) != 0;
    }

    private static boolean enabled(Core c, int n) {
        return (c.dr7 & (3L << (2 * n))) != 0;
    }

    private static int rw(Core c, int n) {
        return (int) (c.dr7 >>> (16 + 4 * n)) & 3;
    }

    private static int length(Core c, int n) {
        return switch ((int) (c.dr7 >>> (18 + 4 * n)) & 3) {
            case 0 -> 1;
            case 1 -> 2;
            case 2 -> 8;
            default -> 4;
        };
    }

    /** The DR6 bits of the instruction breakpoints set at linear address {@code at}. */
    static int instructionHits(Core c, long at) {
        int hits = 0;
        for (int n = 0; n < 4; n++) {
            if (enabled(c, n) && rw(c, n) == 0 && c.dr[n] == at) {
                hits |= 1 << n;
            }
        }
        return hits;
    }

    /** The DR6 bits of the I/O breakpoints (R/W 10, meaningful under CR4.DE) an access of {@code size} ports hits. */
    static int ioHits(Core c, int port, int size) {
        int hits = 0;
        for (int n = 0; n < 4; n++) {
            if (enabled(c, n) && rw(c, n) == 2) {
                int len = length(c, n);
                long start = c.dr[n] & 0xFFFF & -len;
                if (port < start + len && start < port + size) {
                    hits |= 1 << n;
                }
            }
        }
        return hits;
    }

    /** The DR6 bits of the data breakpoints an access of {@code size} bytes at {@code linear} hits. */
    static int dataHits(Core c, long linear, int size, boolean write) {
        int hits = 0;
        for (int n = 0; n < 4; n++) {
            int rw = rw(c, n);
            if (enabled(c, n) && (rw == 3 || rw == 1 && write)) {
                int len = length(c, n);
                long start = c.dr[n] & -len;
                if (linear < start + len && start < linear + size) {
                    hits |= 1 << n;
                }
            }
        }
        return hits;
    }
}

package io.jkvm.emu;

/** The lane-wise SSE2 integer operations: unpacks, packs, multiplies, min/max, averages, saturating add/sub, shifts by XMM, shuffles. */
final class SsePacked {
    private SsePacked() {
    }

    /** Element {@code i} of width {@code bytes} from a 128-bit value, zero-extended. */
    static long get(long[] v, int i, int bytes) {
        int per = 8 / bytes;
        long q = v[i / per];
        return bytes == 8 ? q : (q >>> (8 * bytes * (i % per))) & ((1L << (8 * bytes)) - 1);
    }

    static long getSigned(long[] v, int i, int bytes) {
        long x = get(v, i, bytes);
        int shift = 64 - 8 * bytes;
        return (x << shift) >> shift;
    }

    static void put(long[] v, int i, int bytes, long value) {
        int per = 8 / bytes;
        if (bytes == 8) {
            v[i / per] = value;
            return;
        }
        int shift = 8 * bytes * (i % per);
        long m = ((1L << (8 * bytes)) - 1) << shift;
        v[i / per] = (v[i / per] & ~m) | ((value << shift) & m);
    }

    private static long clamp(long v, long lo, long hi) {
        return Math.max(lo, Math.min(hi, v));
    }

    static long[] binary(int op, long[] d, long[] s) {
        long[] r = new long[2];
        switch (op) {
            case 0x68, 0x69, 0x6A -> { // PUNPCKHBW/WD/DQ: interleave the high halves
                int bytes = 1 << (op - 0x68);
                int n = 8 / bytes;
                for (int i = 0; i < n; i++) {
                    put(r, 2 * i, bytes, get(d, n + i, bytes));
                    put(r, 2 * i + 1, bytes, get(s, n + i, bytes));
                }
            }
            case 0x63, 0x67, 0x6B -> { // PACKSSWB, PACKUSWB, PACKSSDW
                int from = op == 0x6B ? 4 : 2;
                int to = from / 2;
                int n = 16 / from;
                for (int i = 0; i < 2 * n; i++) {
                    long v = getSigned(i < n ? d : s, i % n, from);
                    long packed = op == 0x67 ? clamp(v, 0, 255)
                            : clamp(v, -(1L << (8 * to - 1)), (1L << (8 * to - 1)) - 1);
                    put(r, i, to, packed);
                }
            }
            case 0xD5, 0xE5, 0xE4 -> { // PMULLW, PMULHW, PMULHUW
                for (int i = 0; i < 8; i++) {
                    long p = op == 0xE4 ? get(d, i, 2) * get(s, i, 2) : getSigned(d, i, 2) * getSigned(s, i, 2);
                    put(r, i, 2, op == 0xD5 ? p : p >> 16);
                }
            }
            case 0xF4 -> { // PMULUDQ: the even dwords, full 64-bit products
                for (int i = 0; i < 2; i++) {
                    r[i] = get(d, 2 * i, 4) * get(s, 2 * i, 4);
                }
            }
            case 0xF5 -> { // PMADDWD
                for (int i = 0; i < 4; i++) {
                    long sum = getSigned(d, 2 * i, 2) * getSigned(s, 2 * i, 2) + getSigned(d, 2 * i + 1, 2) * getSigned(s, 2 * i + 1, 2);
                    put(r, i, 4, sum);
                }
            }
            case 0xDA, 0xDE -> { // PMINUB, PMAXUB
                for (int i = 0; i < 16; i++) {
                    long a = get(d, i, 1), b = get(s, i, 1);
                    put(r, i, 1, op == 0xDA ? Math.min(a, b) : Math.max(a, b));
                }
            }
            case 0xEA, 0xEE -> { // PMINSW, PMAXSW
                for (int i = 0; i < 8; i++) {
                    long a = getSigned(d, i, 2), b = getSigned(s, i, 2);
                    put(r, i, 2, op == 0xEA ? Math.min(a, b) : Math.max(a, b));
                }
            }
            case 0xE0, 0xE3 -> { // PAVGB, PAVGW: rounded up
                int bytes = op == 0xE0 ? 1 : 2;
                for (int i = 0; i < 16 / bytes; i++) {
                    put(r, i, bytes, (get(d, i, bytes) + get(s, i, bytes) + 1) >>> 1);
                }
            }
            case 0xF6 -> { // PSADBW: sums of absolute byte differences, per quadword
                for (int q = 0; q < 2; q++) {
                    long sum = 0;
                    for (int i = 0; i < 8; i++) {
                        sum += Math.abs(get(d, 8 * q + i, 1) - get(s, 8 * q + i, 1));
                    }
                    r[q] = sum;
                }
            }
            case 0xEC, 0xED, 0xE8, 0xE9 -> { // PADDSB/W, PSUBSB/W: signed saturation
                int bytes = (op & 1) == 0 ? 1 : 2;
                long lo = -(1L << (8 * bytes - 1)), hi = (1L << (8 * bytes - 1)) - 1;
                for (int i = 0; i < 16 / bytes; i++) {
                    long a = getSigned(d, i, bytes), b = getSigned(s, i, bytes);
                    put(r, i, bytes, clamp(op >= 0xEC ? a + b : a - b, lo, hi));
                }
            }
            case 0xDC, 0xDD, 0xD8, 0xD9 -> { // PADDUSB/W, PSUBUSB/W: unsigned saturation
                int bytes = (op & 1) == 0 ? 1 : 2;
                long hi = (1L << (8 * bytes)) - 1;
                for (int i = 0; i < 16 / bytes; i++) {
                    long a = get(d, i, bytes), b = get(s, i, bytes);
                    put(r, i, bytes, clamp(op >= 0xDC ? a + b : a - b, 0, hi));
                }
            }
            default -> { // shifts by the low quadword of the source: D1-D3 PSRL, E1-E2 PSRA, F1-F3 PSLL
                int bytes = switch (op & 3) {
                    case 1 -> 2;
                    case 2 -> 4;
                    default -> 8;
                };
                int bits = 8 * bytes;
                long count = s[0];
                boolean big = Long.compareUnsigned(count, bits) >= 0;
                for (int i = 0; i < 16 / bytes; i++) {
                    long v;
                    if ((op & 0xF0) == 0xE0) {
                        v = getSigned(d, i, bytes) >> (big ? bits - 1 : count);
                    } else if (big) {
                        v = 0;
                    } else if ((op & 0xF0) == 0xD0) {
                        v = get(d, i, bytes) >>> count;
                    } else {
                        v = get(d, i, bytes) << count;
                    }
                    put(r, i, bytes, v);
                }
            }
        }
        return r;
    }

    static long[] shufps(long[] d, long[] s, int imm) {
        long[] r = new long[2];
        put(r, 0, 4, get(d, imm & 3, 4));
        put(r, 1, 4, get(d, (imm >>> 2) & 3, 4));
        put(r, 2, 4, get(s, (imm >>> 4) & 3, 4));
        put(r, 3, 4, get(s, (imm >>> 6) & 3, 4));
        return r;
    }

    static long[] unpackFloat(long[] d, long[] s, boolean high, boolean doubles) {
        if (doubles) {
            return high ? new long[]{d[1], s[1]} : new long[]{d[0], s[0]};
        }
        long[] r = new long[2];
        int base = high ? 2 : 0;
        put(r, 0, 4, get(d, base, 4));
        put(r, 1, 4, get(s, base, 4));
        put(r, 2, 4, get(d, base + 1, 4));
        put(r, 3, 4, get(s, base + 1, 4));
        return r;
    }

    /** PSHUFLW (low four words shuffled) or PSHUFHW (high four). */
    static long[] pshufw(long[] s, int order, boolean high) {
        long[] r = s.clone();
        int base = high ? 4 : 0;
        for (int i = 0; i < 4; i++) {
            put(r, base + i, 2, get(s, base + ((order >>> (2 * i)) & 3), 2));
        }
        return r;
    }
}

package io.jkvm.emu;

/**
 * SSE4.2's packed string compares (66 0F 3A 60-63): PCMPESTRM, PCMPESTRI (explicit lengths in EAX and EDX, RAX and
 * RDX with REX.W) and PCMPISTRM, PCMPISTRI (each string ends at its first zero element). The immediate chooses bytes
 * or words, signed or not, the aggregation (equal any, ranges, equal each, equal ordered), the polarity and the
 * output: an index in ECX or a mask in XMM0. CF, ZF, SF and OF report the result; AF and PF are cleared.
 */
final class StringCompares {
    private StringCompares() {
    }

    static void execute(Core c, int op) {
        c.takeModrm();
        int x = c.regField & 15;
        int imm = (int) c.insn.immediate();
        long[] b = c.mod == 3 ? new long[]{c.xmm[2 * (c.rmField & 15)], c.xmm[2 * (c.rmField & 15) + 1]}
                : new long[]{c.read(c.ea(), 8), c.read(c.ea() + 8, 8)}; // no alignment required
        long[] a = {c.xmm[2 * x], c.xmm[2 * x + 1]};
        boolean words = (imm & 1) != 0, signed = (imm & 2) != 0;
        int n = words ? 8 : 16, size = words ? 2 : 1;
        long[] av = elements(a, n, size, signed), bv = elements(b, n, size, signed);
        boolean explicit = op == 0x60 || op == 0x61;
        int lenA = explicit ? explicitLength(c.rexW ? c.r[0] : (int) c.r[0], n) : implicitLength(av);
        int lenB = explicit ? explicitLength(c.rexW ? c.r[2] : (int) c.r[2], n) : implicitLength(bv);
        int intRes1 = aggregate((imm >>> 2) & 3, av, bv, lenA, lenB, n);
        int all = (1 << n) - 1;
        int intRes2 = switch ((imm >>> 4) & 3) {
            case 1 -> ~intRes1 & all;
            case 3 -> intRes1 ^ ((1 << lenB) - 1); // negated where the second string has elements
            default -> intRes1;
        };
        boolean mostSignificant = (imm & 0x40) != 0;
        if (op == 0x61 || op == 0x63) { // ...STRI: the index of the first (or last) set bit, n when none is
            int index = intRes2 == 0 ? n : mostSignificant ? 31 - Integer.numberOfLeadingZeros(intRes2) : Integer.numberOfTrailingZeros(intRes2);
            c.r[1] = index;
        } else if (mostSignificant) { // ...STRM with the expanded mask: each element all ones or zero
            long[] mask = new long[2];
            for (int i = 0; i < n; i++) {
                if ((intRes2 >>> i & 1) != 0) {
                    SsePacked.put(mask, i, size, -1L);
                }
            }
            c.xmm[0] = mask[0];
            c.xmm[1] = mask[1];
        } else {
            c.xmm[0] = intRes2;
            c.xmm[1] = 0;
        }
        c.setArith((intRes2 != 0 ? Core.CF : 0) | (lenB < n ? Core.ZF : 0) | (lenA < n ? Core.SF : 0)
                | ((intRes2 & 1) != 0 ? Core.OF : 0));
    }

    private static long[] elements(long[] v, int n, int size, boolean signed) {
        long[] e = new long[n];
        for (int i = 0; i < n; i++) {
            e[i] = signed ? SsePacked.getSigned(v, i, size) : SsePacked.get(v, i, size);
        }
        return e;
    }

    /** The absolute value of a length register, at most {@code n}. */
    private static int explicitLength(long length, int n) {
        return length == Long.MIN_VALUE || Math.abs(length) >= n ? n : (int) Math.abs(length);
    }

    private static int implicitLength(long[] e) {
        for (int i = 0; i < e.length; i++) {
            if (e[i] == 0) {
                return i;
            }
        }
        return e.length;
    }

    /**
     * IntRes1: bit i for element i of the second operand (b). Elements past a string's length are invalid, and the
     * SDM's overrides apply: an invalid pair compares false, but for equal each (both invalid: true) and equal
     * ordered (an invalid first-operand element: true).
     */
    private static int aggregate(int mode, long[] a, long[] b, int lenA, int lenB, int n) {
        int res = 0;
        for (int i = 0; i < n; i++) {
            boolean bit = false;
            switch (mode) {
                case 0 -> { // equal any: b[i] is one of a's elements
                    for (int j = 0; j < lenA && i < lenB; j++) {
                        bit |= a[j] == b[i];
                    }
                }
                case 1 -> { // ranges: b[i] within one of a's pairs [a[j], a[j+1]]
                    for (int j = 0; j + 1 < n && i < lenB; j += 2) {
                        bit |= j < lenA && b[i] >= a[j] && j + 1 < lenA && b[i] <= a[j + 1];
                    }
                }
                case 2 -> bit = i < lenA && i < lenB ? a[i] == b[i] : i >= lenA && i >= lenB; // equal each
                default -> { // equal ordered: a, as far as it goes, found in b at i
                    bit = true;
                    for (int k = 0; k + i < n && bit; k++) {
                        if (k >= lenA) {
                            break;
                        }
                        bit = i + k < lenB && a[k] == b[i + k];
                    }
                }
            }
            if (bit) {
                res |= 1 << i;
            }
        }
        return res;
    }
}

package io.jkvm.emu;

import io.jkvm.testing.NativeCpu;
import io.jkvm.testing.OracleCore;
import io.jkvm.x86.VcpuState;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.HexFormat;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * SSE floating point against the host CPU: operands drawn from zeros, denormals, normals, infinities, QNaNs and
 * SNaNs; MXCSR with a random rounding mode, DAZ, FTZ and sticky flags (exceptions masked). XMM0-15, MXCSR and
 * RFLAGS (for the COMIS forms) must match bit for bit.
 */
class SseFloatOracleTest {
    private static final Random random = new Random(OracleCore.SEED ^ 0x464C54L);
    private static final int CASES = OracleCore.casesPerForm(24) * 4;
    private static OracleCore oracle;

    @BeforeAll
    static void setUp() {
        oracle = new OracleCore("SSE floating-point", "host,+pni");
    }

    @AfterAll
    static void tearDown() {
        oracle.close();
    }

    private static long single() {
        return switch (random.nextInt(12)) {
            case 0 -> 0;
            case 1 -> 0x80000000L;
            case 2 -> random.nextInt(0x800000) | (random.nextBoolean() ? 0x80000000L : 0); // denormal
            case 3 -> 0x7F800000L | (random.nextBoolean() ? 0x80000000L : 0); // infinity
            case 4 -> 0x7FC00000L | random.nextInt(0x400000); // QNaN
            case 5 -> 0x7F800000L | (1 + random.nextInt(0x3FFFFF)); // SNaN
            case 6 -> 0x7F7FFFFFL; // max
            case 7 -> 0x00800000L | random.nextInt(16); // near min normal
            case 8 -> Float.floatToRawIntBits(1.0f + random.nextInt(8)) & 0xFFFFFFFFL;
            default -> random.nextInt() & 0xFFFFFFFFL;
        };
    }

    private static long dbl() {
        return switch (random.nextInt(12)) {
            case 0 -> 0;
            case 1 -> Long.MIN_VALUE;
            case 2 -> (random.nextLong() & 0xFFFFFFFFFFFFFL) | (random.nextBoolean() ? Long.MIN_VALUE : 0);
            case 3 -> 0x7FF0000000000000L | (random.nextBoolean() ? Long.MIN_VALUE : 0);
            case 4 -> 0x7FF8000000000000L | (random.nextLong() & 0x7FFFFFFFFFFFFL);
            case 5 -> 0x7FF0000000000000L | (1 + (random.nextLong() & 0x7FFFFFFFFFFFEL));
            case 6 -> 0x7FEFFFFFFFFFFFFFL;
            case 7 -> 0x0010000000000000L | random.nextInt(16);
            case 8 -> Double.doubleToRawLongBits(1.0 + random.nextInt(8));
            default -> random.nextLong();
        };
    }

    private static void check(String form, byte[] insn, boolean doubles) {
        long[] g = new long[16];
        long[] x = new long[32];
        for (int i = 0; i < 16; i++) {
            g[i] = random.nextLong();
        }
        for (int i = 0; i < 32; i++) {
            x[i] = doubles ? dbl() : (single() | (single() << 32));
        }
        int mxcsr = 0x1F80 | (random.nextInt(4) << 13) | (random.nextInt(4) == 0 ? 0x40 : 0) | (random.nextInt(4) == 0 ? 0x8000 : 0)
                | (random.nextInt(3) == 0 ? random.nextInt(0x40) : 0);
        NativeCpu.Result want = oracle.host.run(insn, g, 0x2, x, mxcsr);
        oracle.load(insn);
        EmulatedVcpu core = oracle.core;
        oracle.setRegisters(g, 0x2);
        oracle.setXmm(x, mxcsr);
        String where = form + " [" + HexFormat.ofDelimiter(" ").formatHex(insn) + "] mxcsr 0x" + Integer.toHexString(mxcsr);
        oracle.runLoaded(where);
        VcpuState after = core.saveState();
        long[] got = OracleCore.xmm(after);
        for (int i = 0; i < 16; i++) {
            final int n = i;
            final long wl = want.xmm()[2 * i], wh = want.xmm()[2 * i + 1], gl = got[2 * i], gh = got[2 * i + 1];
            final long il = x[2 * i], ih = x[2 * i + 1];
            assertTrue(wl == gl && wh == gh, () -> where + ": xmm" + n + " from " + Long.toHexString(ih) + ":" + Long.toHexString(il)
                    + " native " + Long.toHexString(wh) + ":" + Long.toHexString(wl) + ", core " + Long.toHexString(gh) + ":" + Long.toHexString(gl));
        }
        final int wm = want.mxcsr(), gm = after.xsave().mxcsr();
        assertTrue(wm == gm, () -> where + ": mxcsr native 0x" + Integer.toHexString(wm) + ", core 0x" + Integer.toHexString(gm));
        long fw = want.rflags() & 0x8D5, fg = after.registers().rflags() & 0x8D5;
        assertTrue(fw == fg, () -> where + ": flags native 0x" + Long.toHexString(fw) + ", core 0x" + Long.toHexString(fg));
        oracle.counted(form);
    }

    private static byte[] encode(int prefix, int op, int reg, int rm) {
        return encode(prefix, false, op, reg, rm, -1);
    }

    private static byte[] encode(int prefix, boolean w, int op, int reg, int rm, int imm) {
        java.io.ByteArrayOutputStream b = new java.io.ByteArrayOutputStream();
        if (prefix != 0) {
            b.write(prefix);
        }
        int rex = (w ? 8 : 0) | ((reg & 8) != 0 ? 4 : 0) | ((rm & 8) != 0 ? 1 : 0);
        if (rex != 0) {
            b.write(0x40 | rex);
        }
        b.write(0x0F);
        b.write(op);
        b.write(0xC0 | ((reg & 7) << 3) | (rm & 7));
        if (imm >= 0) {
            b.write(imm);
        }
        return b.toByteArray();
    }

    private static int gpr() {
        return OracleCore.randomGpr(random);
    }

    @Test
    void comparePredicates() {
        String[] kinds = {"cmpps", "cmppd", "cmpss", "cmpsd"};
        int[] prefixes = {0, 0x66, 0xF3, 0xF2};
        for (int p = 0; p < 4; p++) {
            for (int i = 0; i < CASES; i++) {
                check(kinds[p], encode(prefixes[p], false, 0xC2, random.nextInt(16), random.nextInt(16), random.nextInt(8)), p == 1 || p == 3);
            }
        }
    }

    @Test
    void conversions() {
        for (int i = 0; i < CASES; i++) {
            boolean w = random.nextBoolean();
            check("cvtsi2ss", encode(0xF3, w, 0x2A, random.nextInt(16), gpr(), -1), false);
            check("cvtsi2sd", encode(0xF2, w, 0x2A, random.nextInt(16), gpr(), -1), true);
            check("cvttss2si", encode(0xF3, w, 0x2C, gpr(), random.nextInt(16), -1), false);
            check("cvtss2si", encode(0xF3, w, 0x2D, gpr(), random.nextInt(16), -1), false);
            check("cvttsd2si", encode(0xF2, w, 0x2C, gpr(), random.nextInt(16), -1), true);
            check("cvtsd2si", encode(0xF2, w, 0x2D, gpr(), random.nextInt(16), -1), true);
            check("cvtss2sd", encode(0xF3, false, 0x5A, random.nextInt(16), random.nextInt(16), -1), false);
            check("cvtsd2ss", encode(0xF2, false, 0x5A, random.nextInt(16), random.nextInt(16), -1), true);
            check("cvtps2pd", encode(0, false, 0x5A, random.nextInt(16), random.nextInt(16), -1), false);
            check("cvtpd2ps", encode(0x66, false, 0x5A, random.nextInt(16), random.nextInt(16), -1), true);
            check("cvtdq2ps", encode(0, false, 0x5B, random.nextInt(16), random.nextInt(16), -1), false);
            check("cvtps2dq", encode(0x66, false, 0x5B, random.nextInt(16), random.nextInt(16), -1), false);
            check("cvttps2dq", encode(0xF3, false, 0x5B, random.nextInt(16), random.nextInt(16), -1), false);
            check("cvtdq2pd", encode(0xF3, false, 0xE6, random.nextInt(16), random.nextInt(16), -1), false);
            check("cvtpd2dq", encode(0xF2, false, 0xE6, random.nextInt(16), random.nextInt(16), -1), true);
            check("cvttpd2dq", encode(0x66, false, 0xE6, random.nextInt(16), random.nextInt(16), -1), true);
        }
    }

    @Test
    void arithmeticMinMaxAndSqrtInEveryForm() {
        String[] names = {"sqrt", "add", "mul", "sub", "min", "div", "max"};
        int[] ops = {0x51, 0x58, 0x59, 0x5C, 0x5D, 0x5E, 0x5F};
        String[] kinds = {"ps", "pd", "ss", "sd"};
        int[] prefixes = {0, 0x66, 0xF3, 0xF2};
        for (int k = 0; k < ops.length; k++) {
            for (int p = 0; p < 4; p++) {
                for (int i = 0; i < CASES; i++) {
                    check(names[k] + kinds[p], encode(prefixes[p], ops[k], random.nextInt(16), random.nextInt(16)), p == 1 || p == 3);
                }
            }
        }
    }

    @Test
    void sse3AddSubtractAndHorizontalForms() {
        String[][] forms = {{"addsubps", "f2 d0"}, {"addsubpd", "66 d0"}, {"haddps", "f2 7c"}, {"haddpd", "66 7c"},
                {"hsubps", "f2 7d"}, {"hsubpd", "66 7d"}};
        for (String[] f : forms) {
            String[] p = f[1].split(" ");
            for (int i = 0; i < CASES; i++) {
                check(f[0], encode(Integer.parseInt(p[0], 16), Integer.parseInt(p[1], 16), random.nextInt(16), random.nextInt(16)), p[0].equals("66"));
            }
        }
    }

    @Test
    void orderedAndUnorderedCompares() {
        String[][] forms = {{"ucomiss", "0 2e"}, {"comiss", "0 2f"}, {"ucomisd", "66 2e"}, {"comisd", "66 2f"}};
        for (String[] f : forms) {
            String[] p = f[1].split(" ");
            for (int i = 0; i < CASES; i++) {
                check(f[0], encode(Integer.parseInt(p[0], 16), Integer.parseInt(p[1], 16), random.nextInt(16), random.nextInt(16)), p[0].equals("66"));
            }
        }
    }
}

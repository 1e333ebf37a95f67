package io.jkvm.emu;

import io.jkvm.testing.NativeCpu;
import io.jkvm.testing.OracleCore;
import io.jkvm.x86.VcpuState;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.util.HexFormat;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertTrue;

/** The SSE2 integer and move instructions of the core against the host CPU, register forms: XMM0-15, GPRs, MXCSR and RFLAGS compared. */
class SseOracleTest {
    private static final Random random = new Random(OracleCore.SEED ^ 0x535345L);
    private static final int CASES = OracleCore.casesPerForm(24);
    private static OracleCore oracle;

    @BeforeAll
    static void setUp() {
        oracle = new OracleCore("SSE", "host,+pni,+ssse3,+sse4.1,+sse4.2");
    }

    @AfterAll
    static void tearDown() {
        oracle.close();
    }

    private static byte[] encode(int prefix, boolean w, int[] opcode, int reg, int rm, int imm, boolean hasImm) {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        if (prefix != 0) {
            b.write(prefix);
        }
        int rex = (w ? 8 : 0) | ((reg & 8) != 0 ? 4 : 0) | ((rm & 8) != 0 ? 1 : 0);
        if (rex != 0) {
            b.write(0x40 | rex);
        }
        for (int o : opcode) {
            b.write(o);
        }
        b.write(0xC0 | ((reg & 7) << 3) | (rm & 7));
        if (hasImm) {
            b.write(imm);
        }
        return b.toByteArray();
    }

    private static void check(String form, byte[] insn) {
        long[] g = new long[16];
        long[] x = new long[32];
        for (int i = 0; i < 16; i++) {
            g[i] = random.nextLong();
        }
        for (int i = 0; i < 32; i++) {
            x[i] = random.nextInt(4) == 0 ? 0 : random.nextInt(4) == 0 ? -1 : random.nextLong();
        }
        if (random.nextInt(4) == 0) {
            System.arraycopy(x, 2 * random.nextInt(16), x, 2 * random.nextInt(16), 2); // equal registers for compares
        }
        if (form.startsWith("pcmp") && form.contains("str")) { // short strings over a small alphabet, short lengths
            g[0] = random.nextInt(41) - 20;
            g[2] = random.nextInt(41) - 20;
            for (int i = 0; i < 32; i++) {
                long v = 0;
                for (int k = 0; k < 8; k++) {
                    v |= (long) (random.nextInt(12) == 0 ? 0 : 0x41 + random.nextInt(4) + (random.nextInt(8) == 0 ? 0x80 : 0)) << (8 * k);
                }
                x[i] = v;
            }
        }
        // None of these forms changes a flag or MXCSR: random ones (rounding, DAZ, FTZ, sticky exceptions) must come through.
        long flags = random.nextLong() & 0x8D5L;
        int mxcsr = 0x1F80 | (random.nextInt(4) << 13) | (random.nextBoolean() ? 0x40 : 0) | (random.nextBoolean() ? 0x8000 : 0) | random.nextInt(0x40);
        NativeCpu.Result want = oracle.host.run(insn, g, flags, x, mxcsr);
        oracle.load(insn);
        EmulatedVcpu core = oracle.core;
        oracle.setRegisters(g, flags | 0x2);
        oracle.setXmm(x, mxcsr);
        String where = form + " [" + HexFormat.ofDelimiter(" ").formatHex(insn) + "]";
        oracle.runLoaded(where);
        VcpuState after = core.saveState();
        long[] got = OracleCore.xmm(after);
        for (int i = 0; i < 16; i++) {
            final int n = i;
            final long wl = want.xmm()[2 * i], wh = want.xmm()[2 * i + 1], gl = got[2 * i], gh = got[2 * i + 1];
            assertTrue(wl == gl && wh == gh, () -> where + ": xmm" + n + " native " + Long.toHexString(wh) + ":" + Long.toHexString(wl)
                    + ", core " + Long.toHexString(gh) + ":" + Long.toHexString(gl));
        }
        for (int i = 0; i < 16; i++) {
            if (i != 4) {
                final int n = i;
                assertTrue(want.gprs()[i] == after.gpr(i), () -> where + ": r" + n);
            }
        }
        final int wm = want.mxcsr(), gm = after.xsave().mxcsr();
        assertTrue(wm == gm, () -> where + ": mxcsr native 0x" + Integer.toHexString(wm) + ", core 0x" + Integer.toHexString(gm));
        final long fw = want.rflags() & 0x8D5, fg = after.registers().rflags() & 0x8D5;
        assertTrue(fw == fg, () -> where + ": flags native 0x" + Long.toHexString(fw) + ", core 0x" + Long.toHexString(fg));
        oracle.counted(form);
    }

    private static int xmm() {
        return random.nextInt(16);
    }

    private static int gpr() {
        return OracleCore.randomGpr(random);
    }

    @Test
    void ssse3AndSse41IntegerForms() {
        String[][] map38 = {{"pshufb", "00"}, {"pabsb", "1c"}, {"pabsw", "1d"}, {"pabsd", "1e"}, {"ptest", "17"},
                {"pcmpeqq", "29"}, {"pcmpgtq", "37"}, {"packusdw", "2b"}, {"pmulld", "40"},
                {"pminsb", "38"}, {"pminsd", "39"}, {"pminuw", "3a"}, {"pminud", "3b"},
                {"pmaxsb", "3c"}, {"pmaxsd", "3d"}, {"pmaxuw", "3e"}, {"pmaxud", "3f"},
                {"pmovsxbw", "20"}, {"pmovsxbd", "21"}, {"pmovsxbq", "22"}, {"pmovsxwd", "23"}, {"pmovsxwq", "24"}, {"pmovsxdq", "25"},
                {"pmovzxbw", "30"}, {"pmovzxbd", "31"}, {"pmovzxbq", "32"}, {"pmovzxwd", "33"}, {"pmovzxwq", "34"}, {"pmovzxdq", "35"},
                {"phaddw", "01"}, {"phaddd", "02"}, {"phaddsw", "03"}, {"pmaddubsw", "04"}, {"phsubw", "05"}, {"phsubd", "06"},
                {"phsubsw", "07"}, {"psignb", "08"}, {"psignw", "09"}, {"psignd", "0a"}, {"pmulhrsw", "0b"},
                {"pblendvb", "10"}, {"blendvps", "14"}, {"blendvpd", "15"}, {"pmuldq", "28"}, {"phminposuw", "41"}};
        for (String[] f : map38) {
            int op = Integer.parseInt(f[1], 16);
            for (int i = 0; i < CASES; i++) {
                check(f[0], encode(0x66, false, new int[]{0x0F, 0x38, op}, xmm(), xmm(), 0, false));
            }
        }
        for (int i = 0; i < CASES; i++) {
            check("palignr", encode(0x66, false, new int[]{0x0F, 0x3A, 0x0F}, xmm(), xmm(), random.nextInt(40), true));
            check("pblendw", encode(0x66, false, new int[]{0x0F, 0x3A, 0x0E}, xmm(), xmm(), random.nextInt(256), true));
            check("pextrb r32", encode(0x66, false, new int[]{0x0F, 0x3A, 0x14}, xmm(), gpr(), random.nextInt(256), true));
            check("pextrd r32", encode(0x66, false, new int[]{0x0F, 0x3A, 0x16}, xmm(), gpr(), random.nextInt(256), true));
            check("pextrq r64", encode(0x66, true, new int[]{0x0F, 0x3A, 0x16}, xmm(), gpr(), random.nextInt(256), true));
            check("pinsrb", encode(0x66, false, new int[]{0x0F, 0x3A, 0x20}, xmm(), gpr(), random.nextInt(256), true));
            check("pinsrd", encode(0x66, false, new int[]{0x0F, 0x3A, 0x22}, xmm(), gpr(), random.nextInt(256), true));
            check("pinsrq", encode(0x66, true, new int[]{0x0F, 0x3A, 0x22}, xmm(), gpr(), random.nextInt(256), true));
            check("blendps", encode(0x66, false, new int[]{0x0F, 0x3A, 0x0C}, xmm(), xmm(), random.nextInt(256), true));
            check("blendpd", encode(0x66, false, new int[]{0x0F, 0x3A, 0x0D}, xmm(), xmm(), random.nextInt(256), true));
            check("pextrw r32 (0f 3a 15)", encode(0x66, false, new int[]{0x0F, 0x3A, 0x15}, xmm(), gpr(), random.nextInt(256), true));
            check("extractps r32", encode(0x66, false, new int[]{0x0F, 0x3A, 0x17}, xmm(), gpr(), random.nextInt(256), true));
            check("insertps", encode(0x66, false, new int[]{0x0F, 0x3A, 0x21}, xmm(), xmm(), random.nextInt(256), true));
            check("mpsadbw", encode(0x66, false, new int[]{0x0F, 0x3A, 0x42}, xmm(), xmm(), random.nextInt(256), true));
            check("dpps", encode(0x66, false, new int[]{0x0F, 0x3A, 0x40}, xmm(), xmm(), random.nextInt(256), true));
            check("dppd", encode(0x66, false, new int[]{0x0F, 0x3A, 0x41}, xmm(), xmm(), random.nextInt(256), true));
            String[] strings = {"pcmpestrm (sse4.2)", "pcmpestri (sse4.2)", "pcmpistrm (sse4.2)", "pcmpistri (sse4.2)"};
            for (int op = 0; op < 4; op++) { // every aggregation, polarity, format and output, lengths from RAX/RDX
                check(strings[op], encode(0x66, random.nextBoolean(), new int[]{0x0F, 0x3A, 0x60 + op}, xmm(), xmm(), random.nextInt(128), true));
            }
            String[] rounds = {"roundps", "roundpd", "roundss", "roundsd"};
            for (int op = 0; op < 4; op++) { // imm: rounding mode, MXCSR's instead, precision suppressed
                check(rounds[op], encode(0x66, false, new int[]{0x0F, 0x3A, 0x08 + op}, xmm(), xmm(), random.nextInt(16), true));
            }
        }
    }

    @Test
    void movesLogicArithmeticComparesShufflesAndShifts() {
        String[][] packed = {
                {"movaps", "0 28"}, {"movups", "0 10"}, {"movapd", "66 28"}, {"movdqa", "66 6f"}, {"movdqu", "f3 6f"},
                {"movss", "f3 10"}, {"movsd", "f2 10"}, {"movq xmm, xmm", "f3 7e"},
                {"andps", "0 54"}, {"andnps", "0 55"}, {"orps", "0 56"}, {"xorps", "0 57"},
                {"pand", "66 db"}, {"pandn", "66 df"}, {"por", "66 eb"}, {"pxor", "66 ef"},
                {"paddb", "66 fc"}, {"paddw", "66 fd"}, {"paddd", "66 fe"}, {"paddq", "66 d4"},
                {"psubb", "66 f8"}, {"psubw", "66 f9"}, {"psubd", "66 fa"}, {"psubq", "66 fb"},
                {"pcmpeqb", "66 74"}, {"pcmpeqw", "66 75"}, {"pcmpeqd", "66 76"},
                {"pcmpgtb", "66 64"}, {"pcmpgtw", "66 65"}, {"pcmpgtd", "66 66"},
                {"punpcklbw", "66 60"}, {"punpcklwd", "66 61"}, {"punpckldq", "66 62"}, {"punpcklqdq", "66 6c"}, {"punpckhqdq", "66 6d"},
                {"movq xmm/m64, xmm", "66 d6"},
                {"punpckhbw", "66 68"}, {"punpckhwd", "66 69"}, {"punpckhdq", "66 6a"},
                {"packsswb", "66 63"}, {"packuswb", "66 67"}, {"packssdw", "66 6b"},
                {"pmullw", "66 d5"}, {"pmulhw", "66 e5"}, {"pmulhuw", "66 e4"}, {"pmuludq", "66 f4"}, {"pmaddwd", "66 f5"},
                {"pminub", "66 da"}, {"pmaxub", "66 de"}, {"pminsw", "66 ea"}, {"pmaxsw", "66 ee"},
                {"pavgb", "66 e0"}, {"pavgw", "66 e3"}, {"psadbw", "66 f6"},
                {"paddsb", "66 ec"}, {"paddsw", "66 ed"}, {"paddusb", "66 dc"}, {"paddusw", "66 dd"},
                {"psubsb", "66 e8"}, {"psubsw", "66 e9"}, {"psubusb", "66 d8"}, {"psubusw", "66 d9"},
                {"psrlw xmm", "66 d1"}, {"psrld xmm", "66 d2"}, {"psrlq xmm", "66 d3"}, {"psraw xmm", "66 e1"}, {"psrad xmm", "66 e2"},
                {"psllw xmm", "66 f1"}, {"pslld xmm", "66 f2"}, {"psllq xmm", "66 f3"},
                {"unpcklps", "0 14"}, {"unpckhps", "0 15"}, {"unpcklpd", "66 14"}, {"unpckhpd", "66 15"},
                {"movhlps", "0 12"}, {"movlhps", "0 16"},
                {"movsldup (sse3)", "f3 12"}, {"movshdup (sse3)", "f3 16"}, {"movddup (sse3)", "f2 12"}};
        for (String[] f : packed) {
            String[] p = f[1].split(" ");
            int prefix = Integer.parseInt(p[0], 16);
            int op = Integer.parseInt(p[1], 16);
            for (int i = 0; i < CASES; i++) {
                check(f[0], encode(prefix, false, new int[]{0x0F, op}, xmm(), xmm(), 0, false));
            }
        }
        for (int i = 0; i < CASES; i++) {
            check("pshufd", encode(0x66, false, new int[]{0x0F, 0x70}, xmm(), xmm(), random.nextInt(256), true));
            check("pmovmskb", encode(0x66, false, new int[]{0x0F, 0xD7}, gpr(), xmm(), 0, false));
            check("pshuflw", encode(0xF2, false, new int[]{0x0F, 0x70}, xmm(), xmm(), random.nextInt(256), true));
            check("pshufhw", encode(0xF3, false, new int[]{0x0F, 0x70}, xmm(), xmm(), random.nextInt(256), true));
            check("shufps", encode(0, false, new int[]{0x0F, 0xC6}, xmm(), xmm(), random.nextInt(256), true));
            check("shufpd", encode(0x66, false, new int[]{0x0F, 0xC6}, xmm(), xmm(), random.nextInt(4), true));
            check("movmskps", encode(0, false, new int[]{0x0F, 0x50}, gpr(), xmm(), 0, false));
            check("movmskpd", encode(0x66, false, new int[]{0x0F, 0x50}, gpr(), xmm(), 0, false));
            check("pinsrw", encode(0x66, false, new int[]{0x0F, 0xC4}, xmm(), gpr(), random.nextInt(8), true));
            check("pextrw", encode(0x66, false, new int[]{0x0F, 0xC5}, gpr(), xmm(), random.nextInt(8), true));
            check("movd xmm, r32", encode(0x66, false, new int[]{0x0F, 0x6E}, xmm(), gpr(), 0, false));
            check("movq xmm, r64", encode(0x66, true, new int[]{0x0F, 0x6E}, xmm(), gpr(), 0, false));
            check("movd r32, xmm", encode(0x66, false, new int[]{0x0F, 0x7E}, xmm(), gpr(), 0, false));
            check("movq r64, xmm", encode(0x66, true, new int[]{0x0F, 0x7E}, xmm(), gpr(), 0, false));
            for (int[] shift : new int[][]{{0x71, 2}, {0x71, 4}, {0x71, 6}, {0x72, 2}, {0x72, 4}, {0x72, 6}, {0x73, 2}, {0x73, 6}, {0x73, 3}, {0x73, 7}}) {
                int count = random.nextInt(3) == 0 ? random.nextInt(256) : random.nextInt(66);
                check("shift 66 0f " + Integer.toHexString(shift[0]) + " /" + shift[1],
                        encode(0x66, false, new int[]{0x0F, shift[0]}, shift[1], xmm(), count, true));
            }
        }
    }
}

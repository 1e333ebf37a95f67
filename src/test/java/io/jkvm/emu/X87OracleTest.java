package io.jkvm.emu;

import io.jkvm.testing.NativeCpu;
import io.jkvm.testing.OracleCore;
import io.jkvm.x86.Registers;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * x87 and MMX against the host FPU, bit for bit: every documented register form and memory form of D8-DF runs natively and
 * on the core from the same FXSAVE image (random registers from every class: zeros, denormals, pseudo-denormals,
 * unnormals, normals near every exponent range, infinities, QNaNs and SNaNs; random tags, TOP, condition codes,
 * precision and rounding control, and some exceptions unmasked) and the same memory. The FXSAVE image afterwards
 * (FCW, FSW, tags, the eight registers, MXCSR), the memory, the GPRs and RFLAGS must match; only the last
 * instruction's pointers and opcode (FIP, FDP, FOP, and their fields in an FNSTENV/FNSAVE image) are not compared,
 * as the host's are addresses in the JVM. The transcendental forms must match within one unit in the last place.
 */
class X87OracleTest {
    private static final Random random = new Random(OracleCore.SEED ^ 0x783837L);
    private static final int CASES = OracleCore.casesPerForm(24);
    private static final long GUEST_BUFFER = 0x300000;
    private static final int RSI = 6, RDI = 7, BUFFER = 256;
    private static OracleCore oracle;

    @BeforeAll
    static void setUp() {
        oracle = new OracleCore("x87 and MMX", "host,+pni,+ssse3");
    }

    @AfterAll
    static void tearDown() {
        oracle.close();
    }

    /** One form: its bytes, and which bytes of the memory buffer are pointer fields not to compare. */
    private record Form(String name, byte[] bytes, int[] ignoredMemory, boolean approximate) {
    }

    private static Form form(String name, int... bytes) {
        byte[] b = new byte[bytes.length];
        for (int i = 0; i < b.length; i++) {
            b[i] = (byte) bytes[i];
        }
        return new Form(name, b, new int[0], false);
    }

    /** Every documented register form (the undocumented aliases, which some CPUs may not decode, are the core's own tests'). */
    private static List<Form> registerForms() {
        List<Form> forms = new ArrayList<>();
        for (int m = 0xC0; m <= 0xFF; m++) {
            forms.add(form("D8 " + hex(m), 0xD8, m));
            if (m < 0xD0 || m >= 0xE0) {
                forms.add(form("DC " + hex(m), 0xDC, m));
            }
            if (m < 0xD0 || m == 0xD9 || m >= 0xE0) {
                forms.add(form("DE " + hex(m), 0xDE, m));
            }
            if (m < 0xD0 || m == 0xE0 || m == 0xE1 || m == 0xE4 || m == 0xE5 || (m >= 0xE8 && m <= 0xEE) || m == 0xF4 || m == 0xF5
                    || m == 0xF6 || m == 0xF7 || m == 0xF8 || m == 0xFA || m == 0xFC || m == 0xFD || m == 0xD0) {
                forms.add(form("D9 " + hex(m), 0xD9, m));
            }
            if (m < 0xE0 || m == 0xE9) {
                forms.add(form("DA " + hex(m), 0xDA, m));
            }
            if (m < 0xE0 || m == 0xE2 || m == 0xE3 || (m >= 0xE8 && m < 0xF8)) {
                forms.add(form("DB " + hex(m), 0xDB, m));
            }
            if (m < 0xC8 || (m >= 0xD0 && m < 0xF0)) {
                forms.add(form("DD " + hex(m), 0xDD, m));
            }
            if (m == 0xE0 || (m >= 0xE8 && m < 0xF8)) {
                forms.add(form("DF " + hex(m), 0xDF, m));
            }
        }
        return forms;
    }

    private static final int[] POINTERS_32 = {12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27};
    private static final int[] POINTERS_16 = {6, 7, 8, 9, 10, 11, 12, 13};

    /** Every memory form, with the operand at [rsi]. */
    private static List<Form> memoryForms() {
        List<Form> forms = new ArrayList<>();
        int[][] valid = {
                {0xD8, 0xFF}, {0xDC, 0xFF}, {0xDA, 0xFF}, {0xDE, 0xFF},
                {0xD9, 0b11111101}, {0xDB, 0b10101111}, {0xDD, 0b11011111}, {0xDF, 0xFF}};
        for (int[] v : valid) {
            for (int ext = 0; ext < 8; ext++) {
                if ((v[1] & (1 << ext)) == 0) {
                    continue;
                }
                int modrm = ext << 3 | 6;
                boolean environment = (v[0] == 0xD9 || v[0] == 0xDD) && (ext == 4 || ext == 6);
                int[] ignored = environment && ext == 6 ? POINTERS_32 : new int[0];
                forms.add(new Form(hex(v[0]) + " /" + ext + " [rsi]", new byte[]{(byte) v[0], (byte) modrm}, ignored, false));
                if (environment) {
                    forms.add(new Form("66 " + hex(v[0]) + " /" + ext + " [rsi]", new byte[]{0x66, (byte) v[0], (byte) modrm},
                            ext == 6 ? POINTERS_16 : new int[0], false));
                }
            }
        }
        return forms;
    }

    private static List<Form> transcendentalForms() {
        List<Form> forms = new ArrayList<>();
        for (int m : new int[]{0xF0, 0xF1, 0xF2, 0xF3, 0xF9, 0xFB, 0xFE, 0xFF}) {
            forms.add(new Form("D9 " + hex(m), new byte[]{(byte) 0xD9, (byte) m}, new int[0], true));
        }
        return forms;
    }

    /**
     * MMX: every MMX instruction and the MMX forms of SSE, SSE2 and SSSE3, with register and [rsi] operands, and the
     * conversions between MMX and XMM registers; the x87 state they change (TOP 0, the tags) is compared with the rest.
     */
    private static List<Form> mmxForms() {
        List<Form> forms = new ArrayList<>();
        int[] binary = {0x60, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6A, 0x6B, 0x6F, 0x74, 0x75, 0x76,
                0xD1, 0xD2, 0xD3, 0xD4, 0xD5, 0xD8, 0xD9, 0xDA, 0xDB, 0xDC, 0xDD, 0xDE, 0xDF, 0xE0, 0xE1, 0xE2, 0xE3, 0xE4,
                0xE5, 0xE8, 0xE9, 0xEA, 0xEB, 0xEC, 0xED, 0xEE, 0xEF, 0xF1, 0xF2, 0xF3, 0xF4, 0xF5, 0xF6, 0xF8, 0xF9, 0xFA,
                0xFB, 0xFC, 0xFD, 0xFE};
        for (int op : binary) {
            forms.add(form("mmx 0F " + hex(op) + " mm1, mm2", 0x0F, op, 0xCA));
            forms.add(form("mmx 0F " + hex(op) + " mm3, mm3", 0x0F, op, 0xDB));
            forms.add(form("mmx 0F " + hex(op) + " mm5, [rsi]", 0x0F, op, 0x2E));
        }
        for (int op : new int[]{0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0A, 0x0B, 0x1C, 0x1D, 0x1E}) {
            forms.add(form("ssse3 mmx 0F 38 " + hex(op) + " mm2, mm6", 0x0F, 0x38, op, 0xD6));
            forms.add(form("ssse3 mmx 0F 38 " + hex(op) + " mm0, [rsi]", 0x0F, 0x38, op, 0x06));
        }
        for (int imm : new int[]{3, 9, 15, 20}) {
            forms.add(form("palignr mm4, mm7, " + imm, 0x0F, 0x3A, 0x0F, 0xE7, imm));
            forms.add(form("palignr mm4, [rsi], " + imm, 0x0F, 0x3A, 0x0F, 0x26, imm));
        }
        for (int op : new int[]{0x71, 0x72, 0x73}) {
            for (int ext : new int[]{2, 4, 6}) {
                if (op == 0x73 && ext == 4) {
                    continue;
                }
                for (int imm : new int[]{3, 17, 40}) {
                    forms.add(form("mmx 0F " + hex(op) + " /" + ext + " mm3, " + imm, 0x0F, op, 0xC3 | ext << 3, imm));
                }
            }
        }
        forms.add(form("movd mm1, ecx", 0x0F, 0x6E, 0xC9));
        forms.add(form("movq mm1, rcx", 0x48, 0x0F, 0x6E, 0xC9));
        forms.add(form("movd mm1, [rsi]", 0x0F, 0x6E, 0x0E));
        forms.add(form("movd ecx, mm6", 0x0F, 0x7E, 0xF1));
        forms.add(form("movq rcx, mm6", 0x48, 0x0F, 0x7E, 0xF1));
        forms.add(form("movd [rsi], mm6", 0x0F, 0x7E, 0x36));
        forms.add(form("movq mm2, mm5", 0x0F, 0x7F, 0xEA));
        forms.add(form("movq [rsi], mm5", 0x0F, 0x7F, 0x2E));
        forms.add(form("movntq [rsi], mm7", 0x0F, 0xE7, 0x3E));
        forms.add(form("maskmovq mm1, mm2", 0x0F, 0xF7, 0xCA));
        forms.add(form("pshufw mm1, mm2, 0x1b", 0x0F, 0x70, 0xCA, 0x1B));
        forms.add(form("pshufw mm1, [rsi], 0xe4", 0x0F, 0x70, 0x0E, 0xE4));
        forms.add(form("pinsrw mm3, edx, 2", 0x0F, 0xC4, 0xDA, 2));
        forms.add(form("pinsrw mm3, [rsi], 7", 0x0F, 0xC4, 0x1E, 7));
        forms.add(form("pextrw eax, mm4, 1", 0x0F, 0xC5, 0xC4, 1));
        forms.add(form("pmovmskb edx, mm7", 0x0F, 0xD7, 0xD7));
        forms.add(form("emms", 0x0F, 0x77));
        forms.add(form("movq2dq xmm3, mm4", 0xF3, 0x0F, 0xD6, 0xDC));
        forms.add(form("movdq2q mm3, xmm4", 0xF2, 0x0F, 0xD6, 0xDC));
        forms.add(form("cvtpi2ps xmm1, mm2", 0x0F, 0x2A, 0xCA));
        forms.add(form("cvtpi2ps xmm1, [rsi]", 0x0F, 0x2A, 0x0E));
        forms.add(form("cvtpi2pd xmm1, mm2", 0x66, 0x0F, 0x2A, 0xCA));
        forms.add(form("cvtps2pi mm1, xmm2", 0x0F, 0x2D, 0xCA));
        forms.add(form("cvttps2pi mm1, [rsi]", 0x0F, 0x2C, 0x0E));
        forms.add(form("cvtpd2pi mm1, xmm2", 0x66, 0x0F, 0x2D, 0xCA));
        forms.add(form("cvttpd2pi mm1, [rsi]", 0x66, 0x0F, 0x2C, 0x0E));
        forms.add(form("maskmovdqu xmm1, xmm2", 0x66, 0x0F, 0xF7, 0xCA));
        return forms;
    }

    @Test
    void mmxFormsMatchTheHostCpu() {
        checkAll(mmxForms(), CASES);
    }

    /**
     * The undocumented register forms every x87 since the 387 decodes (FCOM2, FCOMP3, FCOMP5, FXCH4, FXCH7, FSTP1,
     * FSTP8, FSTP9, FFREEP) act on the core as the documented ones they alias; FFREEP as FFREE then a pop.
     */
    @Test
    void undocumentedAliasesActAsTheirDocumentedForms() {
        int[][] pairs = { // alias, documented (both as opcode, ModRM base; the register number is added)
                {0xDC, 0xD0, 0xD8, 0xD0}, {0xDC, 0xD8, 0xD8, 0xD8}, {0xDE, 0xD0, 0xD8, 0xD8}, {0xDD, 0xC8, 0xD9, 0xC8},
                {0xDF, 0xC8, 0xD9, 0xC8}, {0xD9, 0xD8, 0xDD, 0xD8}, {0xDF, 0xD0, 0xDD, 0xD8}, {0xDF, 0xD8, 0xDD, 0xD8}};
        for (int[] p : pairs) {
            for (int n = 0; n < CASES; n++) {
                int i = random.nextInt(8);
                byte[] image = randomImage();
                assertEquals(describe(coreRun(image, p[2], p[3] + i)), describe(coreRun(image, p[0], p[1] + i)),
                        String.format("%02X %02X as %02X %02X from %s", p[0], p[1] + i, p[2], p[3] + i, describe(image)));
            }
        }
        for (int n = 0; n < CASES; n++) {
            int i = random.nextInt(8);
            byte[] image = randomImage();
            byte[] freed = image.clone();
            int top = (fsw(image) >>> 11) & 7;
            freed[4] &= (byte) ~(1 << ((top + i) & 7)); // FFREE ST(i), then the pop: ST(0) empty, TOP + 1
            freed[4] &= (byte) ~(1 << top);
            byte[] got = coreRun(image, 0xDF, 0xC0 + i);
            assertEquals(freed[4], got[4], "FFREEP ST(" + i + ") from " + describe(image) + ": tags");
            assertEquals((top + 1) & 7, (fsw(got) >>> 11) & 7, "FFREEP: TOP");
        }
    }

    /** FOP, FIP and FDP: the last non-control x87 instruction's opcode, address and memory operand's address, as FXSAVE64 stores them. */
    @Test
    void lastInstructionPointers() {
        byte[] image = new byte[512];
        put16(image, 0, 0x37F);
        putInt(image, 24, 0x1F80);
        oracle.load(new byte[]{(byte) 0xD9, 0x06}, new byte[]{(byte) 0xD9, (byte) 0xE8}, new byte[]{(byte) 0xD9, 0x7E, 0x08}); // fld [rsi]; fld1; fnstcw [rsi+8]
        long[] g = new long[16];
        g[RSI] = GUEST_BUFFER;
        oracle.setRegisters(g, 0x2);
        oracle.setLegacyRegion(image);
        oracle.runLoaded("fld [rsi]; fld1; fnstcw [rsi+8]");
        byte[] got = oracle.legacyRegion();
        assertEquals(0x1E8, (got[6] & 0xFF) | (got[7] & 0x7) << 8, "FOP: FLD1 (D9 E8), FNSTCW being a control instruction");
        assertEquals(OracleCore.CODE + 2, getLong(got, 8), "FIP: FLD1's address");
        assertEquals(GUEST_BUFFER, getLong(got, 16), "FDP: the last memory operand's, FLD [rsi]'s");
    }

    /** Two bytes run on the core alone from {@code image}: the FXSAVE image after them. */
    private static byte[] coreRun(byte[] image, int opcode, int modrm) {
        oracle.load(new byte[]{(byte) opcode, (byte) modrm});
        oracle.setRegisters(new long[16], 0x2);
        oracle.setLegacyRegion(image);
        oracle.runLoaded(String.format("%02X %02X", opcode, modrm));
        byte[] got = oracle.legacyRegion();
        for (int k = 6; k < 24; k++) {
            got[k] = 0;
        }
        return got;
    }

    @Test
    void registerFormsMatchTheHostFpu() {
        checkAll(registerForms(), CASES);
    }

    @Test
    void memoryFormsMatchTheHostFpu() {
        checkAll(memoryForms(), CASES * 2);
    }

    @Test
    void transcendentalFormsMatchTheHostFpuWithinOneUlp() {
        checkAll(transcendentalForms(), CASES * 4);
    }

    /** Every form's cases; the first difference of each form that has one is reported, all together. */
    private static void checkAll(List<Form> forms, int cases) {
        List<String> failures = new ArrayList<>();
        for (Form f : forms) {
            try {
                for (int n = 0; n < cases; n++) {
                    check(f);
                }
            } catch (AssertionError e) {
                failures.add(e.getMessage());
            }
        }
        assertTrue(failures.isEmpty(), () -> failures.size() + " of " + forms.size() + " forms differ from the host FPU:\n"
                + String.join("\n", failures));
    }

    // ---- one case ----------------------------------------------------------------------------------------------

    private static void check(Form form) {
        byte[] image = randomImage();
        int opcode = form.bytes()[form.bytes().length - 1] & 0xFF;
        double domain = !form.approximate() ? 0 : opcode == 0xF0 ? 1 : opcode == 0xF9 ? 1 - Math.sqrt(0.5) : 0;
        if (domain != 0) {
            if (random.nextInt(4) != 0) { // mostly inside the operand range the SDM defines, which no other class reaches often
                System.arraycopy(ext((random.nextDouble() * 2 - 1) * domain * Math.pow(2, -random.nextInt(30))), 0, image, 32, 10);
            }
            double st0 = value(image, 32);
            if (!(Math.abs(st0) <= domain) || (image[4] & 1 << ((fsw(image) >>> 11) & 7)) == 0) {
                return; // the SDM leaves results outside it undefined
            }
        }
        byte[] buffer = new byte[BUFFER];
        random.nextBytes(buffer);
        for (int at = 0; at < 16; at += 8) { // an 80-bit, 64-bit or 32-bit operand from the value classes
            byte[] v = randomExt();
            switch (random.nextInt(3)) {
                case 0 -> System.arraycopy(v, 0, buffer, at, 10);
                case 1 -> putLong(buffer, at, randomDouble());
                default -> putLong(buffer, at, randomSingle() | (long) randomSingle() << 32);
            }
        }
        long[] g = new long[16];
        for (int i = 0; i < 16; i++) {
            g[i] = random.nextLong();
        }
        long flags = random.nextLong() & 0x8D5L;
        long[] nativeRegs = g.clone(), coreRegs = g.clone();
        nativeRegs[RSI] = oracle.host.dataAddress();
        coreRegs[RSI] = GUEST_BUFFER;
        nativeRegs[RDI] = oracle.host.dataAddress() + 64; // MASKMOVQ's and MASKMOVDQU's destination
        coreRegs[RDI] = GUEST_BUFFER + 64;
        oracle.host.setData(buffer);
        NativeCpu.FxResult want = oracle.host.runFx(form.bytes(), nativeRegs, flags, image);
        byte[] wantMemory = oracle.host.data(BUFFER);

        oracle.memory.write(GUEST_BUFFER, buffer, 0, BUFFER);
        oracle.load(form.bytes());
        oracle.setRegisters(coreRegs, flags | 0x2);
        oracle.setLegacyRegion(image);
        String where = form.name() + " from " + describe(image) + " memory " + HexFormat.of().formatHex(buffer, 0, 16);
        oracle.runLoaded(where);
        byte[] got = oracle.legacyRegion();
        byte[] gotMemory = new byte[BUFFER];
        oracle.memory.read(GUEST_BUFFER, gotMemory);

        byte[] w = want.fxsave().clone(), c = got.clone();
        for (int i = 6; i < 24; i++) {
            w[i] = c[i] = 0; // FOP, FIP, FDP
        }
        for (int i : form.ignoredMemory()) {
            wantMemory[i] = gotMemory[i] = 0;
        }
        if (form.name().startsWith("DD C")) { // FFREE: the SDM leaves C0-C3 undefined
            w[2] = c[2] = 0;
            w[3] &= ~0x47;
            c[3] &= ~0x47;
        }
        if (form.name().matches("D[BF] (E[89A-F]|F[0-7])")) { // FCOMI family: the SDM clears C1, Intel and AMD parts alike leave it
            w[3] &= ~0x02;
            c[3] &= ~0x02;
        }
        if (form.approximate() && !Arrays.equals(w, c)) {
            assertWithinOneUlp(where, w, c);
        } else {
            assertEquals(describe(w), describe(c), where + ": x87 state");
            assertEquals(HexFormat.of().formatHex(w, 24, 28), HexFormat.of().formatHex(c, 24, 28), where + ": MXCSR");
            assertEquals(HexFormat.of().formatHex(w, 160, 416), HexFormat.of().formatHex(c, 160, 416), where + ": XMM0-15");
        }
        assertEquals(HexFormat.of().formatHex(wantMemory), HexFormat.of().formatHex(gotMemory), where + ": memory");
        Registers r = oracle.core.registers();
        for (int n = 0; n < 16; n++) {
            if (n != 4) {
                boolean pointer = n == RSI || n == RDI;
                long wn = want.gprs()[n] - (pointer ? oracle.host.dataAddress() : 0), gn = r.gpr(n) - (pointer ? GUEST_BUFFER : 0);
                final int reg = n;
                assertTrue(wn == gn, () -> where + ": r" + reg + " native 0x" + Long.toHexString(wn) + ", core 0x" + Long.toHexString(gn));
            }
        }
        assertEquals(Long.toHexString(want.rflags() & 0x8D5L), Long.toHexString(r.rflags() & 0x8D5L), where + ": flags");
        oracle.counted(form.name());
    }

    /** The transcendental results may differ by one unit in the last place, and with them C1 and PE; the rest is exact. */
    private static void assertWithinOneUlp(String where, byte[] want, byte[] got) {
        assertEquals(fsw(want) & ~0x220, fsw(got) & ~0x220, () -> where + ": FSW beyond C1 and PE: " + describe(want) + " vs " + describe(got));
        for (int i = 0; i < 8; i++) {
            long ws = getLong(want, 32 + 16 * i), gs = getLong(got, 32 + 16 * i);
            int we = (want[40 + 16 * i] & 0xFF) | (want[41 + 16 * i] & 0xFF) << 8, ge = (got[40 + 16 * i] & 0xFF) | (got[41 + 16 * i] & 0xFF) << 8;
            boolean same = ws == gs && we == ge;
            boolean adjacent = (we & 0x8000) == (ge & 0x8000) && ordinal(we, ws).subtract(ordinal(ge, gs)).abs().compareTo(java.math.BigInteger.ONE) <= 0;
            final int st = i;
            assertTrue(same || adjacent, () -> where + ": ST" + st + " more than one ulp apart: " + describe(want) + " vs " + describe(got));
        }
    }

    /** The magnitude's position among the register values of one sign, for adjacency (normals only). */
    private static java.math.BigInteger ordinal(int signExp, long significand) {
        return java.math.BigInteger.valueOf(signExp & 0x7FFF).shiftLeft(63).add(java.math.BigInteger.valueOf(significand & Long.MAX_VALUE));
    }

    // ---- values ------------------------------------------------------------------------------------------------

    private static byte[] randomImage() {
        byte[] image = new byte[512];
        int masks = random.nextInt(6) == 0 ? random.nextInt(64) : 0x3F;
        int pc = new int[]{0, 2, 3, 3, 1}[random.nextInt(5)];
        int fcw = masks | 0x40 | pc << 8 | random.nextInt(4) << 10;
        int fsw = random.nextInt(8) << 11 | (random.nextInt(16) == 0 ? 0 : random.nextInt(0x4700 + 1) & 0x4700) // TOP, C3 C2 C1 C0
                | (random.nextInt(64) & masks) | (random.nextInt(8) == 0 && (masks & 1) != 0 ? 0x40 : 0); // raised flags, masked only
        put16(image, 0, fcw);
        put16(image, 2, fsw);
        image[4] = (byte) (random.nextInt(4) == 0 ? random.nextInt(256) : random.nextInt(4) == 0 ? 0xFF : 0x7F | random.nextInt(2) << 7);
        putInt(image, 24, 0x1F80 | random.nextInt(4) << 13); // every SSE exception masked, any rounding
        for (int i = 160; i < 416; i++) {
            image[i] = (byte) random.nextInt();
        }
        for (int i = 0; i < 8; i++) {
            System.arraycopy(randomExt(), 0, image, 32 + 16 * i, 10);
        }
        return image;
    }

    private static byte[] randomExt() {
        if (random.nextInt(14) == 0) {
            return exactInteger(random.nextInt(2000) - 1000);
        }
        long sig = random.nextLong() | Long.MIN_VALUE;
        int sign = random.nextBoolean() ? 0x8000 : 0;
        int exp = switch (random.nextInt(13)) {
            case 0 -> {
                sig = 0;
                yield 0;
            }
            case 1 -> {
                sig = Long.MIN_VALUE;
                yield 0x7FFF;
            }
            case 2 -> 0x7FFF; // QNaN or SNaN
            case 3 -> {
                sig = random.nextLong() >>> 1 | (random.nextBoolean() ? 1 : 0); // denormal
                yield 0;
            }
            case 4 -> 0; // pseudo-denormal
            case 5 -> {
                sig = random.nextLong() >>> (1 + random.nextInt(10)); // unnormal
                yield 1 + random.nextInt(0x7FFE);
            }
            case 7 -> 1 + random.nextInt(120);
            case 8 -> 0x7FFE - random.nextInt(120);
            case 9 -> 0x3FFF + random.nextInt(128) - 64;
            default -> 0x3FFF + random.nextInt(8) - 4;
        };
        if (exp == 0x7FFF && sig != Long.MIN_VALUE && random.nextBoolean()) {
            sig &= ~(1L << 62); // signaling
            if (sig == Long.MIN_VALUE) {
                sig |= 1;
            }
        }
        byte[] b = new byte[10];
        putLong(b, 0, sig);
        put16(b, 8, exp | sign);
        return b;
    }

    /** A small integer as an 80-bit value, exactly. */
    private static byte[] exactInteger(long v) {
        byte[] b = new byte[10];
        if (v != 0) {
            long m = Math.abs(v);
            int lz = Long.numberOfLeadingZeros(m);
            putLong(b, 0, m << lz);
            put16(b, 8, (0x3FFF + 63 - lz) | (v < 0 ? 0x8000 : 0));
        }
        return b;
    }

    private static long randomDouble() {
        return switch (random.nextInt(8)) {
            case 0 -> random.nextBoolean() ? 0 : Long.MIN_VALUE;
            case 1 -> random.nextLong() & 0x800F_FFFF_FFFF_FFFFL; // denormal
            case 2 -> 0x7FF0_0000_0000_0000L | random.nextLong() & 0x800F_FFFF_FFFF_FFFFL; // infinity or NaN
            case 3 -> Double.doubleToRawLongBits(random.nextInt(1000) - 500);
            default -> Double.doubleToRawLongBits((random.nextDouble() - 0.5) * Math.pow(2, random.nextInt(200) - 100));
        };
    }

    private static int randomSingle() {
        return switch (random.nextInt(8)) {
            case 0 -> random.nextBoolean() ? 0 : 0x8000_0000;
            case 1 -> random.nextInt() & 0x807F_FFFF;
            case 2 -> 0x7F80_0000 | random.nextInt() & 0x807F_FFFF;
            default -> Float.floatToRawIntBits((float) ((random.nextDouble() - 0.5) * Math.pow(2, random.nextInt(60) - 30)));
        };
    }

    /** A double as an 80-bit register value, with random bits below its 53. */
    private static byte[] ext(double d) {
        byte[] b = new byte[10];
        if (d == 0) {
            return b;
        }
        long bits = Double.doubleToRawLongBits(d);
        int e = (int) (bits >>> 52 & 0x7FF) - 1023;
        putLong(b, 0, Long.MIN_VALUE | (bits & 0xF_FFFF_FFFF_FFFFL) << 11 | (random.nextLong() & 0x7FF));
        put16(b, 8, (e + 0x3FFF) | (d < 0 ? 0x8000 : 0));
        return b;
    }

    /** The approximate value of the 80-bit register at {@code at} (NaN for NaNs and unsupported encodings). */
    private static double value(byte[] b, int at) {
        long sig = getLong(b, at);
        int se = (b[at + 8] & 0xFF) | (b[at + 9] & 0xFF) << 8, e = se & 0x7FFF;
        if (e == 0x7FFF) {
            return sig == Long.MIN_VALUE ? ((se & 0x8000) != 0 ? -1 : 1) * Double.POSITIVE_INFINITY : Double.NaN;
        }
        if (e != 0 && sig >= 0) {
            return Double.NaN;
        }
        double v = Math.scalb((double) (sig >>> 11), Math.max(e, 1) - 0x3FFF - 52);
        return (se & 0x8000) != 0 ? -v : v;
    }

    // ---- bytes -------------------------------------------------------------------------------------------------

    private static int fsw(byte[] image) {
        return (image[2] & 0xFF) | (image[3] & 0xFF) << 8;
    }

    private static String describe(byte[] image) {
        StringBuilder s = new StringBuilder();
        s.append(String.format("FCW %04x FSW %04x FTW %02x", (image[0] & 0xFF) | (image[1] & 0xFF) << 8, fsw(image), image[4] & 0xFF));
        for (int i = 0; i < 8; i++) {
            s.append(String.format(" ST%d %04x:%016x", i, (image[40 + 16 * i] & 0xFF) | (image[41 + 16 * i] & 0xFF) << 8, getLong(image, 32 + 16 * i)));
            for (int k = 42; k < 48; k++) {
                if (image[k + 16 * i] != 0) {
                    s.append("+pad");
                    break;
                }
            }
        }
        return s.toString();
    }

    private static String hex(int b) {
        return String.format("%02X", b);
    }

    private static void put16(byte[] b, int at, int v) {
        b[at] = (byte) v;
        b[at + 1] = (byte) (v >>> 8);
    }

    private static void putInt(byte[] b, int at, int v) {
        for (int i = 0; i < 4; i++) {
            b[at + i] = (byte) (v >>> (8 * i));
        }
    }

    private static void putLong(byte[] b, int at, long v) {
        for (int i = 0; i < 8; i++) {
            b[at + i] = (byte) (v >>> (8 * i));
        }
    }

    private static long getLong(byte[] b, int at) {
        long v = 0;
        for (int i = 0; i < 8; i++) {
            v |= (b[at + i] & 0xFFL) << (8 * i);
        }
        return v;
    }
}

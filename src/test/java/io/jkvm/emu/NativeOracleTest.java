package io.jkvm.emu;

import io.jkvm.testing.DefinedFlags;
import io.jkvm.testing.NativeCpu;
import io.jkvm.testing.OracleCore;
import io.jkvm.x86.CpuFeature;
import io.jkvm.x86.Registers;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.math.BigInteger;
import java.util.HexFormat;
import java.util.Random;

import static io.jkvm.testing.Asm.registerForm;
import static io.jkvm.x86.CpuFeature.ABM;
import static io.jkvm.x86.CpuFeature.BMI1;
import static io.jkvm.x86.CpuFeature.BMI2;
import static io.jkvm.x86.CpuFeature.POPCNT;
import static io.jkvm.x86.CpuFeature.SSE4_2;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The host CPU is the reference: every implemented register-form integer instruction runs natively and on the
 * software core from the same random state (fixed seed), and all GPRs but RSP and the flags the SDM defines for
 * the instruction must match. Run scripts/fuzz-core for longer, unseeded runs.
 */
class NativeOracleTest {
    private static final int CASES = OracleCore.casesPerForm(24);

    private static final long CF = 1, PF = 4, AF = 0x10, ZF = 0x40, SF = 0x80, OF = 0x800, ALL = CF | PF | AF | ZF | SF | OF;
    private static OracleCore oracle;
    private static NativeCpu host;
    private static EmulatedVcpu core;

    @BeforeAll
    static void setUp() {
        // The core implements BMI1/BMI2/ABM/MOVBE whatever KVM reports; the host runs natively only the forms its own
        // CPUID has (Case.needs): without BMI1 it would run TZCNT as BSF, and die of SIGILL on ANDN.
        oracle = new OracleCore("native", "host,+bmi1,+bmi2,+abm,+movbe");
        host = oracle.host;
        core = oracle.core;
    }

    @AfterAll
    static void tearDown() {
        oracle.close();
    }

    /** One instruction form: its bytes for given registers, the flags it defines, and the CPU features it needs beyond x86-64. */
    private record Case(String form, byte[] bytes, long definedFlags, CpuFeature... needs) {
    }

    private static final Random random = new Random(OracleCore.SEED);

    private static long value() {
        return switch (random.nextInt(8)) {
            case 0 -> 0;
            case 1 -> 1;
            case 2 -> -1;
            case 3 -> Long.MIN_VALUE;
            case 4 -> 0x7F;
            case 5 -> 0x80000000L;
            default -> random.nextLong();
        };
    }

    private static void check(Case c, long[] gprs, long flags) {
        if (!oracle.hostRuns(c.form(), c.needs())) {
            return;
        }
        NativeCpu.Result expected = host.run(c.bytes(), gprs, flags);
        oracle.load(c.bytes());
        oracle.setRegisters(gprs, (flags & 0x8D5L) | 0x2);
        String where = c.form() + " [" + HexFormat.ofDelimiter(" ").formatHex(c.bytes()) + "] from " + describe(gprs, flags);
        oracle.runLoaded(where);
        Registers r = core.registers();
        for (int n = 0; n < 16; n++) {
            if (n == 4) {
                continue;
            }
            long want = expected.gprs()[n], got = r.gpr(n);
            final int reg = n;
            assertTrue(want == got, () -> where + ": r" + reg + " native 0x" + Long.toHexString(want) + ", core 0x" + Long.toHexString(got));
        }
        long want = expected.rflags() & c.definedFlags(), got = r.rflags() & c.definedFlags();
        assertTrue(want == got, () -> where + ": flags native 0x" + Long.toHexString(want) + ", core 0x" + Long.toHexString(got)
                + " (compared 0x" + Long.toHexString(c.definedFlags()) + ")");
        oracle.counted(c.form());
    }

    private static String describe(long[] g, long flags) {
        StringBuilder b = new StringBuilder();
        for (int n = 0; n < 16; n++) {
            if (n != 4 && g[n] != 0) {
                b.append("r").append(n).append("=0x").append(Long.toHexString(g[n])).append(' ');
            }
        }
        return b.append("flags=0x").append(Long.toHexString(flags)).toString();
    }

    private static int anyReg() {
        return OracleCore.randomGpr(random);
    }

    private static long[] state() {
        long[] g = new long[16];
        for (int i = 0; i < 16; i++) {
            g[i] = value();
        }
        return g;
    }

    /** Runs {@code cases} random cases of a form for sizes 1, 2, 4, 8; byte forms with and without REX. */
    private interface Form {
        Case make(int size, int reg, int rm, boolean rex);
    }

    private static void sweep(Form form, int... sizes) {
        for (int size : sizes) {
            for (int i = 0; i < CASES; i++) {
                boolean rex = size == 1 && random.nextBoolean();
                int reg = anyReg(), rm = anyReg();
                if (size == 1 && !rex) { // without REX, 4-7 are AH..BH: keep the registers 0-7
                    reg &= 7;
                    rm &= 7;
                }
                Case c = form.make(size, reg, rm, rex);
                check(c, state(), random.nextLong());
            }
        }
    }

    private static final String[] ALU = {"add", "or", "adc", "sbb", "and", "sub", "xor", "cmp"};

    private static long aluFlags(int op) {
        return op == 1 || op == 4 || op == 6 ? ALL & ~AF : ALL;
    }

    @Test
    void aluRegisterForms() {
        for (int op = 0; op < 8; op++) {
            final int o = op;
            sweep((size, reg, rm, rex) -> new Case(ALU[o] + " r/m" + 8 * size + ", r", registerForm(size, new int[]{(o << 3) | (size == 1 ? 0 : 1)}, reg, rm, rex, 0, 0), aluFlags(o)), 1, 2, 4, 8);
            sweep((size, reg, rm, rex) -> new Case(ALU[o] + " r" + 8 * size + ", r/m", registerForm(size, new int[]{(o << 3) | (size == 1 ? 2 : 3)}, reg, rm, rex, 0, 0), aluFlags(o)), 1, 2, 4, 8);
            sweep((size, reg, rm, rex) -> {
                int immSize = size == 1 ? 1 : size == 2 ? 2 : 4;
                return new Case(ALU[o] + " r/m" + 8 * size + ", imm", registerForm(size, new int[]{size == 1 ? 0x80 : 0x81}, o, rm, rex, random.nextLong(), immSize), aluFlags(o));
            }, 1, 2, 4, 8);
            sweep((size, reg, rm, rex) -> new Case(ALU[o] + " r/m" + 8 * size + ", imm8", registerForm(size, new int[]{0x83}, o, rm, rex, random.nextLong(), 1), aluFlags(o)), 2, 4, 8);
        }
    }

    @Test
    void unaryMultiplyAndTestForms() {
        sweep((size, reg, rm, rex) -> new Case("test r/m" + 8 * size + ", r", registerForm(size, new int[]{size == 1 ? 0x84 : 0x85}, reg, rm, rex, 0, 0), ALL & ~AF), 1, 2, 4, 8);
        sweep((size, reg, rm, rex) -> new Case("not r/m" + 8 * size, registerForm(size, new int[]{size == 1 ? 0xF6 : 0xF7}, 2, rm, rex, 0, 0), ALL), 1, 2, 4, 8);
        sweep((size, reg, rm, rex) -> new Case("neg r/m" + 8 * size, registerForm(size, new int[]{size == 1 ? 0xF6 : 0xF7}, 3, rm, rex, 0, 0), ALL), 1, 2, 4, 8);
        sweep((size, reg, rm, rex) -> new Case("inc r/m" + 8 * size, registerForm(size, new int[]{size == 1 ? 0xFE : 0xFF}, 0, rm, rex, 0, 0), ALL), 1, 2, 4, 8);
        sweep((size, reg, rm, rex) -> new Case("dec r/m" + 8 * size, registerForm(size, new int[]{size == 1 ? 0xFE : 0xFF}, 1, rm, rex, 0, 0), ALL), 1, 2, 4, 8);
        sweep((size, reg, rm, rex) -> new Case("mul r/m" + 8 * size, registerForm(size, new int[]{size == 1 ? 0xF6 : 0xF7}, 4, rm, rex, 0, 0), CF | OF), 1, 2, 4, 8);
        sweep((size, reg, rm, rex) -> new Case("imul r/m" + 8 * size, registerForm(size, new int[]{size == 1 ? 0xF6 : 0xF7}, 5, rm, rex, 0, 0), CF | OF), 1, 2, 4, 8);
        sweep((size, reg, rm, rex) -> new Case("imul r" + 8 * size + ", r/m", registerForm(size, new int[]{0x0F, 0xAF}, reg, rm, rex, 0, 0), CF | OF), 2, 4, 8);
        sweep((size, reg, rm, rex) -> new Case("imul r" + 8 * size + ", r/m, imm8", registerForm(size, new int[]{0x6B}, reg, rm, rex, random.nextLong(), 1), CF | OF), 2, 4, 8);
        sweep((size, reg, rm, rex) -> new Case("imul r" + 8 * size + ", r/m, imm", registerForm(size, new int[]{0x69}, reg, rm, rex, random.nextLong(), size == 2 ? 2 : 4), CF | OF), 2, 4, 8);
    }

    /** DIV/IDIV from a dividend built as quotient * divisor + remainder, so the host never takes #DE. */
    @Test
    void divisionWithOperandsThatCannotFault() {
        for (int signed = 0; signed < 2; signed++) {
            for (int size : new int[]{1, 2, 4, 8}) {
                int bits = 8 * size;
                for (int i = 0; i < CASES; i++) {
                    int rm = anyReg();
                    while (rm == 0 || rm == 2) {
                        rm = anyReg();
                    }
                    BigInteger d, q;
                    do {
                        d = new BigInteger(bits, random);
                        q = new BigInteger(bits, random);
                        if (signed == 1) {
                            d = d.subtract(BigInteger.ONE.shiftLeft(bits - 1));
                            q = q.subtract(BigInteger.ONE.shiftLeft(bits - 1));
                        }
                    } while (d.signum() == 0 || (signed == 1 && q.equals(BigInteger.ONE.shiftLeft(bits - 1).negate())));
                    BigInteger product = q.multiply(d);
                    BigInteger rem = new BigInteger(bits, random).mod(d.abs());
                    if (product.signum() < 0 || (product.signum() == 0 && random.nextBoolean() && signed == 1)) {
                        rem = rem.negate();
                    }
                    BigInteger dividend = product.add(rem);
                    BigInteger bitsMask = BigInteger.ONE.shiftLeft(2 * bits).subtract(BigInteger.ONE);
                    BigInteger raw = dividend.and(bitsMask); // two's complement in 2n bits
                    long lo = raw.and(BigInteger.ONE.shiftLeft(bits).subtract(BigInteger.ONE)).longValue();
                    long hi = raw.shiftRight(bits).longValue();
                    long[] g = state();
                    long m = size == 8 ? -1L : (1L << bits) - 1;
                    g[rm] = (g[rm] & ~m) | (d.longValue() & m);
                    if (size == 1) {
                        g[0] = (g[0] & ~0xFFFFL) | ((hi & 0xFF) << 8) | (lo & 0xFF);
                    } else {
                        g[0] = (g[0] & ~m) | (lo & m);
                        g[2] = (g[2] & ~m) | (hi & m);
                    }
                    String name = (signed == 1 ? "idiv" : "div") + " r/m" + bits;
                    check(new Case(name, registerForm(size, new int[]{size == 1 ? 0xF6 : 0xF7}, 6 + signed, rm, size == 1, 0, 0), 0), g, random.nextLong()); // REX: r/m8 4-7 are SPL..DIL, not AH..BH
                }
            }
        }
    }

    private static final String[] SHIFT = {"rol", "ror", "rcl", "rcr", "shl", "shr", "sal", "sar"};

    @Test
    void shiftsAndRotates() {
        for (int op = 0; op < 8; op++) {
            final int o = op;
            for (int size : new int[]{1, 2, 4, 8}) {
                for (int i = 0; i < CASES; i++) {
                    int count = random.nextInt(3) == 0 ? 1 : random.nextInt(70);
                    boolean rex = size == 1 && random.nextBoolean();
                    int rm = anyReg();
                    if (size == 1 && !rex) {
                        rm &= 7;
                    }
                    long defined = DefinedFlags.shift(o, size, count);
                    long[] g = state();
                    Case c1 = new Case(SHIFT[o] + " r/m" + 8 * size + ", imm8", registerForm(size, new int[]{size == 1 ? 0xC0 : 0xC1}, o, rm, rex, count, 1), defined);
                    check(c1, g, random.nextLong());
                    if (rm != 1) {
                        g = state();
                        g[1] = (g[1] & ~0xFFL) | count;
                        check(new Case(SHIFT[o] + " r/m" + 8 * size + ", cl", registerForm(size, new int[]{size == 1 ? 0xD2 : 0xD3}, o, rm, rex, 0, 0), defined), g, random.nextLong());
                    }
                }
                sweep((s, reg, rm, rex) -> new Case(SHIFT[o] + " r/m" + 8 * s + ", 1", registerForm(s, new int[]{s == 1 ? 0xD0 : 0xD1}, o, rm, rex, 0, 0),
                        DefinedFlags.shift(o, s, 1)), size);
            }
        }
    }

    @Test
    void movesExtensionsConditionalsAndSwaps() {
        sweep((size, reg, rm, rex) -> new Case("mov r/m" + 8 * size + ", r", registerForm(size, new int[]{size == 1 ? 0x88 : 0x89}, reg, rm, rex, 0, 0), ALL), 1, 2, 4, 8);
        sweep((size, reg, rm, rex) -> new Case("mov r" + 8 * size + ", r/m", registerForm(size, new int[]{size == 1 ? 0x8A : 0x8B}, reg, rm, rex, 0, 0), ALL), 1, 2, 4, 8);
        sweep((size, reg, rm, rex) -> new Case("xchg r/m" + 8 * size + ", r", registerForm(size, new int[]{size == 1 ? 0x86 : 0x87}, reg, rm, rex, 0, 0), ALL), 1, 2, 4, 8);
        sweep((size, reg, rm, rex) -> new Case("movzx r" + 8 * size + ", r/m8", registerForm(size, new int[]{0x0F, 0xB6}, reg, rm, rex, 0, 0), ALL), 2, 4, 8);
        sweep((size, reg, rm, rex) -> new Case("movzx r" + 8 * size + ", r/m16", registerForm(size, new int[]{0x0F, 0xB7}, reg, rm, rex, 0, 0), ALL), 4, 8);
        sweep((size, reg, rm, rex) -> new Case("movsx r" + 8 * size + ", r/m8", registerForm(size, new int[]{0x0F, 0xBE}, reg, rm, rex, 0, 0), ALL), 2, 4, 8);
        sweep((size, reg, rm, rex) -> new Case("movsx r" + 8 * size + ", r/m16", registerForm(size, new int[]{0x0F, 0xBF}, reg, rm, rex, 0, 0), ALL), 4, 8);
        sweep((size, reg, rm, rex) -> new Case("movsxd r64, r/m32", registerForm(8, new int[]{0x63}, reg, rm, rex, 0, 0), ALL), 8);
        for (int cc = 0; cc < 16; cc++) {
            final int c = cc;
            sweep((size, reg, rm, rex) -> new Case("cmovcc r" + 8 * size, registerForm(size, new int[]{0x0F, 0x40 | c}, reg, rm, rex, 0, 0), ALL), 2, 4, 8);
            sweep((size, reg, rm, rex) -> new Case("setcc r/m8", registerForm(1, new int[]{0x0F, 0x90 | c}, 0, rm, rex, 0, 0), ALL), 1);
        }
        for (int i = 0; i < CASES; i++) {
            int reg = anyReg();
            check(new Case("bswap r32", (reg & 8) != 0 ? new byte[]{0x41, 0x0F, (byte) (0xC8 | (reg & 7))} : new byte[]{0x0F, (byte) (0xC8 | reg)}, ALL), state(), random.nextLong());
            check(new Case("bswap r64", new byte[]{(byte) (0x48 | ((reg & 8) != 0 ? 1 : 0)), 0x0F, (byte) (0xC8 | (reg & 7))}, ALL), state(), random.nextLong());
        }
        for (String[] f : new String[][]{{"cbw", "66 98"}, {"cwde", "98"}, {"cdqe", "48 98"}, {"cwd", "66 99"}, {"cdq", "99"},
                {"cqo", "48 99"}, {"lahf", "9f"}, {"sahf", "9e"}, {"cmc", "f5"}, {"clc", "f8"}, {"stc", "f9"}}) {
            for (int i = 0; i < CASES; i++) {
                check(new Case(f[0], HexFormat.of().parseHex(f[1].replace(" ", "")), ALL), state(), random.nextLong());
            }
        }
    }

    @Test
    void bitTestsScansAndCounts() {
        String[] bt = {"bt", "bts", "btr", "btc"};
        int[] btOpcode = {0xA3, 0xAB, 0xB3, 0xBB};
        for (int k = 0; k < 4; k++) {
            final int op = k;
            sweep((size, reg, rm, rex) -> new Case(bt[op] + " r/m" + 8 * size + ", r", registerForm(size, new int[]{0x0F, btOpcode[op]}, reg, rm, rex, 0, 0), CF), 2, 4, 8);
            sweep((size, reg, rm, rex) -> new Case(bt[op] + " r/m" + 8 * size + ", imm8", registerForm(size, new int[]{0x0F, 0xBA}, 4 + op, rm, rex, random.nextInt(256), 1), CF), 2, 4, 8);
        }
        sweep((size, reg, rm, rex) -> new Case("bsf r" + 8 * size, registerForm(size, new int[]{0x0F, 0xBC}, reg, rm, rex, 0, 0), ZF), 2, 4, 8);
        sweep((size, reg, rm, rex) -> new Case("bsr r" + 8 * size, registerForm(size, new int[]{0x0F, 0xBD}, reg, rm, rex, 0, 0), ZF), 2, 4, 8);
        sweep((size, reg, rm, rex) -> new Case("tzcnt r" + 8 * size, prefixF3(registerForm(size, new int[]{0x0F, 0xBC}, reg, rm, rex, 0, 0)), CF | ZF, BMI1), 2, 4, 8);
        sweep((size, reg, rm, rex) -> new Case("lzcnt r" + 8 * size, prefixF3(registerForm(size, new int[]{0x0F, 0xBD}, reg, rm, rex, 0, 0)), CF | ZF, ABM), 2, 4, 8);
        sweep((size, reg, rm, rex) -> new Case("popcnt r" + 8 * size, prefixF3(registerForm(size, new int[]{0x0F, 0xB8}, reg, rm, rex, 0, 0)), ALL, POPCNT), 2, 4, 8);
    }

    /** F3 goes before REX (and after 66): rebuild the bytes with it in front of any REX. */
    private static byte[] prefixF3(byte[] insn) {
        int at = insn[0] == 0x66 ? 1 : 0;
        byte[] out = new byte[insn.length + 1];
        System.arraycopy(insn, 0, out, 0, at);
        out[at] = (byte) 0xF3;
        System.arraycopy(insn, at, out, at + 1, insn.length - at);
        return out;
    }

    @Test
    void doubleShiftsExchangesAndCompareExchange() {
        for (int size : new int[]{2, 4, 8}) {
            for (int i = 0; i < CASES; i++) {
                int bits = 8 * size;
                int count = random.nextInt(3) == 0 ? 1 : random.nextInt(size == 2 ? 17 : 64);
                long defined = DefinedFlags.doubleShift(size, count);
                for (int left = 0; left < 2; left++) {
                    int reg = anyReg(), rm = anyReg();
                    check(new Case((left == 1 ? "shld" : "shrd") + " r/m" + bits + ", r, imm8",
                            registerForm(size, new int[]{0x0F, left == 1 ? 0xA4 : 0xAC}, reg, rm, false, count, 1), defined), state(), random.nextLong());
                    if (reg != 1 && rm != 1) {
                        long[] g = state();
                        g[1] = (g[1] & ~0xFFL) | count;
                        check(new Case((left == 1 ? "shld" : "shrd") + " r/m" + bits + ", r, cl",
                                registerForm(size, new int[]{0x0F, left == 1 ? 0xA5 : 0xAD}, reg, rm, false, 0, 0), defined), g, random.nextLong());
                    }
                }
            }
        }
        sweep((size, reg, rm, rex) -> new Case("xadd r/m" + 8 * size + ", r", registerForm(size, new int[]{0x0F, size == 1 ? 0xC0 : 0xC1}, reg, rm, rex, 0, 0), ALL), 1, 2, 4, 8);
        for (int size : new int[]{1, 2, 4, 8}) {
            for (int i = 0; i < CASES; i++) {
                int reg = anyReg(), rm = anyReg();
                boolean rex = size == 1;
                long[] g = state();
                if (random.nextBoolean()) {
                    g[0] = g[rm]; // take the equal path half the time
                }
                check(new Case("cmpxchg r/m" + 8 * size + ", r", registerForm(size, new int[]{0x0F, size == 1 ? 0xB0 : 0xB1}, reg, rm, rex, 0, 0), ALL), g, random.nextLong());
            }
        }
    }

    /** C4 VEX: map 2 (0F38) or 3 (0F3A), W, vvvv, L0, pp, then opcode and a register-form ModRM. */
    private static byte[] vex(int map, boolean w, int pp, int vvvv, int op, int reg, int rm, int imm, boolean hasImm) {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        b.write(0xC4);
        b.write(((reg & 8) == 0 ? 0x80 : 0) | 0x40 | ((rm & 8) == 0 ? 0x20 : 0) | map);
        b.write((w ? 0x80 : 0) | ((~vvvv & 15) << 3) | pp);
        b.write(op);
        b.write(0xC0 | ((reg & 7) << 3) | (rm & 7));
        if (hasImm) {
            b.write(imm);
        }
        return b.toByteArray();
    }

    @Test
    void bmiAndCrc32() {
        String[][] three = {{"andn", "2 0 f2"}, {"bextr", "2 0 f7"}, {"shlx", "2 1 f7"}, {"sarx", "2 2 f7"}, {"shrx", "2 3 f7"},
                {"bzhi", "2 0 f5"}, {"pdep", "2 3 f5"}, {"pext", "2 2 f5"}, {"mulx", "2 3 f6"}};
        long[] defined = {ZF | SF | CF | OF, ZF | CF | OF, 0, 0, 0, ZF | SF | CF | OF, 0, 0, 0};
        CpuFeature[] needs = {BMI1, BMI1, BMI2, BMI2, BMI2, BMI2, BMI2, BMI2, BMI2};
        for (int k = 0; k < three.length; k++) {
            String[] f = three[k][1].split(" ");
            int map = Integer.parseInt(f[0]), pp = Integer.parseInt(f[1]), op = Integer.parseInt(f[2], 16);
            for (boolean w : new boolean[]{false, true}) {
                for (int i = 0; i < CASES; i++) {
                    long[] g = state();
                    if (op == 0xF7 && pp == 0) {
                        int v = anyReg();
                        g[v] = random.nextInt(1 << 16); // BEXTR: start and length in the low 16 bits
                        check(new Case(three[k][0] + (w ? " r64" : " r32"), vex(map, w, pp, v, op, anyReg(), anyReg(), 0, false), defined[k], needs[k]), g, random.nextLong());
                        continue;
                    }
                    check(new Case(three[k][0] + (w ? " r64" : " r32"), vex(map, w, pp, anyReg(), op, anyReg(), anyReg(), 0, false), defined[k], needs[k]), g, random.nextLong());
                }
            }
        }
        String[] bls = {"", "blsr", "blsmsk", "blsi"};
        for (int ext = 1; ext <= 3; ext++) {
            for (boolean w : new boolean[]{false, true}) {
                for (int i = 0; i < CASES; i++) {
                    check(new Case(bls[ext] + (w ? " r64" : " r32"), vex(2, w, 0, anyReg(), 0xF3, ext, anyReg(), 0, false), ZF | SF | CF | OF, BMI1), state(), random.nextLong());
                }
            }
        }
        for (boolean w : new boolean[]{false, true}) {
            for (int i = 0; i < CASES; i++) {
                check(new Case("rorx" + (w ? " r64" : " r32"), vex(3, w, 3, 0, 0xF0, anyReg(), anyReg(), random.nextInt(256), true), ALL, BMI2), state(), random.nextLong());
            }
        }
        for (int size : new int[]{1, 2, 4, 8}) {
            for (int i = 0; i < CASES; i++) {
                byte[] body = registerForm(size, new int[]{0x0F, 0x38, size == 1 ? 0xF0 : 0xF1}, anyReg(), anyReg(), size == 1, 0, 0);
                check(new Case("crc32 r, r/m" + 8 * size, prefixF2(body), ALL, SSE4_2), state(), random.nextLong());
            }
        }
    }

    private static byte[] prefixF2(byte[] insn) {
        byte[] b = prefixF3(insn);
        b[insn[0] == 0x66 ? 1 : 0] = (byte) 0xF2;
        return b;
    }

    @Test
    void leaAddressForms() {
        for (int i = 0; i < CASES * 8; i++) {
            int reg = anyReg(), base = anyReg(), index = anyReg(), scale = random.nextInt(4);
            int size = new int[]{2, 4, 8}[random.nextInt(3)];
            ByteArrayOutputStream b = new ByteArrayOutputStream();
            if (size == 2) {
                b.write(0x66);
            }
            b.write(0x40 | (size == 8 ? 8 : 0) | ((reg & 8) != 0 ? 4 : 0) | ((index & 8) != 0 ? 2 : 0) | ((base & 8) != 0 ? 1 : 0));
            b.write(0x8D);
            b.write(0x84 | ((reg & 7) << 3)); // mod 10, rm 100: SIB + disp32
            b.write((scale << 6) | ((index & 7) << 3) | (base & 7));
            int disp = random.nextInt();
            for (int k = 0; k < 4; k++) {
                b.write(disp >>> (8 * k));
            }
            check(new Case("lea r" + 8 * size + ", [base + index*scale + disp32]", b.toByteArray(), ALL), state(), random.nextLong());
        }
    }

}

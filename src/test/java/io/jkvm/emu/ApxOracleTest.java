package io.jkvm.emu;

import io.jkvm.testing.Asm;
import io.jkvm.testing.DefinedFlags;
import io.jkvm.testing.NativeCpu;
import io.jkvm.testing.OracleCore;
import io.jkvm.x86.CpuFeature;
import io.jkvm.x86.VcpuState;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.HexFormat;
import java.util.Random;

import static io.jkvm.testing.Asm.concat;
import static io.jkvm.testing.Asm.registerForm;
import static io.jkvm.x86.CpuFeature.ABM;
import static io.jkvm.x86.CpuFeature.ADX;
import static io.jkvm.x86.CpuFeature.BMI1;
import static io.jkvm.x86.CpuFeature.BMI2;
import static io.jkvm.x86.CpuFeature.POPCNT;
import static io.jkvm.x86.CpuFeature.SSE4_2;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * APX's EVEX forms on the software core against their legacy equivalent sequences on the host CPU: an NDD
 * {@code op d, a, b} must equal {@code mov s, a; op s, b; mov d, s} (with a MOVZX where NDD zero-extends 8- and
 * 16-bit results), an NF form the same result with RFLAGS untouched, CCMP/CTEST a CMP/TEST when the source condition
 * holds and the default flags value when not, CFCMOV a CMOV. Operands are drawn from all 32 GPRs; EGPR operands
 * are renamed onto free legacy registers for the host (the host has no APX).
 */
class ApxOracleTest {
    private static final long CF = 1, PF = 4, AF = 0x10, ZF = 0x40, SF = 0x80, OF = 0x800, ALL = CF | PF | AF | ZF | SF | OF;
    /** The core's model has what the EVEX forms need whatever KVM reports; the host runs a twin only when its own CPUID has it. */
    private static final String MODEL = "host,+xsave,+apx,+bmi1,+bmi2,+abm,+movbe,+adx,+popcnt";
    private static final Random random = new Random(OracleCore.SEED ^ 0x41505846L);
    private static final int CASES = OracleCore.casesPerForm(24);
    private static OracleCore oracle;
    private static NativeCpu host;
    private static EmulatedVcpu core;

    @BeforeAll
    static void setUp() {
        oracle = new OracleCore("APX EVEX", MODEL);
        host = oracle.host;
        core = oracle.core;
        core.setXcr0(0x80003L);
    }

    @AfterAll
    static void tearDown() {
        oracle.close();
    }

    /** The APX operands d, a, b (0-31, never RSP or RCX, which the twins use as CL) and their legacy stand-ins. */
    record Operands(int d, int a, int b, int td, int ta, int tb, int s) {
    }

    private static Operands operands() {
        int d = pick(), a = pick(), b = pick();
        boolean[] used = new boolean[16];
        used[1] = used[4] = true;
        for (int x : new int[]{d, a, b}) {
            if (x < 16) {
                used[x] = true;
            }
        }
        int[] t = new int[3];
        int[] ops = {d, a, b};
        for (int i = 0; i < 3; i++) {
            if (ops[i] < 16) {
                t[i] = ops[i];
            } else if (i > 0 && ops[i] == ops[i - 1]) {
                t[i] = t[i - 1];
            } else if (i == 2 && ops[2] == ops[0]) {
                t[i] = t[0];
            } else {
                t[i] = free(used);
            }
        }
        return new Operands(d, a, b, t[0], t[1], t[2], free(used));
    }

    private static int pick() {
        int r;
        do {
            r = random.nextInt(32);
        } while (r == 4 || r == 1);
        return r;
    }

    private static int free(boolean[] used) {
        int r;
        do {
            r = random.nextInt(16);
        } while (used[r]);
        used[r] = true;
        return r;
    }

    private static byte[] mov(int dst, int src) {
        return registerForm(8, new int[]{0x89}, src, dst, true, 0, 0);
    }

    /** MOVZX r64, r8/r16 for the zero-extension NDD does at 8 and 16 bits; nothing at 32 and 64. */
    private static byte[] zeroExtend(int r, int size) {
        return size == 1 ? registerForm(8, new int[]{0x0F, 0xB6}, r, r, true, 0, 0) : size == 2 ? registerForm(8, new int[]{0x0F, 0xB7}, r, r, true, 0, 0) : new byte[0];
    }

    private static long randomValue() {
        return switch (random.nextInt(6)) {
            case 0 -> random.nextInt(5) - 2;
            case 1 -> random.nextInt(130);
            default -> random.nextLong();
        };
    }

    /**
     * Runs {@code apx} on the core with every GPR random, {@code twin} on the host with o's legacy stand-ins holding
     * the APX operands' values, and compares: d (and {@code alsoWritten}) against the twin's stand-ins, every other
     * core GPR unchanged, and the {@code defined} flags (or, with {@code flagsKept}, RFLAGS as it was).
     */
    private static void check(String form, Operands o, byte[] apx, byte[] twin, long defined, boolean flagsKept, int... alsoWritten) {
        check(form, o, randomGprs(), apx, twin, defined, flagsKept, alsoWritten);
    }

    /** All 32 GPRs random but RSP, which is the core's stack. */
    private static long[] randomGprs() {
        long[] gprs = new long[32];
        for (int i = 0; i < 32; i++) {
            gprs[i] = randomValue();
        }
        gprs[4] = 0x200000;
        return gprs;
    }

    /** As above, from the GPRs {@code before} (for forms whose defined flags depend on a register, CL). */
    private static void check(String form, Operands o, long[] before, byte[] apx, byte[] twin, long defined, boolean flagsKept, int... alsoWritten) {
        long flags = random.nextLong() & 0x8D5L;
        long[] g = new long[16];
        System.arraycopy(before, 0, g, 0, 16);
        int[] apxRegs = {o.d, o.a, o.b};
        int[] stand = {o.td, o.ta, o.tb};
        for (int i = 0; i < 3; i++) {
            g[stand[i]] = before[apxRegs[i]];
        }
        NativeCpu.Result want = host.run(twin, g, flags);

        oracle.load(apx);
        oracle.setRegisters(before, flags | 0x2);
        long[] e = new long[16];
        System.arraycopy(before, 16, e, 0, 16);
        oracle.setEgprs(e);
        String where = form + " " + o + " apx [" + HexFormat.ofDelimiter(" ").formatHex(apx) + "] twin ["
                + HexFormat.ofDelimiter(" ").formatHex(twin) + "]";
        oracle.runLoaded(where);
        VcpuState after = core.saveState();
        boolean[] written = new boolean[32];
        written[o.d] = true;
        assertEquals(want.gprs()[o.td], after.gpr(o.d), where + ": destination");
        for (int w : alsoWritten) {
            int t = w == o.a ? o.ta : w == o.b ? o.tb : w;
            written[w] = true;
            assertEquals(want.gprs()[t], after.gpr(w), where + ": r" + w);
        }
        for (int i = 0; i < 32; i++) {
            if (!written[i]) {
                assertEquals(before[i], after.gpr(i), where + ": r" + i + " must be untouched");
            }
        }
        long got = after.registers().rflags();
        if (flagsKept) {
            assertEquals(flags | 0x2, got & (ALL | 0x2), where + ": NF keeps RFLAGS");
        } else {
            assertEquals(want.rflags() & defined, got & defined, where + ": flags");
        }
        oracle.counted(form);
    }

    private static int[] sizes(boolean bytes) {
        return bytes ? new int[]{1, 2, 4, 8} : new int[]{2, 4, 8};
    }

    private static int pp(int size) {
        return size == 2 ? 1 : 0;
    }

    @Test
    void nddAndNfFormsOfTheAluOperations() {
        for (int op = 0; op < 7; op++) {
            long defined = op == 1 || op == 4 || op == 6 ? ALL & ~AF : ALL;
            boolean carryOp = op == 2 || op == 3;
            for (int size : sizes(true)) {
                int w = size == 8 ? 1 : 0;
                int opMr = (op << 3) | (size == 1 ? 0 : 1), opRm = opMr + 2, opImm = size == 1 ? 0x80 : 0x83;
                for (int i = 0; i < CASES; i++) {
                    for (boolean nf : carryOp ? new boolean[]{false} : new boolean[]{false, true}) {
                        Operands o = operands();
                        String tag = (nf ? "{nf} " : "") + "alu" + op + "." + 8 * size;
                        // op d, a(r/m), b(reg)
                        check(tag + " ndd r/m, r", o, new Asm().evex(4, pp(size), w == 1, true, nf, o.d, opMr, o.b, o.a).bytes(),
                                concat(mov(o.s, o.ta), registerForm(size, new int[]{opMr}, o.tb, o.s, true, 0, 0), zeroExtend(o.s, size), mov(o.td, o.s)),
                                defined, nf);
                        // op d, b(reg), a(r/m)
                        check(tag + " ndd r, r/m", o, new Asm().evex(4, pp(size), w == 1, true, nf, o.d, opRm, o.b, o.a).bytes(),
                                concat(mov(o.s, o.tb), registerForm(size, new int[]{opRm}, o.s, o.ta, true, 0, 0), zeroExtend(o.s, size), mov(o.td, o.s)),
                                defined, nf);
                        long imm = random.nextInt(256);
                        check(tag + " ndd r/m, imm8", o, new Asm().evex(4, pp(size), w == 1, true, nf, o.d, opImm, op, o.a).immediate(imm, 1).bytes(),
                                concat(mov(o.s, o.ta), registerForm(size, new int[]{opImm}, op, o.s, true, imm, 1), zeroExtend(o.s, size), mov(o.td, o.s)),
                                defined, nf);
                        // without ND: the legacy operation in place (d = a), merging 8/16-bit results as legacy code does
                        Operands p = new Operands(o.a, o.a, o.b, o.ta, o.ta, o.tb, o.s);
                        check(tag + " r/m, r", p, new Asm().evex(4, pp(size), w == 1, false, nf, 0, opMr, p.b, p.a).bytes(),
                                registerForm(size, new int[]{opMr}, p.tb, p.ta, true, 0, 0), defined, nf);
                    }
                }
            }
        }
    }

    @Test
    void nddAndNfFormsOfUnaryShiftAndMultiplyOperations() {
        for (int size : sizes(true)) {
            boolean w = size == 8;
            int grp = size == 1 ? 0 : 1;
            for (int i = 0; i < CASES; i++) {
                for (boolean nf : new boolean[]{false, true}) {
                    String pre = nf ? "{nf} " : "";
                    Operands o = operands();
                    int[][] unary = {{0xFE | grp, 0, 1}, {0xFE | grp, 1, 1}, {0xF6 | grp, 3, 1}, {0xF6 | grp, 2, 0}}; // INC DEC NEG NOT
                    for (int[] u : unary) {
                        if (nf && u[2] == 0) {
                            continue; // NOT has no NF form
                        }
                        check(pre + "unary " + Integer.toHexString(u[0]) + "/" + u[1] + "." + 8 * size, o,
                                new Asm().evex(4, pp(size), w, true, nf, o.d, u[0], u[1], o.a).bytes(),
                                concat(mov(o.s, o.ta), registerForm(size, new int[]{u[0]}, u[1], o.s, true, 0, 0), zeroExtend(o.s, size), mov(o.td, o.s)),
                                ALL, nf);
                    }
                    for (int shift : new int[]{0, 1, 4, 5, 7}) { // ROL ROR SHL SHR SAR (flags of counts > 1 are partly undefined)
                        int count = 1 + random.nextInt(8 * size - 1);
                        check(pre + "shift /" + shift + " imm." + 8 * size, o,
                                new Asm().evex(4, pp(size), w, true, nf, o.d, 0xC0 | grp, shift, o.a).immediate(count, 1).bytes(),
                                concat(mov(o.s, o.ta), registerForm(size, new int[]{0xC0 | grp}, shift, o.s, true, count, 1), zeroExtend(o.s, size), mov(o.td, o.s)),
                                DefinedFlags.shift(shift, size, count), nf);
                        long[] state = randomGprs(); // CL random: 0, 1 and counts past the operand's width all come up
                        check(pre + "shift /" + shift + " cl." + 8 * size, o, state,
                                new Asm().evex(4, pp(size), w, true, nf, o.d, 0xD2 | grp, shift, o.a).bytes(),
                                concat(mov(o.s, o.ta), registerForm(size, new int[]{0xD2 | grp}, shift, o.s, true, 0, 0), zeroExtend(o.s, size), mov(o.td, o.s)),
                                DefinedFlags.shift(shift, size, state[1] & 0xFF), nf);
                    }
                    if (size >= 2) {
                        check(pre + "imul ndd." + 8 * size, o, new Asm().evex(4, pp(size), w, true, nf, o.d, 0xAF, o.b, o.a).bytes(),
                                concat(mov(o.s, o.tb), registerForm(size, new int[]{0x0F, 0xAF}, o.s, o.ta, true, 0, 0), zeroExtend(o.s, size), mov(o.td, o.s)),
                                CF | OF, nf);
                        int count = random.nextInt(8 * size);
                        check(pre + "shld ndd imm." + 8 * size, o, new Asm().evex(4, pp(size), w, true, nf, o.d, 0x24, o.b, o.a).immediate(count, 1).bytes(),
                                concat(mov(o.s, o.ta), registerForm(size, new int[]{0x0F, 0xA4}, o.tb, o.s, true, count, 1), zeroExtend(o.s, size), mov(o.td, o.s)),
                                DefinedFlags.doubleShift(size, count), nf);
                        long[] state = randomGprs();
                        if (size == 2) { // a 16-bit SHRD by more than 16 leaves the result undefined too: keep CL's 5 bits to 0-16
                            state[1] = state[1] & ~0x1FL | random.nextInt(17);
                        }
                        check(pre + "shrd ndd cl." + 8 * size, o, state, new Asm().evex(4, pp(size), w, true, nf, o.d, 0xAD, o.b, o.a).bytes(),
                                concat(mov(o.s, o.ta), registerForm(size, new int[]{0x0F, 0xAD}, o.tb, o.s, true, 0, 0), zeroExtend(o.s, size), mov(o.td, o.s)),
                                DefinedFlags.doubleShift(size, state[1] & 0xFF), nf);
                        Operands z = new Operands(o.d, o.a, o.b, o.td, o.ta, o.tb, o.s);
                        long imm = random.nextInt(256);
                        check(pre + "imul.zu imm8." + 8 * size, z, new Asm().evex(4, pp(size), w, true, nf, 0, 0x6B, z.d, z.a).immediate(imm, 1).bytes(),
                                concat(registerForm(size, new int[]{0x6B}, z.s, z.ta, true, imm, 1), zeroExtend(z.s, size), mov(z.td, z.s)), CF | OF, nf);
                    }
                    // MUL/IMUL r/m with NF: RAX and RDX written, flags kept. Operands away from RAX/RDX.
                    Operands m = operandsAvoiding(0, 2);
                    check(pre + "mul." + 8 * size, m, new Asm().evex(4, pp(size), w, false, nf, 0, 0xF6 | grp, 4, m.a).bytes(),
                            registerForm(size, new int[]{0xF6 | grp}, 4, m.ta, true, 0, 0), CF | OF, nf, 0, 2);
                }
            }
        }
    }

    /** Operands none of which is one of {@code avoid} (for instructions with implicit registers); d is then a. */
    private static Operands operandsAvoiding(int... avoid) {
        while (true) {
            Operands o = operands();
            boolean clash = false;
            for (int x : avoid) {
                clash |= o.a == x || o.b == x || o.ta == x || o.tb == x || o.s == x;
            }
            if (!clash) {
                return new Operands(o.a, o.a, o.b, o.ta, o.ta, o.tb, o.s);
            }
        }
    }

    @Test
    void conditionalMovesAndSetZu() {
        for (int size : sizes(false)) {
            boolean w = size == 8;
            for (int i = 0; i < CASES * 2; i++) {
                int cc = random.nextInt(16);
                int cmov = 0x40 | cc;
                Operands o = operands();
                check("cmovcc ndd." + 8 * size, o, new Asm().evex(4, pp(size), w, true, false, o.d, cmov, o.b, o.a).bytes(),
                        concat(mov(o.s, o.tb), registerForm(size, new int[]{0x0F, cmov}, o.s, o.ta, true, 0, 0), zeroExtend(o.s, size), mov(o.td, o.s)), ALL, false);
                check("cfcmovcc ndd." + 8 * size, o, new Asm().evex(4, pp(size), w, true, true, o.d, cmov, o.b, o.a).bytes(),
                        concat(mov(o.s, o.tb), registerForm(size, new int[]{0x0F, cmov}, o.s, o.ta, true, 0, 0), zeroExtend(o.s, size), mov(o.td, o.s)), ALL, false);
                Operands load = new Operands(o.b, o.a, o.b, o.tb, o.ta, o.tb, o.s); // reg = cc ? r/m : reg
                check("cfcmovcc r, r/m." + 8 * size, load, new Asm().evex(4, pp(size), w, false, false, 0, cmov, load.b, load.a).bytes(),
                        registerForm(size, new int[]{0x0F, cmov}, load.tb, load.ta, true, 0, 0), ALL, false);
                Operands store = new Operands(o.a, o.a, o.b, o.ta, o.ta, o.tb, o.s); // r/m = cc ? reg : r/m
                check("cfcmovcc r/m, r." + 8 * size, store, new Asm().evex(4, pp(size), w, false, true, 0, cmov, store.b, store.a).bytes(),
                        registerForm(size, new int[]{0x0F, cmov}, store.ta, store.tb, true, 0, 0), ALL, false);
            }
        }
        for (int i = 0; i < CASES * 2; i++) {
            int cc = random.nextInt(16);
            Operands o = operands();
            Operands z = new Operands(o.a, o.a, o.b, o.ta, o.ta, o.tb, o.s);
            check("setcc.zu", z, new Asm().evex(4, 3, false, true, false, 0, 0x40 | cc, 0, z.a).bytes(),
                    concat(registerForm(4, new int[]{0x0F, 0x90 | cc}, 0, z.ta, true, 0, 0), zeroExtend(z.ta, 1)), ALL, false);
            check("{evex} setcc", z, new Asm().evex(4, 3, false, false, false, 0, 0x40 | cc, 0, z.a).bytes(),
                    registerForm(4, new int[]{0x0F, 0x90 | cc}, 0, z.ta, true, 0, 0), ALL, false);
        }
    }

    /** Whether condition {@code cc} holds under {@code flags}, as the host CPU's SETcc says. */
    private static boolean hostCondition(long flags, int cc) {
        return (host.run(registerForm(4, new int[]{0x0F, 0x90 | cc}, 0, 0, true, 0, 0), new long[16], flags).gprs()[0] & 1) != 0;
    }

    /** Whether CCMP/CTEST's source condition {@code scc} holds under {@code flags}: 0xA is "always", 0xB "never". */
    private static boolean sourceHolds(long flags, int scc) {
        return scc == 0xA || scc != 0xB && hostCondition(flags, scc);
    }

    @Test
    void ccmpAndCtestTakeTheDefaultFlagsValueWhenTheSourceConditionIsFalse() {
        int casesBefore = oracle.cases();
        for (int size : sizes(true)) {
            boolean w = size == 8;
            for (int i = 0; i < CASES; i++) {
                for (boolean test : new boolean[]{false, true}) {
                    for (boolean taken : new boolean[]{true, false}) {
                        int opcode = test ? (size == 1 ? 0x84 : 0x85) : (size == 1 ? 0x38 : 0x39);
                        int scc = random.nextInt(16), dfv = random.nextInt(16);
                        Operands o = operands();
                        long[] g = new long[16];
                        for (int k = 0; k < 16; k++) {
                            g[k] = randomValue();
                        }
                        g[4] = 0x200000;
                        long flags = random.nextLong() & 0x8D5L;
                        if (sourceHolds(flags, scc) != taken) {
                            scc ^= 1; // every condition's opposite is its neighbour (0xA "always" and 0xB "never" too)
                        }
                        oracle.load(new Asm().conditional(pp(size), w, scc, dfv, opcode, o.tb, o.ta).bytes());
                        // legacy operands only here: the point is the condition and DFV, EGPR decoding is covered above
                        Operands legacyOnly = new Operands(o.td, o.ta, o.tb, o.td, o.ta, o.tb, o.s);
                        oracle.setRegisters(g, flags | 0x2);
                        String where = (test ? "ctest" : "ccmp") + " scc=" + scc + " dfv=" + dfv + " size=" + size + " " + legacyOnly;
                        oracle.runLoaded(where);
                        long got = core.registers().rflags() & ALL;
                        long want;
                        long defined = ALL;
                        if (taken) {
                            want = host.run(registerForm(size, new int[]{opcode}, o.tb, o.ta, true, 0, 0), g, flags).rflags() & ALL;
                            if (test) {
                                defined &= ~AF;
                            }
                        } else {
                            want = ((dfv & 8) != 0 ? OF : 0) | ((dfv & 4) != 0 ? SF : 0) | ((dfv & 2) != 0 ? ZF : 0) | (dfv & 1) | ((dfv & 1) != 0 ? PF : 0);
                        }
                        assertEquals(want & defined, got & defined, where);
                        for (int k = 0; k < 16; k++) {
                            assertEquals(g[k], core.registers().gpr(k), where + ": r" + k + " untouched");
                        }
                        oracle.counted((test ? "ctest" : "ccmp") + (taken ? " taken." : " dfv.") + 8 * size);
                    }
                }
            }
        }
        int expected = sizes(true).length * CASES * 2 * 2; // sizes x cases x {CCMP, CTEST} x {condition true, false}
        assertEquals(expected, oracle.cases() - casesBefore, "CCMP/CTEST cases checked");
    }

    @Test
    void bitCountsAdxMovbeAndCrc32() {
        for (int size : sizes(false)) {
            boolean w = size == 8;
            for (int i = 0; i < CASES; i++) {
                for (boolean nf : new boolean[]{false, true}) {
                    Operands o = operands();
                    Operands p = new Operands(o.b, o.a, o.b, o.tb, o.ta, o.tb, o.s); // reg = f(r/m)
                    int[][] counts = {{0x88, 0xB8}, {0xF4, 0xBC}, {0xF5, 0xBD}}; // POPCNT TZCNT LZCNT: EVEX, legacy opcode
                    CpuFeature[] twinNeeds = {POPCNT, BMI1, ABM};
                    for (int k = 0; k < counts.length; k++) {
                        String form = (nf ? "{nf} " : "") + "count " + Integer.toHexString(counts[k][0]) + "." + 8 * size;
                        if (oracle.hostRuns(form, twinNeeds[k])) {
                            check(form, p, new Asm().evex(4, pp(size), w, false, nf, 0, counts[k][0], p.b, p.a).bytes(),
                                    registerForm(size, new int[]{0xF3, 0x0F, counts[k][1]}, p.tb, p.ta, true, 0, 0),
                                    ALL & ~AF & ~(counts[k][0] == 0x88 ? 0 : OF | SF | PF), nf);
                        }
                    }
                }
            }
        }
        for (int size : new int[]{4, 8}) {
            boolean w = size == 8;
            for (int i = 0; i < CASES; i++) {
                Operands o = operands();
                Operands p = new Operands(o.b, o.a, o.b, o.tb, o.ta, o.tb, o.s);
                if (oracle.hostRuns("adcx ndd." + 8 * size, ADX)) {
                    check("adcx ndd." + 8 * size, o, new Asm().evex(4, 1, w, true, false, o.d, 0x66, o.b, o.a).bytes(),
                            concat(mov(o.s, o.tb), registerForm(size, new int[]{0x66, 0x0F, 0x38, 0xF6}, o.s, o.ta, true, 0, 0), mov(o.td, o.s)), ALL, false);
                }
                if (oracle.hostRuns("adox ndd." + 8 * size, ADX)) {
                    check("adox ndd." + 8 * size, o, new Asm().evex(4, 2, w, true, false, o.d, 0x66, o.b, o.a).bytes(),
                            concat(mov(o.s, o.tb), registerForm(size, new int[]{0xF3, 0x0F, 0x38, 0xF6}, o.s, o.ta, true, 0, 0), mov(o.td, o.s)), ALL, false);
                }
                if (oracle.hostRuns("{evex} adcx." + 8 * size, ADX)) {
                    check("{evex} adcx." + 8 * size, p, new Asm().evex(4, 1, w, false, false, 0, 0x66, p.b, p.a).bytes(),
                            registerForm(size, new int[]{0x66, 0x0F, 0x38, 0xF6}, p.tb, p.ta, true, 0, 0), ALL, false);
                }
                if (oracle.hostRuns("{evex} crc32." + 8 * size, SSE4_2)) {
                    check("{evex} crc32." + 8 * size, p, new Asm().evex(4, 0, w, false, false, 0, 0xF1, p.b, p.a).bytes(),
                            registerForm(size, new int[]{0xF2, 0x0F, 0x38, 0xF1}, p.tb, p.ta, true, 0, 0), ALL, false);
                }
            }
        }
    }

    @Test
    void evexPromotedBmiOnEgprs() {
        for (int size : new int[]{4, 8}) {
            boolean w = size == 8;
            for (int i = 0; i < CASES; i++) {
                for (boolean nf : new boolean[]{false, true}) {
                    Operands o = operands();
                    // VEX twin: C4 [~R ~X ~B mmmmm] [W ~vvvv L pp] op modrm
                    String pre = nf ? "{nf} " : "";
                    int[][] forms = { // {opcode, pp, sets flags}: ANDN BZHI BEXTR PDEP PEXT SHLX SARX SHRX
                            {0xF2, 0, 1}, {0xF5, 0, 1}, {0xF7, 0, 1}, {0xF5, 3, 0}, {0xF5, 2, 0}, {0xF7, 1, 0}, {0xF7, 2, 0}, {0xF7, 3, 0}};
                    for (int[] f : forms) {
                        String form = pre + "bmi " + Integer.toHexString(f[0]) + " pp" + f[1] + "." + 8 * size;
                        if (nf && f[2] == 0 || !oracle.hostRuns(form, f[1] == 0 && f[0] != 0xF5 ? BMI1 : BMI2)) {
                            continue;
                        }
                        // vvvv operand is b, ModRM.reg is d, r/m is a; all distinct here
                        Operands d = distinct(o);
                        check(form, d, new Asm().evex(2, f[1], w, false, nf, d.b, f[0], d.d, d.a).bytes(),
                                vex(2, f[1], w, d.tb, f[0], d.td, d.ta), f[0] == 0xF7 && f[1] == 0 ? ZF : CF | ZF | SF | OF, nf);
                    }
                    Operands d = distinct(o);
                    if (oracle.hostRuns(pre + "blsr." + 8 * size, BMI1)) {
                        check(pre + "blsr." + 8 * size, d, new Asm().evex(2, 0, w, false, nf, d.d, 0xF3, 1, d.a).bytes(),
                                vex(2, 0, w, d.td, 0xF3, 1, d.ta), CF | ZF | SF | OF, nf);
                    }
                    if (!nf && oracle.hostRuns("mulx." + 8 * size, BMI2)) {
                        check("mulx." + 8 * size, d, new Asm().evex(2, 3, w, false, false, d.b, 0xF6, d.d, d.a).bytes(),
                                vex(2, 3, w, d.tb, 0xF6, d.td, d.ta), ALL, false, d.b);
                    }
                }
            }
        }
    }

    private static Operands distinct(Operands o) {
        Operands d = o;
        while (d.d == d.a || d.d == d.b || d.a == d.b || d.d == 2 || d.a == 2 || d.b == 2 || d.td == 2 || d.ta == 2 || d.tb == 2) {
            d = operands();
        }
        return d;
    }

    private static byte[] vex(int map, int pp, boolean w, int vvvv, int op, int reg, int rm) {
        return new byte[]{(byte) 0xC4, (byte) (((reg & 8) == 0 ? 0x80 : 0) | 0x40 | ((rm & 8) == 0 ? 0x20 : 0) | map),
                (byte) ((w ? 0x80 : 0) | ((~vvvv & 15) << 3) | pp), (byte) op, (byte) (0xC0 | ((reg & 7) << 3) | (rm & 7))};
    }
}

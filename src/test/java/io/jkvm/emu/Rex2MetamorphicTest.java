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

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * REX2 by renaming: an instruction on R16-R31 (REX2-encoded, run on the software core) must compute what its
 * legacy twin computes on the host CPU with the same values in legacy registers, in all 32 GPRs and the defined
 * flags. Covers ModRM reg and r/m, SIB base and index (X4/B4), map 0 and map 1, and byte registers (R16B-R31B, and
 * SPL..DIL under REX2).
 */
class Rex2MetamorphicTest {
    private static final long CF = 1, PF = 4, AF = 0x10, ZF = 0x40, SF = 0x80, OF = 0x800, ALL = CF | PF | AF | ZF | SF | OF;
    private static final Random random = new Random(OracleCore.SEED ^ 0x52455832L);
    private static final int CASES = OracleCore.casesPerForm(32);
    private static OracleCore oracle;
    private static NativeCpu host;
    private static EmulatedVcpu core;

    @BeforeAll
    static void setUp() {
        oracle = new OracleCore("REX2 metamorphic", "host,+xsave,+apx");
        host = oracle.host;
        core = oracle.core;
        core.setXcr0(0x80003L);
    }

    @AfterAll
    static void tearDown() {
        oracle.close();
    }

    /** Encodes a register-form (or SIB, when {@code sib} >= 0) instruction; REX2 when any register is 16-31. */
    private static byte[] encode(int size, int[] opcode, int reg, int rm, int index, int scale, boolean sib, long imm, int immSize) {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        if (size == 2) {
            b.write(0x66);
        }
        boolean map1 = opcode[0] == 0x0F;
        boolean egpr = reg >= 16 || rm >= 16 || (sib && index >= 16);
        int x = sib ? index : 0;
        if (egpr) {
            b.write(0xD5);
            b.write((map1 ? 0x80 : 0) | ((reg & 16) != 0 ? 0x40 : 0) | ((x & 16) != 0 ? 0x20 : 0) | ((rm & 16) != 0 ? 0x10 : 0)
                    | (size == 8 ? 8 : 0) | ((reg & 8) != 0 ? 4 : 0) | ((x & 8) != 0 ? 2 : 0) | ((rm & 8) != 0 ? 1 : 0));
        } else {
            b.write(0x40 | (size == 8 ? 8 : 0) | ((reg & 8) != 0 ? 4 : 0) | ((x & 8) != 0 ? 2 : 0) | ((rm & 8) != 0 ? 1 : 0));
            if (map1) {
                b.write(0x0F);
            }
        }
        for (int i = map1 ? 1 : 0; i < opcode.length; i++) {
            b.write(opcode[i]);
        }
        if (sib) {
            b.write(0x84 | ((reg & 7) << 3)); // mod 10, rm 100
            b.write((scale << 6) | ((index & 7) << 3) | (rm & 7));
            int disp = (int) imm;
            for (int k = 0; k < 4; k++) {
                b.write(disp >>> (8 * k));
            }
        } else {
            b.write(0xC0 | ((reg & 7) << 3) | (rm & 7));
            for (int i = 0; i < immSize; i++) {
                b.write((int) (imm >>> (8 * i)));
            }
        }
        return b.toByteArray();
    }

    private static int legacyReg(int... avoid) {
        while (true) {
            int r = random.nextInt(16);
            boolean bad = r == 4;
            for (int a : avoid) {
                bad |= r == a;
            }
            if (!bad) {
                return r;
            }
        }
    }

    /**
     * Runs the legacy form natively and the renamed one on the core: legacy register L_i becomes EGPR E_i, holding
     * the same value; the results must agree register for register, and in the defined flags.
     */
    private static void check(String form, int size, int[] opcode, int ext, long imm, int immSize, long flagsDefined, boolean sib) {
        boolean fixedReg = ext >= 0; // ModRM.reg is an opcode extension, not a register
        int reg = fixedReg ? ext : legacyReg();
        int rm = legacyReg(reg);
        int index = sib ? legacyReg(reg, rm) : 0;
        int scale = random.nextInt(4);
        int eReg = fixedReg ? reg : 16 + random.nextInt(16);
        int eRm, eIndex;
        do {
            eRm = 16 + random.nextInt(16);
        } while (eRm == eReg);
        do {
            eIndex = 16 + random.nextInt(16);
        } while (eIndex == eReg || eIndex == eRm);
        int[] op = opcode;
        byte[] legacy = encode(size, op, reg, rm, index, scale, sib, imm, immSize);
        byte[] renamed = encode(size, op, eReg, eRm, eIndex, scale, sib, imm, immSize);

        long[] g = new long[16];
        for (int i = 0; i < 16; i++) {
            g[i] = random.nextInt(4) == 0 ? random.nextInt(3) - 1 : random.nextLong();
        }
        long flags = random.nextLong();
        NativeCpu.Result want = host.run(legacy, g, flags);

        // Core: legacy registers as natively, except the renamed ones, whose values move to their EGPRs.
        long[] e = new long[16];
        for (int i = 0; i < 16; i++) {
            e[i] = random.nextLong();
        }
        if (!fixedReg) {
            e[eReg - 16] = g[reg];
        }
        e[eRm - 16] = g[rm];
        if (sib) {
            e[eIndex - 16] = g[index];
        }
        oracle.load(renamed);
        oracle.setRegisters(g, (flags & 0x8D5L) | 0x2);
        oracle.setEgprs(e);
        String where = form + " legacy [" + HexFormat.ofDelimiter(" ").formatHex(legacy) + "] renamed ["
                + HexFormat.ofDelimiter(" ").formatHex(renamed) + "]";
        oracle.runLoaded(where);
        VcpuState after = core.saveState();
        for (int i = 16; i < 32; i++) { // the renamed operands hold the twin's results, every other EGPR its value from before
            long expected = !fixedReg && i == eReg ? want.gprs()[reg] : i == eRm ? want.gprs()[rm] : sib && i == eIndex ? want.gprs()[index] : e[i - 16];
            String role = !fixedReg && i == eReg ? " (reg operand)" : i == eRm ? " (r/m operand)" : sib && i == eIndex ? " (index)" : " (untouched)";
            assertEquals(expected, after.gpr(i), where + ": r" + i + role);
        }
        for (int i = 0; i < 16; i++) { // a legacy register the core's form does not name keeps its value; the others as natively
            boolean renamedAway = !fixedReg && i == reg || i == rm || sib && i == index;
            if (i != 4) {
                assertEquals(renamedAway ? g[i] : want.gprs()[i], after.gpr(i), where + ": r" + i + (renamedAway ? " (renamed away, untouched)" : ""));
            }
        }
        assertEquals(want.rflags() & flagsDefined, after.registers().rflags() & flagsDefined, where + ": flags");
        oracle.counted(form);
    }

    @Test
    void aluAndUnaryFormsOnEgprs() {
        for (int op = 0; op < 8; op++) {
            long defined = op == 1 || op == 4 || op == 6 ? ALL & ~AF : ALL;
            for (int size : new int[]{1, 2, 4, 8}) {
                for (int i = 0; i < CASES; i++) {
                    check("alu" + op + " r/m" + 8 * size + ", r", size, new int[]{(op << 3) | (size == 1 ? 0 : 1)}, -1, 0, 0, defined, false);
                    check("alu" + op + " r" + 8 * size + ", r/m", size, new int[]{(op << 3) | (size == 1 ? 2 : 3)}, -1, 0, 0, defined, false);
                    check("alu" + op + " r/m" + 8 * size + ", imm8", size, new int[]{size == 1 ? 0x80 : 0x83}, op, random.nextLong(), 1, defined, false);
                }
            }
        }
        for (int size : new int[]{1, 2, 4, 8}) {
            for (int i = 0; i < CASES; i++) {
                check("test r/m" + 8 * size + ", r", size, new int[]{size == 1 ? 0x84 : 0x85}, -1, 0, 0, ALL & ~AF, false);
                check("not r/m" + 8 * size, size, new int[]{size == 1 ? 0xF6 : 0xF7}, 2, 0, 0, ALL, false);
                check("neg r/m" + 8 * size, size, new int[]{size == 1 ? 0xF6 : 0xF7}, 3, 0, 0, ALL, false);
                check("inc r/m" + 8 * size, size, new int[]{size == 1 ? 0xFE : 0xFF}, 0, 0, 0, ALL, false);
                check("shl r/m" + 8 * size + ", 1", size, new int[]{size == 1 ? 0xD0 : 0xD1}, 4, 0, 0, ALL & ~AF, false);
                check("mov r/m" + 8 * size + ", r", size, new int[]{size == 1 ? 0x88 : 0x89}, -1, 0, 0, ALL, false);
                check("xchg r/m" + 8 * size + ", r", size, new int[]{size == 1 ? 0x86 : 0x87}, -1, 0, 0, ALL, false);
            }
        }
    }

    @Test
    void map1FormsOnEgprs() {
        for (int size : new int[]{2, 4, 8}) {
            for (int i = 0; i < CASES; i++) {
                check("imul r" + 8 * size + ", r/m", size, new int[]{0x0F, 0xAF}, -1, 0, 0, CF | OF, false);
                check("movzx r" + 8 * size + ", r/m8", size, new int[]{0x0F, 0xB6}, -1, 0, 0, ALL, false);
                check("movsx r" + 8 * size + ", r/m8", size, new int[]{0x0F, 0xBE}, -1, 0, 0, ALL, false);
                int cc = random.nextInt(16);
                check("cmovcc r" + 8 * size, size, new int[]{0x0F, 0x40 | cc}, -1, 0, 0, ALL, false);
            }
        }
        for (int i = 0; i < CASES; i++) {
            check("setcc r/m8", 1, new int[]{0x0F, 0x90 | random.nextInt(16)}, 0, 0, 0, ALL, false);
        }
    }

    @Test
    void sibWithEgprBaseAndIndex() {
        for (int size : new int[]{4, 8}) {
            for (int i = 0; i < CASES * 4; i++) {
                check("lea r" + 8 * size + ", [base + index*scale + disp32]", size, new int[]{0x8D}, -1, random.nextInt(), 0, ALL, true);
            }
        }
    }
}

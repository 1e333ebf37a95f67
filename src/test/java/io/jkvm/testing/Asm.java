package io.jkvm.testing;

import java.io.ByteArrayOutputStream;
import java.util.HexFormat;

/**
 * A small x86-64 encoder for tests: the instructions the guest programs of the tests need, with REX for R8-R15
 * and REX2 (0xD5 + payload M0 R4 X4 B4 W R3 X3 B3) for R16-R31. Checked against published byte sequences.
 */
public final class Asm {
    private final ByteArrayOutputStream out = new ByteArrayOutputStream();

    public byte[] bytes() {
        return out.toByteArray();
    }

    public int size() {
        return out.size();
    }

    public Asm raw(String hex) {
        byte[] b = HexFormat.of().parseHex(hex.replace(" ", ""));
        out.write(b, 0, b.length);
        return this;
    }

    private Asm emit(int... bytes) {
        for (int b : bytes) {
            out.write(b);
        }
        return this;
    }

    private Asm imm(long v, int size) {
        for (int i = 0; i < size; i++) {
            out.write((int) (v >>> (8 * i)));
        }
        return this;
    }

    /** REX or REX2 for a ModRM instruction with reg/rm register numbers (0-31), or nothing when neither is needed. */
    private Asm prefix(boolean w, int reg, int rm, boolean map1) {
        if (reg >= 16 || rm >= 16) {
            int p = (map1 ? 0x80 : 0) | ((reg & 16) != 0 ? 0x40 : 0) | ((rm & 16) != 0 ? 0x10 : 0) | (w ? 0x08 : 0)
                    | ((reg & 8) != 0 ? 0x04 : 0) | ((rm & 8) != 0 ? 0x01 : 0);
            return emit(0xD5, p);
        }
        int rex = (w ? 8 : 0) | ((reg & 8) != 0 ? 4 : 0) | ((rm & 8) != 0 ? 1 : 0);
        if (rex != 0) {
            emit(0x40 | rex);
        }
        if (map1) {
            emit(0x0F);
        }
        return this;
    }

    /** mov reg64, imm64 (B8+r): for R16 this is d5 18 b8 imm64. */
    public Asm movImm64(int reg, long value) {
        prefix(true, 0, reg, false);
        return emit(0xB8 + (reg & 7)).imm(value, 8);
    }

    /** op r/m64, r64 for the ALU ops: 0 ADD, 1 OR, 2 ADC, 3 SBB, 4 AND, 5 SUB, 6 XOR, 7 CMP. */
    public Asm alu(int op, int dst, int src) {
        prefix(true, src, dst, false);
        return emit((op << 3) | 1, 0xC0 | ((src & 7) << 3) | (dst & 7));
    }

    public Asm cmp(int a, int b) {
        return alu(7, a, b);
    }

    public Asm mov(int dst, int src) {
        prefix(true, src, dst, false);
        return emit(0x89, 0xC0 | ((src & 7) << 3) | (dst & 7));
    }

    public Asm push(int reg) {
        if (reg >= 16) {
            return emit(0xD5, 0x10 | ((reg & 8) != 0 ? 1 : 0), 0x50 + (reg & 7));
        }
        if (reg >= 8) {
            emit(0x41);
        }
        return emit(0x50 + (reg & 7));
    }

    public Asm pop(int reg) {
        if (reg >= 16) {
            return emit(0xD5, 0x10 | ((reg & 8) != 0 ? 1 : 0), 0x58 + (reg & 7));
        }
        if (reg >= 8) {
            emit(0x41);
        }
        return emit(0x58 + (reg & 7));
    }

    public Asm outAl(int port) {
        return emit(0xE6, port);
    }

    public Asm movAl(int value) {
        return emit(0xB0, value);
    }

    /** jne rel8 to a label resolved by the caller: the offset from the end of this instruction. */
    public Asm jne(int rel8) {
        return emit(0x75, rel8 & 0xFF);
    }

    public Asm hlt() {
        return emit(0xF4);
    }

    public Asm cli() {
        return emit(0xFA);
    }

    /**
     * A legacy register-form instruction: [66 for 16 bits] [mandatory prefixes: the leading F2/F3/66 of
     * {@code opcode}] [REX W R B, when needed or {@code forceRex}: byte registers 4-7 are then SPL..DIL] opcode
     * ModRM(11, reg, rm) [imm].
     */
    public static byte[] registerForm(int size, int[] opcode, int reg, int rm, boolean forceRex, long imm, int immSize) {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        if (size == 2) {
            b.write(0x66);
        }
        int k = 0;
        while (opcode[k] == 0xF3 || opcode[k] == 0xF2 || opcode[k] == 0x66) {
            b.write(opcode[k++]); // REX must come last, right before the opcode
        }
        int rex = (size == 8 ? 8 : 0) | ((reg & 8) != 0 ? 4 : 0) | ((rm & 8) != 0 ? 1 : 0);
        if (rex != 0 || forceRex) {
            b.write(0x40 | rex);
        }
        for (; k < opcode.length; k++) {
            b.write(opcode[k]);
        }
        b.write(0xC0 | ((reg & 7) << 3) | (rm & 7));
        for (int i = 0; i < immSize; i++) {
            b.write((int) (imm >>> (8 * i)));
        }
        return b.toByteArray();
    }

    /** Byte sequences one after another. */
    public static byte[] concat(byte[]... parts) {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        for (byte[] p : parts) {
            b.write(p, 0, p.length);
        }
        return b.toByteArray();
    }

    /** Immediate or displacement bytes, little-endian. */
    public Asm immediate(long v, int size) {
        return imm(v, size);
    }

    // ---- APX EVEX (62 P0 P1 P2): P0 = ~R3 ~X3 ~B3 ~R4 B4 mmm; P1 = W ~vvvv ~X4 pp; P2 = z L'L ND ~V4 NF 0 0 ----

    /** An APX EVEX instruction, register form: map 4 (promoted legacy) or 2/3 (BMI); {@code vvvv} 0-31. */
    public Asm evex(int map, int pp, boolean w, boolean nd, boolean nf, int vvvv, int opcode, int reg, int rm) {
        evexPrefix(map, reg, -1, rm, (w ? 0x80 : 0) | ((~vvvv & 15) << 3) | pp, ndNf(nd, nf, vvvv));
        return emit(opcode, 0xC0 | ((reg & 7) << 3) | (rm & 7));
    }

    /** The same with a memory operand [base + index*2^scale + disp] (index -1: none); disp8 where it fits. */
    public Asm evexMem(int map, int pp, boolean w, boolean nd, boolean nf, int vvvv, int opcode, int reg,
                       int base, int index, int scale, int disp) {
        evexPrefix(map, reg, index, base, (w ? 0x80 : 0) | ((~vvvv & 15) << 3) | pp, ndNf(nd, nf, vvvv));
        emit(opcode);
        return memory(reg, base, index, scale, disp);
    }

    /** CCMPscc/CTESTscc, register form: P1's vvvv holds the default flags value (OF SF ZF CF), P2 the source condition. */
    public Asm conditional(int pp, boolean w, int scc, int dfv, int opcode, int reg, int rm) {
        evexPrefix(4, reg, -1, rm, (w ? 0x80 : 0) | (dfv << 3) | pp, scc);
        return emit(opcode, 0xC0 | ((reg & 7) << 3) | (rm & 7));
    }

    public Asm conditionalMem(int pp, boolean w, int scc, int dfv, int opcode, int reg, int base, int index, int scale, int disp) {
        evexPrefix(4, reg, index, base, (w ? 0x80 : 0) | (dfv << 3) | pp, scc);
        emit(opcode);
        return memory(reg, base, index, scale, disp);
    }

    private static int ndNf(boolean nd, boolean nf, int vvvv) {
        return (nd ? 0x10 : 0) | ((vvvv & 16) == 0 ? 0x08 : 0) | (nf ? 0x04 : 0);
    }

    private void evexPrefix(int map, int reg, int index, int base, int p1WithoutX4, int p2) {
        int x = Math.max(index, 0);
        int p0 = ((reg & 8) == 0 ? 0x80 : 0) | ((x & 8) == 0 ? 0x40 : 0) | ((base & 8) == 0 ? 0x20 : 0)
                | ((reg & 16) == 0 ? 0x10 : 0) | ((base & 16) != 0 ? 0x08 : 0) | map;
        emit(0x62, p0, p1WithoutX4 | ((x & 16) == 0 ? 0x04 : 0), p2);
    }

    /** ModRM (and SIB) for [base + index*2^scale + disp]: no displacement, disp8 or disp32, as short as it can be. */
    private Asm memory(int reg, int base, int index, int scale, int disp) {
        boolean sib = index >= 0 || (base & 7) == 4;
        int mod = disp == 0 && (base & 7) != 5 ? 0 : disp == (byte) disp ? 1 : 2;
        emit((mod << 6) | ((reg & 7) << 3) | (sib ? 4 : base & 7));
        if (sib) {
            emit((scale << 6) | ((index >= 0 ? index & 7 : 4) << 3) | (base & 7));
        }
        return mod == 0 ? this : imm(disp, mod == 1 ? 1 : 4);
    }

    /** XSETBV with ECX = 0 and EDX:EAX = value. */
    public Asm setXcr0(long value) {
        emit(0x31, 0xC9); // xor ecx, ecx
        emit(0xB8).imm(value, 4); // mov eax, imm32
        emit(0xBA).imm(value >>> 32, 4); // mov edx, imm32
        return emit(0x0F, 0x01, 0xD1);
    }
}

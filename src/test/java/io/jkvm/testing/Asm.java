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

    /** XSETBV with ECX = 0 and EDX:EAX = value. */
    public Asm setXcr0(long value) {
        emit(0x31, 0xC9); // xor ecx, ecx
        emit(0xB8).imm(value, 4); // mov eax, imm32
        emit(0xBA).imm(value >>> 32, 4); // mov edx, imm32
        return emit(0x0F, 0x01, 0xD1);
    }
}

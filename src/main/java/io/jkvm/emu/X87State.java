package io.jkvm.emu;

import io.jkvm.emu.Float80.Ext;

/**
 * The x87 FPU's registers: eight 80-bit data registers by physical number (ST(i) is register TOP + i), the control
 * and status words, the tag of each register (empty or not; the full two-bit tag is derived from the contents, as
 * FSAVE stores it) and the last instruction's opcode and pointers. The MMX registers are the data registers'
 * significands. {@link #save}/{@link #load} move it through the x87 part of an FXSAVE image.
 */
final class X87State {
    static final int IE = 1, SF = 0x40, ES = 0x80, C0 = 0x100, C1 = 0x200, C2 = 0x400, C3 = 0x4000, BUSY = 0x8000;
    static final int CONDITION = C0 | C1 | C2 | C3;

    final Ext[] registers = new Ext[8];
    int control = 0x37F;
    /** FSW without TOP (bits 11-13), which {@link #top} holds. */
    int status;
    int top;
    /** Bit n set: physical register n holds a value (FXSAVE's abridged tag byte). */
    int valid;
    int opcode;
    /** The last instruction's address and its memory operand's, as FXSAVE64 stores them (bytes 8 and 16). */
    long instructionPointer, dataPointer;

    X87State() {
        clear();
    }

    /** The XSAVE init state: FNINIT's, with every data register zero. */
    void clear() {
        initialize();
        java.util.Arrays.fill(registers, Float80.zero(false));
    }

    /** FNINIT: control 037F, status and tags clear, pointers zero; the data registers keep their bits. */
    void initialize() {
        control = 0x37F;
        status = 0;
        top = 0;
        valid = 0;
        opcode = 0;
        instructionPointer = 0;
        dataPointer = 0;
    }

    int statusWord() {
        return status | top << 11;
    }

    void setStatusWord(int fsw) {
        status = fsw & ~0x3800 & 0xFFFF;
        top = (fsw >>> 11) & 7;
    }

    int physical(int i) {
        return (top + i) & 7;
    }

    Ext st(int i) {
        return registers[physical(i)];
    }

    boolean empty(int i) {
        return (valid & (1 << physical(i))) == 0;
    }

    void setSt(int i, Ext v) {
        int p = physical(i);
        registers[p] = v;
        valid |= 1 << p;
    }

    void free(int i) {
        valid &= ~(1 << physical(i));
    }

    /** Pushes a value: TOP moves down and the new ST(0) holds it. */
    void push(Ext v) {
        top = (top - 1) & 7;
        setSt(0, v);
    }

    void pop() {
        free(0);
        top = (top + 1) & 7;
    }

    /** Sets C3, C2, C1 and C0 from the low four bits of {@code c3c2c1c0}. */
    void setCondition(int c3c2c1c0) {
        status = (status & ~CONDITION) | ((c3c2c1c0 & 8) != 0 ? C3 : 0) | ((c3c2c1c0 & 4) != 0 ? C2 : 0)
                | ((c3c2c1c0 & 2) != 0 ? C1 : 0) | ((c3c2c1c0 & 1) != 0 ? C0 : 0);
    }

    void setC1(boolean on) {
        status = on ? status | C1 : status & ~C1;
    }

    /** Raises exception flags; an unmasked one sets ES and B, so the next waiting instruction takes #MF. */
    void raise(int flags) {
        status |= flags & 0x7F;
        summarize();
    }

    /** ES and B from the flags and masks: set while an unmasked exception flag is. */
    void summarize() {
        status = (status & 0x3F & ~control) != 0 ? status | ES | BUSY : status & ~(ES | BUSY);
    }

    /** The two-bit tag of each register, FSAVE's and FSTENV's: 00 valid, 01 zero, 10 special, 11 empty. */
    int fullTags() {
        int tags = 0;
        for (int p = 0; p < 8; p++) {
            int t;
            Ext v = registers[p];
            if ((valid & (1 << p)) == 0) {
                t = 3;
            } else if (v.isZero()) {
                t = 1;
            } else if (v.exponent() == 0x7FFF || v.isDenormal() || v.isUnsupported()) {
                t = 2;
            } else {
                t = 0;
            }
            tags |= t << (2 * p);
        }
        return tags;
    }

    void setFullTags(int tags) {
        valid = 0;
        for (int p = 0; p < 8; p++) {
            if (((tags >>> (2 * p)) & 3) != 3) {
                valid |= 1 << p;
            }
        }
    }

    /** An MMX instruction's access: TOP to 0 and every register valid. */
    void enterMmx() {
        top = 0;
        valid = 0xFF;
    }

    long mmx(int n) {
        return registers[n].significand();
    }

    /** Writing MMn sets its exponent and sign bits to ones, as the hardware does. */
    void setMmx(int n, long v) {
        registers[n] = new Ext(0xFFFF, v);
    }

    /** Stores the x87 fields of an FXSAVE image: bytes 0-23 and the registers at 32 (ST(0) first, 16 bytes each). */
    void save(byte[] image) {
        put(image, 0, control, 2);
        put(image, 2, statusWord(), 2);
        image[4] = (byte) valid;
        image[5] = 0;
        put(image, 6, opcode, 2);
        put(image, 8, instructionPointer, 8);
        put(image, 16, dataPointer, 8);
        for (int i = 0; i < 8; i++) {
            Ext v = st(i);
            put(image, 32 + 16 * i, v.significand(), 8);
            put(image, 40 + 16 * i, v.signExp(), 2);
            put(image, 42 + 16 * i, 0, 6);
        }
    }

    void load(byte[] image) {
        control = (int) get(image, 0, 2);
        setStatusWord((int) get(image, 2, 2));
        valid = image[4] & 0xFF;
        opcode = (int) get(image, 6, 2) & 0x7FF;
        instructionPointer = get(image, 8, 8);
        dataPointer = get(image, 16, 8);
        for (int i = 0; i < 8; i++) {
            registers[physical(i)] = new Ext((int) get(image, 40 + 16 * i, 2), get(image, 32 + 16 * i, 8));
        }
    }

    static void put(byte[] b, int at, long v, int n) {
        for (int i = 0; i < n; i++) {
            b[at + i] = (byte) (v >>> (8 * i));
        }
    }

    static long get(byte[] b, int at, int n) {
        long v = 0;
        for (int i = 0; i < n; i++) {
            v |= (b[at + i] & 0xFFL) << (8 * i);
        }
        return v;
    }
}

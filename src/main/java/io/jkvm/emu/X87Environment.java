package io.jkvm.emu;

import io.jkvm.emu.Float80.Ext;

/**
 * The x87 control forms with a memory operand: FLDCW, FNSTCW, FNSTSW m16, and the environment (FNSTENV/FLDENV) and
 * whole-state (FNSAVE/FRSTOR) images in their four layouts: 14 bytes with a 16-bit operand size, 28 with a 32- or
 * 64-bit one, each in the protected-mode or the real-mode arrangement of the pointers. The reserved upper halves
 * are stored as ones. jkvm keeps no FCS or FDS selector (as processors that deprecate them): they are stored as 0.
 */
final class X87Environment {
    private X87Environment() {
    }

    static void execute(Core c, int b, int ext) {
        X87State f = c.fpu;
        if (b == 0xD9) {
            switch (ext) {
                case 4 -> {
                    X87.checkPending(c);
                    byte[] image = read(c, size(c));
                    load(c, image);
                }
                case 5 -> { // FLDCW: unmasking a raised exception makes it pending (ES and B)
                    X87.checkPending(c);
                    f.control = controlWord((int) c.read(X87.address(c, 2, false), 2));
                    f.summarize();
                }
                case 6 -> { // FNSTENV, then every exception masked
                    write(c, store(c));
                    f.control |= 0x3F;
                    f.summarize();
                }
                default -> c.write(X87.address(c, 2, true), 2, f.control);
            }
            return;
        }
        switch (ext) {
            case 4 -> { // FRSTOR
                X87.checkPending(c);
                int size = size(c);
                byte[] image = read(c, size + 80);
                load(c, image);
                for (int i = 0; i < 8; i++) {
                    int at = size + 10 * i;
                    f.registers[f.physical(i)] = new Ext((int) X87State.get(image, at + 8, 2), X87State.get(image, at, 8));
                }
            }
            case 6 -> { // FNSAVE, then FNINIT
                byte[] env = store(c);
                byte[] image = new byte[env.length + 80];
                System.arraycopy(env, 0, image, 0, env.length);
                for (int i = 0; i < 8; i++) {
                    Ext v = f.st(i);
                    X87State.put(image, env.length + 10 * i, v.significand(), 8);
                    X87State.put(image, env.length + 10 * i + 8, v.signExp(), 2);
                }
                write(c, image);
                f.initialize();
            }
            case 7 -> c.write(X87.address(c, 2, true), 2, f.statusWord());
            default -> throw GuestFault.of(GuestFault.UD);
        }
    }

    /** FCW as loaded: bits 6 (reads as one), 7 and 13-15 are reserved. */
    static int controlWord(int v) {
        return v & 0x1F3F | 0x40;
    }

    private static int size(Core c) {
        return c.opSize == 2 ? 14 : 28;
    }

    private static byte[] read(Core c, int size) {
        long a = X87.address(c, size, false);
        byte[] image = new byte[size];
        for (int i = 0; i < size; i += 2) {
            X87State.put(image, i, c.read(a + i, 2), 2);
        }
        return image;
    }

    private static void write(Core c, byte[] image) {
        long a = X87.address(c, image.length, true);
        c.checkWritable(a, image.length);
        for (int i = 0; i < image.length; i += 2) {
            c.write(a + i, 2, X87State.get(image, i, 2));
        }
    }

    /** The environment as FNSTENV stores it for the current mode and operand size. */
    private static byte[] store(Core c) {
        X87State f = c.fpu;
        boolean wide = size(c) == 28, real = !c.protectedMode();
        int unit = wide ? 4 : 2;
        byte[] env = new byte[wide ? 28 : 14];
        long ip = f.instructionPointer & 0xFFFF_FFFFL, dp = f.dataPointer & 0xFFFF_FFFFL;
        long[] fields = new long[7];
        fields[0] = f.control;
        fields[1] = f.statusWord();
        fields[2] = f.fullTags();
        if (real) {
            fields[3] = ip & 0xFFFF;
            fields[4] = (ip >>> 16) << 12 | f.opcode;
            fields[5] = dp & 0xFFFF;
            fields[6] = (dp >>> 16) << 12;
        } else {
            fields[3] = wide ? ip : ip & 0xFFFF;
            fields[4] = wide ? (long) f.opcode << 16 : 0;
            fields[5] = wide ? dp : dp & 0xFFFF;
            fields[6] = 0;
        }
        for (int n = 0; n < 7; n++) {
            long v = fields[n];
            if (wide && (n < 3 || (!real && n == 6) || (real && (n == 3 || n == 5)))) {
                v |= 0xFFFF_0000L; // reserved upper halves
            }
            X87State.put(env, n * unit, v, unit);
        }
        return env;
    }

    /** FLDENV (and FRSTOR's first part): control, status with TOP, tags (empty or not), and the pointers. */
    private static void load(Core c, byte[] env) {
        X87State f = c.fpu;
        boolean wide = env.length == 28 || env.length == 108, real = !c.protectedMode();
        int unit = wide ? 4 : 2;
        long[] fields = new long[7];
        for (int n = 0; n < 7; n++) {
            fields[n] = X87State.get(env, n * unit, unit);
        }
        f.control = controlWord((int) fields[0]);
        f.setStatusWord((int) fields[1] & 0xFFFF);
        f.setFullTags((int) fields[2] & 0xFFFF);
        if (real) {
            f.instructionPointer = (fields[3] & 0xFFFF) | ((fields[4] >>> 12) & 0xFFFF) << 16;
            f.opcode = (int) fields[4] & 0x7FF;
            f.dataPointer = (fields[5] & 0xFFFF) | ((fields[6] >>> 12) & 0xFFFF) << 16;
        } else {
            f.instructionPointer = fields[3];
            f.opcode = wide ? (int) (fields[4] >>> 16) & 0x7FF : 0;
            f.dataPointer = fields[5];
        }
        f.summarize();
    }
}

package io.jkvm.emu;

import io.jkvm.emu.Float80.Env;
import io.jkvm.emu.Float80.Ext;
import io.jkvm.x86.ControlBits;

/**
 * The x87 instructions (D8-DF and FWAIT), decoded here and computed by {@link Float80} with FCW's precision and
 * rounding: loads and stores of every memory format, the arithmetic, compares, constants and stack operations, the
 * stack-fault rules (IE with SF; C1 tells overflow from underflow) and the masked responses, #NM under CR0.EM/TS, and
 * #MF before a waiting instruction when an unmasked exception is pending and CR0.NE asks for native reporting. The
 * exponent group (FSCALE, FXTRACT, FPREM) is {@link X87Exponents}, the transcendental one {@link X87Transcendental},
 * the environment and FSAVE images {@link X87Environment}, packed BCD {@link X87Bcd}, the constants {@link X87Constants}.
 */
final class X87 {
    private X87() {
    }

    private static final int ADD = 0, MUL = 1, SUB = 4, SUBR = 5, DIV = 6, DIVR = 7;

    /** 9B: #NM when CR0.TS and CR0.MP are both set; #MF when FSW.ES says an unmasked exception waits (CR0.NE=1). */
    static void fwait(Core c) {
        if ((c.cr0 & (ControlBits.CR0_TS | ControlBits.CR0_MP)) == (ControlBits.CR0_TS | ControlBits.CR0_MP)) {
            throw GuestFault.of(GuestFault.NM);
        }
        checkPending(c);
        c.done();
    }

    /**
     * #MF for a pending unmasked exception. With CR0.NE clear a PC reports through FERR# and IRQ13, which jkvm's
     * machine does not wire: the instruction goes on.
     */
    static void checkPending(Core c) {
        if ((c.fpu.status & X87State.ES) != 0 && (c.cr0 & ControlBits.CR0_NE) != 0) {
            throw GuestFault.of(GuestFault.MF);
        }
    }

    /** D8-DF. */
    static void escape(Core c, int b) {
        if ((c.cr0 & (ControlBits.CR0_EM | ControlBits.CR0_TS)) != 0) {
            throw GuestFault.of(GuestFault.NM);
        }
        c.takeModrm();
        int ext = c.regField & 7;
        if (c.mod == 3) {
            registerForm(c, b, ext, c.rmField & 7);
        } else {
            memoryForm(c, b, ext);
        }
        c.done();
    }

    // ---- register forms ----------------------------------------------------------------------------------------

    private static void registerForm(Core c, int b, int ext, int i) {
        X87State f = c.fpu;
        int modrm = 0xC0 | ext << 3 | i;
        if (b == 0xDB && (modrm == 0xE2 || modrm == 0xE3 || modrm == 0xE0 || modrm == 0xE1 || modrm == 0xE4)
                || b == 0xDF && modrm == 0xE0) {
            control(c, b, modrm);
            return;
        }
        checkPending(c);
        f.opcode = (b & 7) << 8 | modrm;
        f.instructionPointer = c.rip;
        switch (b) {
            case 0xD8 -> {
                switch (ext) {
                    case 2, 3 -> compare(c, i, false, ext == 3 ? 1 : 0, false);
                    default -> arithmetic(c, ext, 0, f.empty(i) ? null : f.st(i), i, false, false);
                }
            }
            case 0xD9 -> d9Register(c, ext, i, modrm);
            case 0xDA -> {
                if (ext < 4) {
                    fcmov(c, i, condition(c, ext));
                } else if (modrm == 0xE9) {
                    compare(c, 1, true, 2, false);
                } else {
                    throw GuestFault.of(GuestFault.UD);
                }
            }
            case 0xDB -> {
                if (ext < 4) {
                    fcmov(c, i, !condition(c, ext));
                } else if (ext == 5 || ext == 6) {
                    compare(c, i, ext == 5, 0, true);
                } else {
                    throw GuestFault.of(GuestFault.UD);
                }
            }
            case 0xDC -> {
                switch (ext) {
                    case 2, 3 -> compare(c, i, false, ext == 3 ? 1 : 0, false);
                    default -> arithmetic(c, ext, i, f.empty(i) ? null : f.st(i), i, true, false);
                }
            }
            case 0xDD -> {
                switch (ext) {
                    case 0 -> { // FFREE; the SDM leaves C0-C3 undefined, C1 is cleared as AMD's processors do
                        f.free(i);
                        f.setC1(false);
                    }
                    case 1 -> exchange(c, i);
                    case 2, 3 -> storeRegister(c, i, ext == 3);
                    case 4, 5 -> compare(c, i, true, ext == 5 ? 1 : 0, false);
                    default -> throw GuestFault.of(GuestFault.UD);
                }
            }
            case 0xDE -> {
                switch (ext) {
                    case 2 -> compare(c, i, false, 1, false);
                    case 3 -> {
                        if (i != 1) {
                            throw GuestFault.of(GuestFault.UD);
                        }
                        compare(c, 1, false, 2, false);
                    }
                    default -> arithmetic(c, ext, i, f.empty(i) ? null : f.st(i), i, true, true);
                }
            }
            default -> { // DF
                switch (ext) {
                    case 0 -> {
                        f.free(i);
                        f.pop();
                    }
                    case 1 -> exchange(c, i);
                    case 2, 3 -> storeRegister(c, i, true);
                    case 5, 6 -> compare(c, i, ext == 5, 1, true);
                    default -> throw GuestFault.of(GuestFault.UD);
                }
            }
        }
    }

    private static void d9Register(Core c, int ext, int i, int modrm) {
        X87State f = c.fpu;
        switch (ext) {
            case 0 -> {
                Ext v = f.empty(i) ? null : f.st(i);
                push(c, v);
            }
            case 1 -> exchange(c, i);
            case 2 -> {
                if (i != 0) {
                    throw GuestFault.of(GuestFault.UD);
                }
            }
            case 3 -> storeRegister(c, i, true);
            default -> {
                switch (modrm) {
                    case 0xE0, 0xE1 -> {
                        if (underflow(c)) {
                            f.setC1(false);
                            Ext v = f.st(0);
                            f.setSt(0, modrm == 0xE0 ? v.negate() : v.withSign(false));
                        }
                    }
                    case 0xE4 -> compareWith(c, Float80.zero(false), false, 0, false);
                    case 0xE5 -> examine(c);
                    case 0xE8, 0xE9, 0xEA, 0xEB, 0xEC, 0xED, 0xEE -> push(c, X87Constants.load(modrm - 0xE8, f.control));
                    case 0xF6, 0xF7 -> {
                        f.top = (f.top + (modrm == 0xF7 ? 1 : -1)) & 7;
                        f.setC1(false);
                    }
                    case 0xFA -> unary(c, e -> Float80.sqrt(c.fpu.st(0), e), Env.of(f.control));
                    case 0xFC -> unary(c, e -> Float80.roundToIntegral(c.fpu.st(0), e), Env.of(f.control));
                    case 0xFD -> scale(c);
                    case 0xF4 -> X87Exponents.extract(c);
                    case 0xF5, 0xF8 -> X87Exponents.partialRemainder(c, modrm == 0xF5);
                    case 0xF0, 0xF1, 0xF2, 0xF3, 0xF9, 0xFB, 0xFE, 0xFF -> X87Transcendental.execute(c, modrm);
                    default -> throw GuestFault.of(GuestFault.UD);
                }
            }
        }
    }

    /** FNINIT, FNCLEX, FNSTSW AX and the 8087's FENI/FDISI and the 287's FSETPM (no-ops since the 387). */
    private static void control(Core c, int b, int modrm) {
        X87State f = c.fpu;
        if (b == 0xDF) {
            c.setReg(0, 2, f.statusWord());
        } else if (modrm == 0xE3) {
            f.initialize();
        } else if (modrm == 0xE2) {
            f.status &= ~(0x3F | X87State.SF | X87State.ES | X87State.BUSY);
        }
    }

    // ---- memory forms ------------------------------------------------------------------------------------------

    /** The memory operand's linear address, checked against its segment outside 64-bit mode. */
    static long address(Core c, int size, boolean write) {
        return c.code64 ? c.ea() : c.checkedEa(size, write);
    }

    private static void memoryForm(Core c, int b, int ext) {
        X87State f = c.fpu;
        boolean controlForm = switch (b) {
            case 0xD9 -> ext >= 4;
            case 0xDD -> ext >= 4;
            default -> false;
        };
        if (controlForm) {
            X87Environment.execute(c, b, ext);
            return;
        }
        checkPending(c);
        f.opcode = (b & 7) << 8 | c.mod << 6 | ext << 3 | (c.rmField & 7);
        f.instructionPointer = c.rip;
        f.dataPointer = c.offset();
        switch (b) {
            case 0xD8, 0xDC, 0xDA, 0xDE -> {
                Env env = Env.of(f.control);
                Ext operand = switch (b) {
                    case 0xD8 -> Float80.fromIeee(c.read(address(c, 4, false), 4), SoftFloat.SINGLE, env);
                    case 0xDC -> Float80.fromIeee(c.read(address(c, 8, false), 8), SoftFloat.DOUBLE, env);
                    case 0xDA -> Float80.fromInteger((int) c.read(address(c, 4, false), 4));
                    default -> Float80.fromInteger((short) c.read(address(c, 2, false), 2));
                };
                if (ext == 2 || ext == 3) {
                    compareWith(c, operand, false, ext == 3 ? 1 : 0, false, env);
                } else {
                    arithmeticWith(c, ext, operand, env);
                }
            }
            case 0xD9 -> {
                switch (ext) {
                    case 0 -> {
                        Env env = Env.of(f.control);
                        Ext v = Float80.fromIeee(c.read(address(c, 4, false), 4), SoftFloat.SINGLE, env);
                        pushLoaded(c, v, env);
                    }
                    case 2, 3 -> storeReal(c, SoftFloat.SINGLE, ext == 3);
                    default -> throw GuestFault.of(GuestFault.UD);
                }
            }
            case 0xDB -> {
                switch (ext) {
                    case 0 -> push(c, Float80.fromInteger((int) c.read(address(c, 4, false), 4)));
                    case 1 -> storeInteger(c, 4, true, true);
                    case 2, 3 -> storeInteger(c, 4, false, ext == 3);
                    case 5 -> {
                        long a = address(c, 10, false);
                        long significand = c.read(a, 8);
                        push(c, new Ext((int) c.read(a + 8, 2), significand));
                    }
                    case 7 -> storeExtended(c);
                    default -> throw GuestFault.of(GuestFault.UD);
                }
            }
            case 0xDD -> {
                switch (ext) {
                    case 0 -> {
                        Env env = Env.of(f.control);
                        Ext v = Float80.fromIeee(c.read(address(c, 8, false), 8), SoftFloat.DOUBLE, env);
                        pushLoaded(c, v, env);
                    }
                    case 1 -> storeInteger(c, 8, true, true);
                    case 2, 3 -> storeReal(c, SoftFloat.DOUBLE, ext == 3);
                    default -> throw GuestFault.of(GuestFault.UD);
                }
            }
            default -> { // DF
                switch (ext) {
                    case 0 -> push(c, Float80.fromInteger((short) c.read(address(c, 2, false), 2)));
                    case 1 -> storeInteger(c, 2, true, true);
                    case 2, 3 -> storeInteger(c, 2, false, ext == 3);
                    case 4 -> push(c, X87Bcd.load(c, address(c, 10, false)));
                    case 5 -> push(c, Float80.fromInteger(c.read(address(c, 8, false), 8)));
                    case 6 -> X87Bcd.storeAndPop(c);
                    default -> storeInteger(c, 8, false, true);
                }
            }
        }
    }

    // ---- stack -------------------------------------------------------------------------------------------------

    /** Stack underflow (a source register is empty): IE and SF with C1 clear. Returns whether the masked response goes on. */
    static boolean stackUnderflow(X87State f) {
        f.setC1(false);
        f.raise(X87State.IE | X87State.SF);
        return (f.control & 1) != 0;
    }

    /** False (after the stack fault) when ST(0) is empty and IE is unmasked; true when ST(0) holds a value. */
    private static boolean underflow(Core c) {
        if (!c.fpu.empty(0)) {
            return true;
        }
        if (stackUnderflow(c.fpu)) {
            c.fpu.setSt(0, Float80.INDEFINITE);
        }
        return false;
    }

    /**
     * Pushes {@code v} (null: its source register was empty, a stack underflow). A full stack (ST(7) in use) is a
     * stack overflow: IE, SF and C1; masked, the indefinite NaN is pushed.
     */
    static void push(Core c, Ext v) {
        X87State f = c.fpu;
        if (v == null) { // an empty source outranks a full stack: the indefinite is pushed either way
            if (stackUnderflow(f)) {
                f.push(Float80.INDEFINITE);
            }
            return;
        }
        if (!f.empty(7)) {
            f.setC1(true);
            f.raise(X87State.IE | X87State.SF);
            if ((f.control & 1) != 0) {
                f.push(Float80.INDEFINITE);
            }
            return;
        }
        f.setC1(false);
        f.push(v);
    }

    /** FLD m32/m64: an SNaN raises IE and is quieted (unmasked, nothing is pushed), a denormal raises DE. */
    private static void pushLoaded(Core c, Ext v, Env env) {
        X87State f = c.fpu;
        if (f.empty(7)) {
            if (v.isSNaN()) {
                env.flags |= Float80.IE;
                v = v.quiet();
            } else if (env.denormalOperand) {
                env.flags |= Float80.DE;
            }
            f.raise(env.flags);
            if ((env.flags & Float80.IE & ~env.masks) != 0) { // an unmasked DE still loads the value
                f.setC1(false);
                return;
            }
        }
        push(c, v);
    }

    private static void exchange(Core c, int i) {
        X87State f = c.fpu;
        if (f.empty(0) || f.empty(i)) {
            if (!stackUnderflow(f)) {
                return;
            }
            if (f.empty(0)) {
                f.setSt(0, Float80.INDEFINITE);
            }
            if (f.empty(i)) {
                f.setSt(i, Float80.INDEFINITE);
            }
        }
        Ext a = f.st(0), b = f.st(i);
        f.setSt(0, b);
        f.setSt(i, a);
        f.setC1(false);
    }

    /** FST/FSTP ST(i): a copy, no rounding. */
    private static void storeRegister(Core c, int i, boolean pop) {
        X87State f = c.fpu;
        if (f.empty(0)) {
            if (!stackUnderflow(f)) {
                return;
            }
            f.setSt(i, Float80.INDEFINITE);
        } else {
            f.setC1(false);
            f.setSt(i, f.st(0));
        }
        if (pop) {
            f.pop();
        }
    }

    private static boolean condition(Core c, int ext) {
        long flags = c.rflags();
        return switch (ext) {
            case 0 -> (flags & Core.CF) != 0;
            case 1 -> (flags & Core.ZF) != 0;
            case 2 -> (flags & (Core.CF | Core.ZF)) != 0;
            default -> (flags & Core.PF) != 0;
        };
    }

    private static void fcmov(Core c, int i, boolean move) {
        X87State f = c.fpu;
        if (f.empty(0) || f.empty(i)) {
            if (stackUnderflow(f)) {
                f.setSt(0, Float80.INDEFINITE);
            }
            return;
        }
        if (move) {
            f.setSt(0, f.st(i));
        }
    }

    // ---- arithmetic --------------------------------------------------------------------------------------------

    /**
     * ST(dst) = ST(0) op ST(i) (D8: dst 0) or ST(i) op ST(0) (DC/DE: dst i, where /4../7 are the reversed forms),
     * popping for DE. {@code other} is ST(i), null when empty.
     */
    private static void arithmetic(Core c, int ext, int dst, Ext other, int i, boolean toOther, boolean pop) {
        X87State f = c.fpu;
        if (f.empty(0) || other == null) {
            if (stackUnderflow(f)) {
                f.setSt(dst, Float80.INDEFINITE);
                if (pop) {
                    f.pop();
                }
            }
            return;
        }
        Ext st0 = f.st(0);
        // DC/DE /4../7 name the operation on ST(i) with ST(0) swapped: FSUBR ST(i),ST(0) computes ST(0) - ST(i)
        int op = toOther && ext >= 4 ? ext ^ 1 : ext;
        Ext x = toOther ? other : st0, y = toOther ? st0 : other;
        Env env = Env.of(f.control);
        commit(c, compute(op, x, y, env), dst, env, pop);
    }

    /** ST(0) = ST(0) op operand: D8, DC, DA and DE with a memory operand (converted into {@code env} already). */
    private static void arithmeticWith(Core c, int ext, Ext operand, Env env) {
        X87State f = c.fpu;
        if (f.empty(0)) {
            if (stackUnderflow(f)) {
                f.setSt(0, Float80.INDEFINITE);
            }
            return;
        }
        commit(c, compute(ext, f.st(0), operand, env), 0, env, false);
    }

    private static Ext compute(int op, Ext x, Ext y, Env env) {
        return switch (op) {
            case ADD -> Float80.add(x, y, false, env);
            case MUL -> Float80.multiply(x, y, env);
            case SUB -> Float80.add(x, y, true, env);
            case SUBR -> Float80.add(y, x, true, env);
            case DIV -> Float80.divide(x, y, env);
            default -> Float80.divide(y, x, env); // DIVR
        };
    }

    /** Raises what the operation raised; stores its result (and pops) unless an unmasked IE, DE or ZE forbids it. */
    static void commit(Core c, Ext result, int dst, Env env, boolean pop) {
        X87State f = c.fpu;
        f.raise(env.flags);
        f.setC1(!env.stopped() && env.roundedUp);
        if (env.stopped()) {
            return;
        }
        f.setSt(dst, result);
        if (pop) {
            f.pop();
        }
    }

    interface Operation {
        Ext apply(Env env);
    }

    /** An operation on ST(0) into ST(0). */
    static void unary(Core c, Operation op, Env env) {
        if (underflow(c)) {
            commit(c, op.apply(env), 0, env, false);
        }
    }

    /** FSCALE: ST(0) · 2^trunc(ST(1)), exact but for overflow, underflow and denormal results (PC does not apply). */
    private static void scale(Core c) {
        X87State f = c.fpu;
        if (f.empty(0) || f.empty(1)) {
            if (stackUnderflow(f)) {
                f.setSt(0, Float80.INDEFINITE);
            }
            return;
        }
        Env env = Env.of(f.control).extended();
        commit(c, X87Exponents.scale(f.st(0), f.st(1), env), 0, env, false);
    }

    // ---- compares ----------------------------------------------------------------------------------------------

    /**
     * FCOM/FUCOM (pops 0, 1 or 2) and FCOMI/FUCOMI (EFLAGS) of ST(0) with ST(i). The condition codes are set even when
     * an unmasked exception stops the instruction (unordered for IE), but then nothing is popped.
     */
    private static void compare(Core c, int i, boolean unordered, int pops, boolean eflags) {
        X87State f = c.fpu;
        if (f.empty(0) || f.empty(i)) {
            boolean masked = stackUnderflow(f);
            report(c, 2, eflags);
            if (masked) {
                popTimes(f, pops);
            }
            return;
        }
        compareWith(c, f.st(i), unordered, pops, eflags);
    }

    private static void compareWith(Core c, Ext operand, boolean unordered, int pops, boolean eflags) {
        compareWith(c, operand, unordered, pops, eflags, Env.of(c.fpu.control));
    }

    private static void compareWith(Core c, Ext operand, boolean unordered, int pops, boolean eflags, Env env) {
        X87State f = c.fpu;
        if (f.empty(0)) {
            boolean masked = stackUnderflow(f);
            report(c, 2, eflags);
            if (masked) {
                popTimes(f, pops);
            }
            return;
        }
        Ext a = f.st(0);
        int result = Float80.compare(a, operand);
        if (a.isUnsupported() || operand.isUnsupported() || a.isSNaN() || operand.isSNaN()
                || (!unordered && result == 2)) {
            env.flags |= Float80.IE;
        } else if (result != 2 && (a.isDenormal() || operand.isDenormal() || env.denormalOperand)) {
            env.flags |= Float80.DE;
        }
        f.raise(env.flags);
        report(c, result, eflags);
        if (!env.stopped()) {
            popTimes(f, pops);
        }
    }

    /** The compare's outcome: C3/C2/C0 (or ZF/PF/CF, clearing OF, SF and AF) 000 above, 001 below, 100 equal, 111 unordered. */
    private static void report(Core c, int result, boolean eflags) {
        int bits = switch (result) {
            case 1 -> 0;
            case -1 -> 1;
            case 0 -> 8;
            default -> 8 | 4 | 1;
        };
        X87State f = c.fpu;
        if (eflags) {
            if (!c.vendor.followsApm()) {
                f.setC1(false); // the SDM clears C1; AMD's processors leave it (docs/vendors.md)
            }
            c.setArith(((bits & 8) != 0 ? Core.ZF : 0) | ((bits & 4) != 0 ? Core.PF : 0) | ((bits & 1) != 0 ? Core.CF : 0));
        } else {
            f.setCondition(bits);
        }
    }

    private static void popTimes(X87State f, int pops) {
        for (int n = 0; n < pops; n++) {
            f.pop();
        }
    }

    /** FXAM: C1 the sign; C3,C2,C0 the class (unsupported 000, NaN 001, normal 010, infinity 011, zero 100, empty 101, denormal 110). */
    private static void examine(Core c) {
        X87State f = c.fpu;
        Ext v = f.st(0);
        int cls;
        if (f.empty(0)) {
            cls = 0b101;
        } else if (v.isUnsupported()) {
            cls = 0b000;
        } else if (v.isNaN()) {
            cls = 0b001;
        } else if (v.isInf()) {
            cls = 0b011;
        } else if (v.isZero()) {
            cls = 0b100;
        } else if (v.isDenormal()) {
            cls = 0b110;
        } else {
            cls = 0b010;
        }
        f.setCondition((cls & 4) << 1 | (cls & 2) << 1 | (v.negative() ? 2 : 0) | (cls & 1));
    }

    // ---- stores ------------------------------------------------------------------------------------------------

    /** FST/FSTP m32/m64, rounded under RC. */
    private static void storeReal(Core c, SoftFloat.Format format, boolean pop) {
        int size = format == SoftFloat.SINGLE ? 4 : 8;
        store(c, size, pop, format.indefinite(), (v, env) -> Float80.toIeee(v, format, env));
    }

    /** FIST/FISTP (rounded by RC) and FISTTP (truncated) m16/m32/m64. */
    private static void storeInteger(Core c, int size, boolean truncate, boolean pop) {
        if (truncate && !c.cpuidHas(1, 0, 2, 0)) { // FISTTP is SSE3's
            throw GuestFault.of(GuestFault.UD);
        }
        store(c, size, pop, Long.MIN_VALUE >> (64 - 8 * size), (v, env) -> Float80.toInteger(v, 8 * size, truncate, env));
    }

    private interface Conversion {
        /** ST(0) in the memory format, or null when an unmasked exception leaves memory as it is. */
        Long apply(Ext value, Env env);
    }

    /**
     * A store of ST(0) converted to {@code size} bytes: memory is written (and the stack popped) only once the
     * conversion's exceptions allow it; an empty ST(0) stores {@code indefinite} under a masked stack fault.
     */
    private static void store(Core c, int size, boolean pop, long indefinite, Conversion convert) {
        X87State f = c.fpu;
        long a = address(c, size, true);
        Env env = Env.of(f.control);
        Long bits;
        if (f.empty(0)) {
            c.checkWritable(a, size);
            if (!stackUnderflow(f)) {
                return;
            }
            bits = indefinite;
        } else {
            bits = convert.apply(f.st(0), env);
            if (bits == null) {
                f.raise(env.flags);
                f.setC1(false);
                return;
            }
        }
        c.write(a, size, bits);
        f.raise(env.flags);
        f.setC1(env.roundedUp);
        if (pop) {
            f.pop();
        }
    }

    /** FSTP m80: the register's bits as they are. */
    private static void storeExtended(Core c) {
        X87State f = c.fpu;
        long a = address(c, 10, true);
        c.checkWritable(a, 10);
        Ext v;
        if (f.empty(0)) {
            if (!stackUnderflow(f)) {
                return;
            }
            v = Float80.INDEFINITE;
        } else {
            f.setC1(false);
            v = f.st(0);
        }
        c.write(a, 8, v.significand());
        c.write(a + 8, 2, v.signExp());
        f.pop();
    }
}

package io.jkvm.emu;

import static io.jkvm.emu.CpuState.CF;
import static io.jkvm.emu.CpuState.LAZY_ADC;
import static io.jkvm.emu.CpuState.LAZY_ADD;
import static io.jkvm.emu.CpuState.LAZY_DEC;
import static io.jkvm.emu.CpuState.LAZY_INC;
import static io.jkvm.emu.CpuState.LAZY_LOGIC;
import static io.jkvm.emu.CpuState.LAZY_NEG;
import static io.jkvm.emu.CpuState.LAZY_SAR;
import static io.jkvm.emu.CpuState.LAZY_SBB;
import static io.jkvm.emu.CpuState.LAZY_SHL;
import static io.jkvm.emu.CpuState.LAZY_SHR;
import static io.jkvm.emu.CpuState.LAZY_SUB;
import static io.jkvm.emu.CpuState.mask;
import static io.jkvm.emu.CpuState.signBit;

/**
 * The arithmetic flags an operation leaves, from its lazy record alone (operation, operands, result, size, and the
 * carry INC/DEC keep or ADC/SBB took in): the core reads its recorded flags through these, and compiled blocks
 * ({@link BlockCompiler}) call them on records they hold in locals, but for the tests {@link CompiledConditions} emits
 * for a record whose operation it knows, which CompiledConditionsTest holds to these.
 */
final class LazyFlags {
    private LazyFlags() {
    }

    /** CF (1) or 0. */
    static long cf(int op, long dst, long src, long res, int size, long carry) {
        long m = mask(size);
        long d = dst & m, s = src & m, r = res & m;
        return switch (op) {
            case LAZY_ADD -> Long.compareUnsigned(r, d) < 0 ? CF : 0;
            case LAZY_ADC -> (carry != 0 ? Long.compareUnsigned(r, d) <= 0 : Long.compareUnsigned(r, d) < 0) ? CF : 0;
            case LAZY_SUB -> Long.compareUnsigned(d, s) < 0 ? CF : 0;
            case LAZY_SBB -> (carry != 0 ? Long.compareUnsigned(d, s) <= 0 : Long.compareUnsigned(d, s) < 0) ? CF : 0;
            case LAZY_NEG -> d != 0 ? CF : 0;
            case LAZY_INC, LAZY_DEC -> carry;
            case LAZY_SHL -> src > 8L * size ? 0 : (d >>> (8 * size - src)) & 1;
            case LAZY_SHR -> src > 8L * size ? 0 : (d >>> (src - 1)) & 1;
            case LAZY_SAR -> ((d << (64 - 8 * size) >> (64 - 8 * size)) >> (Math.min(src, 63) - 1)) & 1;
            default -> 0;
        };
    }

    /** Whether OF is set. A shift by more than one keeps it (it is in {@code carry}); SAR clears it. */
    static boolean of(int op, long dst, long src, long res, int size, long carry) {
        long sb = signBit(size);
        return switch (op) {
            case LAZY_ADD, LAZY_ADC, LAZY_INC -> ((dst ^ res) & (src ^ res) & sb) != 0;
            case LAZY_SUB, LAZY_SBB, LAZY_DEC -> ((dst ^ src) & (dst ^ res) & sb) != 0;
            case LAZY_NEG -> (dst & mask(size)) == sb;
            case LAZY_SHL -> src == 1 ? ((res & sb) != 0) != ((dst & sb) != 0) : (carry & CpuState.OF) != 0;
            case LAZY_SHR -> src == 1 ? (dst & sb) != 0 : (carry & CpuState.OF) != 0;
            default -> false;
        };
    }

    /** AF (1 << 4) or 0; a shift keeps it (it is in {@code carry}). */
    static long af(int op, long dst, long src, long res, long carry) {
        return switch (op) {
            case LAZY_LOGIC -> 0;
            case LAZY_SHL, LAZY_SHR, LAZY_SAR -> carry & CpuState.AF;
            default -> ((dst ^ src ^ res) & 0x10) != 0 ? CpuState.AF : 0;
        };
    }

    /** The six arithmetic flags the record leaves. */
    static long flags(int op, long dst, long src, long res, int size, long carry) {
        return cf(op, dst, src, res, size, carry) | CpuState.pfZfSf(res, size) | af(op, dst, src, res, carry)
                | (of(op, dst, src, res, size, carry) ? CpuState.OF : 0);
    }

    /** The AF and OF a record leaves: what a shift after it keeps (its carry). */
    static long keptByShift(int op, long dst, long src, long res, int size, long carry) {
        return af(op, dst, src, res, carry) | (of(op, dst, src, res, size, carry) ? CpuState.OF : 0);
    }

    /** Condition code {@code cc} (the low nibble of Jcc, SETcc, CMOVcc) on the flags the record leaves. */
    static boolean condition(int op, long dst, long src, long res, int size, long carry, int cc) {
        boolean zero = (res & mask(size)) == 0;
        boolean sign = (res & signBit(size)) != 0;
        boolean r = switch (cc >> 1) {
            case 0 -> of(op, dst, src, res, size, carry);
            case 1 -> cf(op, dst, src, res, size, carry) != 0;
            case 2 -> zero;
            case 3 -> zero || cf(op, dst, src, res, size, carry) != 0;
            case 4 -> sign;
            case 5 -> (Long.bitCount(res & 0xFF) & 1) == 0;
            case 6 -> sign != of(op, dst, src, res, size, carry);
            default -> zero || sign != of(op, dst, src, res, size, carry);
        };
        return (cc & 1) == 0 ? r : !r;
    }
}

package io.jkvm.emu;

/** Shifts and rotates (group 2, SHLD/SHRD), the bit tests BT/BTS/BTR/BTC and the bit scans BSF/BSR. */
final class ShiftsAndBits {
    private ShiftsAndBits() {
    }

    /** C0/C1/D0-D3: ROL, ROR, RCL, RCR, SHL, SHR, SAL, SAR on r/m. */
    static void writeShift(Core cpu, int size, int rawCount) {
        int count = rawCount & (size == 8 ? 63 : 31);
        long v = cpu.readRm(size) & Core.mask(size);
        if (count == 0) {
            if (size == 4 || cpu.nddTarget >= 0) {
                cpu.writeRm(size, v); // flags stay, but a 32-bit (or NDD) destination is still written, so zero-extended
            }
            return;
        }
        long res = shifted(cpu, cpu.regField & 7, size, v, count);
        cpu.writeRm(size, res);
        cpu.setArith(cpu.shiftFlags);
    }

    /** Shift or rotate {@code op} (the ModRM reg field) of {@code v} by a non-zero masked {@code count}. */
    static long shifted(Core cpu, int op, int size, long v, int count) {
        // small, as shiftedValue and LazyFlags' tests are: the JIT inlines them into a compiled block
        int lazy = lazyOp(op);
        if (lazy == CpuState.LAZY_NONE) {
            return rotated(cpu, op, size, v, count);
        }
        long res = shiftedValue(op, size, v, count);
        cpu.shiftFlags = LazyFlags.flags(lazy, v, count, res, size, cpu.flagsKeptByShift());
        return res;
    }

    /**
     * As {@link #shifted}, with the flags set: a rotate's at once, a shift's left as its lazy record with the AF and OF
     * it keeps (the flags {@link #shifted} computes from the same record), as compiled blocks leave them.
     */
    static long shiftedLazily(Core cpu, int op, int size, long v, int count) {
        int lazy = lazyOp(op);
        if (lazy == CpuState.LAZY_NONE) {
            long res = rotated(cpu, op, size, v, count);
            cpu.setArith(cpu.shiftFlags);
            return res;
        }
        long kept = cpu.flagsKeptByShift();
        long res = shiftedValue(op, size, v, count);
        cpu.lazy(lazy, v, count, res, size);
        cpu.lazyCarry = kept;
        return res;
    }

    /** The lazy flag record of SHL/SAL, SHR or SAR (op 4-7), which defines their flags; LAZY_NONE for a rotate. */
    static int lazyOp(int op) {
        return switch (op) {
            case 4, 6 -> CpuState.LAZY_SHL;
            case 5 -> CpuState.LAZY_SHR;
            case 7 -> CpuState.LAZY_SAR;
            default -> CpuState.LAZY_NONE;
        };
    }

    /** ROL, ROR, RCL, RCR (op 0-3): the result, and the flags they leave in {@code shiftFlags}. */
    private static long rotated(Core cpu, int op, int size, long v, int count) {
        int bits = 8 * size;
        long m = Core.mask(size), sb = Core.signBit(size);
        long res;
        long flags = cpu.arithFlags();
        switch (op) {
            case 0, 1 -> { // ROL, ROR
                res = rotatedValue(op, size, v, count);
                flags = rotateFlags(flags, op, size, res, count);
            }
            default -> { // RCL, RCR through CF
                int c = size == 8 || size == 4 ? count : count % (bits + 1);
                long carry = (flags & Core.CF) != 0 ? 1 : 0;
                res = v;
                for (int i = 0; i < c; i++) {
                    if (op == 2) {
                        long out = (res & sb) != 0 ? 1 : 0;
                        res = ((res << 1) | carry) & m;
                        carry = out;
                    } else {
                        long out = res & 1;
                        res = (res >>> 1) | (carry != 0 ? sb : 0);
                        carry = out;
                    }
                }
                long of = op == 2 ? (((res & sb) != 0) ^ (carry != 0) ? Core.OF : 0) : ((((res << 1) ^ res) & sb) != 0 ? Core.OF : 0);
                flags = (flags & ~(Core.CF | Core.OF)) | carry | (count == 1 ? of : flags & Core.OF);
            }
        }
        cpu.shiftFlags = flags;
        return res;
    }

    /**
     * The arithmetic flags ROL or ROR (op 0 or 1) by a masked, non-zero {@code count} leaves after {@code flags}, from
     * its {@code size}-byte result: CF the bit rotated in, OF (by 1 only; kept otherwise) from the result's top bits.
     */
    static long rotateFlags(long flags, int op, int size, long res, int count) {
        long sb = Core.signBit(size);
        long cf = op == 0 ? res & 1 : (res & sb) != 0 ? Core.CF : 0;
        long of = (op == 0 ? ((res & sb) != 0) ^ (cf != 0) : (((res << 1) ^ res) & sb) != 0) ? Core.OF : 0;
        return (flags & ~(Core.CF | Core.OF)) | cf | (count == 1 ? of : flags & Core.OF);
    }

    /** A compiled ROL's or ROR's flags ({@link #rotateFlags}) over the core's, where a fault, an exit or a reader sees them. */
    static void rotateFlagsInCore(Core cpu, int op, int size, long res, int count) {
        cpu.setArith(rotateFlags(cpu.arithFlags(), op, size, res, count));
    }

    /**
     * ROL or ROR (op 0 or 1) of {@code v} (of {@code size} bytes, zero-extended) by a masked {@code count}: the result
     * alone, for a compiled rotate whose flags nothing sees (and so the flags before it, which it would keep, neither).
     */
    static long rotatedValue(int op, int size, long v, int count) {
        return switch (size) {
            case 8 -> op == 0 ? Long.rotateLeft(v, count) : Long.rotateRight(v, count);
            case 4 -> (op == 0 ? Integer.rotateLeft((int) v, count) : Integer.rotateRight((int) v, count)) & 0xFFFF_FFFFL;
            default -> {
                int bits = 8 * size, c = count % bits;
                yield c == 0 ? v : (op == 0 ? (v << c) | (v >>> (bits - c)) : (v >>> c) | (v << (bits - c))) & Core.mask(size);
            }
        };
    }

    /**
     * SHL/SAL, SHR or SAR (op 4-7) of {@code v} (of {@code size} bytes, zero-extended) by a non-zero masked
     * {@code count}: the result alone (their flags are their {@link #lazyOp} record's).
     */
    static long shiftedValue(int op, int size, long v, int count) {
        int bits = 8 * size;
        return switch (op) {
            case 4, 6 -> count >= bits ? 0 : (v << count) & Core.mask(size);
            case 5 -> count >= 64 ? 0 : v >>> count;
            default -> ((v << (64 - bits)) >> (64 - bits) >> Math.min(count, 63)) & Core.mask(size);
        };
    }

    /** BT/BTS/BTR/BTC (op 0-3): CF = the bit; a register bit offset reaches past a memory operand's size. */
    static void bitTest(Core cpu, int op, boolean immediate) {
        cpu.takeModrm();
        long offset;
        if (immediate) {
            op = (cpu.regField & 7) - 4;
            if (op < 0) {
                throw GuestFault.of(GuestFault.UD);
            }
            offset = cpu.insn.immediate();
        } else {
            offset = registerBitOffset(cpu.reg(cpu.regField, cpu.opSize), cpu.opSize);
        }
        long address = 0;
        if (cpu.mod != 3) {
            long adjust = immediate ? 0 : bitOffsetBytes(offset, cpu.opSize);
            // The bit offset's bytes count in the effective address, which wraps at the address size
            address = cpu.dataLinear((cpu.offset() + adjust) & cpu.offsetMask(), cpu.opSize, op != 0);
        }
        bitOperation(cpu, op, cpu.opSize, cpu.mod == 3 ? cpu.rmField : -1, address, offset);
        cpu.done();
    }

    /** A register bit offset of {@code size} bytes: signed, so it may reach below a memory operand too. */
    static long registerBitOffset(long value, int size) {
        int shift = 64 - 8 * size;
        return (value << shift) >> shift;
    }

    /** How far a register bit offset moves a memory operand: whole operands of {@code size} bytes, down when negative. */
    static long bitOffsetBytes(long offset, int size) {
        return Math.floorDiv(offset, 8 * size) * size;
    }

    /**
     * BT/BTS/BTR/BTC (op 0-3) of bit {@code offset} (modulo the operand's width) of register {@code rm}, or of the
     * memory operand at {@code address} when {@code rm} is negative: CF is set after the store, which may fault.
     */
    static void bitOperation(Core cpu, int op, int size, int rm, long address, long offset) {
        int bit = (int) (offset & (8 * size - 1));
        long value = rm >= 0 ? cpu.reg(rm, size) : cpu.read(address, size);
        long updated = switch (op) {
            case 1 -> value | (1L << bit);
            case 2 -> value & ~(1L << bit);
            case 3 -> value ^ (1L << bit);
            default -> value;
        };
        if (op != 0) {
            if (rm >= 0) {
                cpu.setReg(rm, size, updated);
            } else {
                cpu.write(address, size, updated);
            }
        }
        cpu.modifyArith(Core.CF, (value >>> bit) & 1);
    }

    /** BSF/BSR, and TZCNT/LZCNT under F3 where the CPU model has them. */
    static void bitScan(Core cpu, boolean reverse) {
        cpu.takeModrm();
        long v = cpu.readRm(cpu.opSize) & Core.mask(cpu.opSize);
        int bits = 8 * cpu.opSize;
        boolean counting = cpu.rep == 0xF3 && (reverse ? cpu.cpuidHas(0x80000001, 0, 2, 5) : cpu.cpuidHas(7, 0, 1, 3));
        if (counting) {
            int n = reverse ? Long.numberOfLeadingZeros(v) - (64 - bits) : (v == 0 ? bits : Long.numberOfTrailingZeros(v));
            cpu.setReg(cpu.regField, cpu.opSize, n);
            cpu.modifyArith(Core.CF | Core.ZF, (v == 0 ? Core.CF : 0) | (n == 0 ? Core.ZF : 0));
        } else if (v == 0) {
            cpu.modifyArith(Core.ZF, Core.ZF); // destination left as it was
        } else {
            cpu.setReg(cpu.regField, cpu.opSize, reverse ? 63 - Long.numberOfLeadingZeros(v) : Long.numberOfTrailingZeros(v));
            cpu.modifyArith(Core.ZF, 0);
        }
        cpu.done();
    }

    /** SHLD/SHRD r/m, r, imm8 or CL. */
    static void doubleShift(Core cpu, boolean left, boolean immediate) {
        cpu.takeModrm();
        int count = (int) (immediate ? cpu.insn.immediate() : cpu.r[1]) & (cpu.opSize == 8 ? 63 : 31);
        int bits = 8 * cpu.opSize;
        long dst = cpu.readRm(cpu.opSize) & Core.mask(cpu.opSize);
        long src = cpu.reg(cpu.regField, cpu.opSize) & Core.mask(cpu.opSize);
        if (count == 0) {
            if (cpu.opSize == 4 || cpu.nddTarget >= 0) {
                cpu.writeRm(cpu.opSize, dst);
            }
            cpu.done();
            return;
        }
        long res, cfv;
        if (cpu.opSize == 2 && count > 16) {
            // Intel: for 16-bit operands with counts over 16 the result is undefined; model it as the 48-bit rotate hardware does.
            long wide = left ? (dst << 32) | (src << 16) | dst : (dst << 32) | (src << 16) | dst;
            res = left ? (wide >>> (48 - count)) & 0xFFFF : (wide >>> count) & 0xFFFF;
            cfv = left ? (wide >>> (48 - count + 16 - 1)) & 1 : (wide >>> (count - 1)) & 1;
        } else if (left) {
            res = ((dst << count) | (count == 64 ? 0 : src >>> (bits - count))) & Core.mask(cpu.opSize);
            cfv = (dst >>> (bits - count)) & 1;
        } else {
            res = ((dst >>> count) | (src << (bits - count))) & Core.mask(cpu.opSize);
            cfv = (dst >>> (count - 1)) & 1;
        }
        long of = ((res ^ dst) & Core.signBit(cpu.opSize)) != 0 ? Core.OF : 0;
        cpu.writeRm(cpu.opSize, res);
        cpu.setArith(cfv | Core.pfZfSf(res, cpu.opSize) | (count == 1 ? of : 0));
        cpu.done();
    }
}

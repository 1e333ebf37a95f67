package io.jkvm.emu;

import static io.jkvm.emu.SegmentLoads.CS;
import static io.jkvm.emu.SegmentLoads.DS;
import static io.jkvm.emu.SegmentLoads.ES;
import static io.jkvm.emu.SegmentLoads.FS;
import static io.jkvm.emu.SegmentLoads.GS;
import static io.jkvm.emu.SegmentLoads.SS;

/**
 * Decoding in 16- and 32-bit code segments (real, protected and compatibility mode), and the opcodes 64-bit mode
 * gives to REX, VEX and EVEX or drops: INC/DEC r (40-4F), PUSH/POP ES, CS, SS, DS, PUSHA/POPA, BOUND, ARPL,
 * LES/LDS, the BCD adjustments, INTO, SALC and far direct CALL/JMP. CS.D gives the default operand and address
 * size, 66 and 67 switch them, every segment prefix chooses a base, and 16-bit addresses use the 16-bit ModRM forms.
 * Every other opcode runs through the handlers 64-bit code uses.
 */
final class Legacy {
    private Legacy() {
    }

    static void execute(Core c) {
        if (c.rip > (c.segments[CS].limit() & 0xFFFFFFFFL)) {
            throw GuestFault.withCode(GuestFault.GP, 0); // running off the end of the code segment
        }
        c.ip = (c.csBase + c.rip) & 0xFFFFFFFFL;
        c.segBase = c.segments[DS].base();
        c.beginInstruction();
        c.segIndex = DS;
        Instruction insn = c.decodeInstruction();
        Prefixes prefixes = c.applyDecoded();
        if (prefixes.segment() >= 0) {
            override(c, prefixes.segment());
        }
        if (insn.encoding() == Instruction.VEX) {
            Bmi.executeVex(c, insn);
        } else {
            c.requireLockable(insn);
            if (insn.map() != 0 || !legacyOpcode(c, insn.opcode())) {
                c.executeMaps(insn);
            }
        }
    }

    private static void override(Core c, int sreg) {
        c.segBase = c.segmentBase(sreg);
        c.segIndex = sreg;
        c.segOverride = true;
    }

    /** Runs {@code b} if it is one of the opcodes only 16- and 32-bit code has; false leaves it to the common handlers. */
    private static boolean legacyOpcode(Core c, int b) {
        switch (b) {
            case 0x06, 0x0E, 0x16, 0x1E -> SegmentLoads.push(c, b >>> 3);
            case 0x07, 0x17, 0x1F -> SegmentLoads.pop(c, b >>> 3);
            case 0x27, 0x2F, 0x37, 0x3F, 0xD4, 0xD5 -> DecimalAdjust.execute(c, b);
            case 0x40, 0x41, 0x42, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49, 0x4A, 0x4B, 0x4C, 0x4D, 0x4E, 0x4F -> {
                c.mod = 3;
                c.rmField = b & 7;
                Arithmetic.incDec(c, (b >>> 3) & 1, c.opSize);
            }
            case 0x60 -> pushAll(c);
            case 0x61 -> popAll(c);
            case 0x62 -> bound(c);
            case 0x63 -> adjustRpl(c);
            case 0x82 -> c.executeMap0(0x80); // the 8-bit immediate group's alias
            case 0x9A -> FarTransfers.direct(c, true);
            case 0xEA -> FarTransfers.direct(c, false);
            case 0xC4, 0xC5 -> FarTransfers.loadFarPointer(c, b == 0xC4 ? ES : DS); // VEX when the ModRM is a register
            case 0xCE -> { // INTO: #OF as a trap when OF is set
                c.done();
                if ((c.rflags() & Core.OF) != 0) {
                    c.softwareEvent = true;
                    Interrupts.deliverEvent(c, GuestFault.OF, false, 0, c.rip, 0, false);
                }
            }
            case 0xD6 -> { // SALC: AL = CF ? FF : 00
                c.setReg(0, 1, c.cf() ? 0xFF : 0);
                c.done();
            }
            default -> {
                return false;
            }
        }
        return true;
    }

    /** PUSHA/PUSHAD: AX CX DX BX, the stack pointer as it was, BP SI DI; nothing moves if a store faults. */
    private static void pushAll(Core c) {
        int size = c.opSize;
        long sp = c.stackPointer();
        long[] r = c.r;
        long[] values = {r[0], r[1], r[2], r[3], sp, r[5], r[6], r[7]};
        SegmentChecks.check(c, SegmentLoads.SS, (sp - 8L * size) & (c.stack32 ? 0xFFFFFFFFL : 0xFFFF), 8 * size, true);
        for (int i = 0; i < 8; i++) {
            c.write(c.stackLinear(sp - (i + 1L) * size), size, values[i]);
        }
        c.setStackPointer(sp - 8L * size);
        c.done();
    }

    /** POPA/POPAD: DI SI BP, the stack pointer's slot skipped, BX DX CX AX. */
    private static void popAll(Core c) {
        int size = c.opSize;
        long sp = c.stackPointer();
        SegmentChecks.check(c, SegmentLoads.SS, sp, 8 * size, false);
        long[] values = new long[8];
        for (int i = 0; i < 8; i++) {
            values[i] = c.read(c.stackLinear(sp + (long) i * size), size);
        }
        int[] registers = {7, 6, 5, 4, 3, 2, 1, 0};
        for (int i = 0; i < 8; i++) {
            if (registers[i] != 4) {
                c.setReg(registers[i], size, values[i]);
            }
        }
        c.setStackPointer(sp + 8L * size);
        c.done();
    }

    /** BOUND r, m: #BR unless lower <= r <= upper, signed, the bounds a pair in memory. */
    private static void bound(Core c) {
        c.takeModrm();
        if (c.mod == 3) {
            throw GuestFault.of(GuestFault.UD); // an EVEX prefix, which the core has in 64-bit mode only
        }
        int size = c.opSize;
        int shift = 64 - 8 * size;
        long lower = (c.read(c.checkedEa(size, false), size) << shift) >> shift;
        long upper = (c.read(c.dataLinear((c.offset() + size) & c.offsetMask(), size, false), size) << shift) >> shift;
        long index = (c.reg(c.regField, size) << shift) >> shift;
        if (index < lower || index > upper) {
            throw GuestFault.of(GuestFault.BR);
        }
        c.done();
    }

    /** ARPL r/m16, r16: raises the destination selector's RPL to the source's, ZF telling whether it did. */
    private static void adjustRpl(Core c) {
        if (!c.protectedMode()) {
            throw GuestFault.of(GuestFault.UD);
        }
        c.takeModrm();
        long dst = c.readRm(2);
        long src = c.reg(c.regField, 2);
        if ((dst & 3) < (src & 3)) {
            c.writeRm(2, (dst & ~3L) | (src & 3));
            c.modifyArith(Core.ZF, Core.ZF);
        } else {
            c.modifyArith(Core.ZF, 0);
        }
        c.done();
    }
}

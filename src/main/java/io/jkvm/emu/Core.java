package io.jkvm.emu;

import io.jkvm.linux.Mapping;
import io.jkvm.x86.ControlBits;
import io.jkvm.x86.CpuidTable;
import io.jkvm.x86.Msrs;
import io.jkvm.x86.RamLayout;

/**
 * The software x86-64 core's top layer, the interpreter: the instruction {@link InstructionDecoder} read, run through
 * the one-byte and 0F opcode maps, each entry calling its instruction group's class. The layers below it, one job
 * each: {@link CpuState} (registers, flags, mode), {@link Paging}, {@link MemoryAccess}, {@link InstructionFetch},
 * {@link StepExecution} (one instruction, interrupts and faults) and {@link BlockExecution} (decoded blocks). Port
 * I/O and MMIO leave through {@link IoPort} so the machine's devices serve both backends.
 */
final class Core extends RegionCompilation {
    Core(Mapping ram, RamLayout layout, CpuidTable cpuid, int mxcsrMask, IoPort io) {
        super(ram, layout, cpuid, mxcsrMask, io);
    }

    /** The machine's count of RAM's writes from outside the vCPUs, or null when it gives none. */
    java.util.function.LongSupplier hostWrites;
    /** That count when the last epoch began. */
    private long hostWritesSeen;

    /**
     * A serializing instruction (CPUID, IRET, WRMSR, MOV to a control register): code another agent wrote before it
     * must be seen after it, so the decoded blocks compare their bytes with memory again (a new epoch). This core's
     * own stores drop what they change at once; the others are another core's (once one has run over the RAM, has
     * not slept in HLT since the last epoch, and may have stored over this core's code: {@link CoreActivity}) and the
     * machine's, which its count of host writes shows. With none, there is nothing new to see: a one-vCPU Linux boot
     * runs a hundred thousand IRETs to itself (sync_core after each patch of its text), a two-vCPU one as many at each
     * fork and page fault. A run after an exit begins the same way: a boot leaves run() at each port and MMIO access,
     * forty thousand times.
     */
    void serialize() {
        java.util.function.LongSupplier writes = hostWrites;
        long now = writes == null ? 0 : writes.getAsLong(); // read first: a write after it moves the count the next check sees
        if (writes == null || now != hostWritesSeen
                || ramShared() && activity.othersMayHaveStored() && activity.othersMayHaveChangedCode()) {
            hostWritesSeen = now;
            activity.epochBegins(); // before the blocks compare their bytes again: they read what the others left
            code.newEpoch();
        }
    }

    @Override
    void execute() {
        if (!code64) {
            Legacy.execute(this);
            return;
        }
        ip = rip;
        beginInstruction();
        executeInstruction(decodeInstruction());
    }

    @Override
    void execute(Instruction decoded) {
        ip = rip;
        beginInstruction();
        insn = decoded;
        ip = rip + decoded.length();
        executeInstruction(decoded);
    }

    /** The 64-bit instruction {@link #insn}, decoded, {@link #ip} after it. */
    private void executeInstruction(Instruction insn) {
        Prefixes prefixes = applyDecoded();
        segBase = 0;
        if (prefixes.fsOrGs() >= 0) { // CS, DS, ES and SS prefixes are ignored in 64-bit mode
            segBase = prefixes.fsOrGs() == SegmentLoads.FS ? fsBase : gsBase;
            segOverride = true;
        }
        int b = insn.opcode();
        switch (insn.encoding()) {
            case Instruction.VEX -> {
                Bmi.executeVex(this, insn);
                return;
            }
            case Instruction.EVEX -> {
                Apx.executeEvex(this, insn);
                return;
            }
            default -> {
            }
        }
        if (insn.map() == 0 && b == 0xA1 && rex2 && !rexW) { // JMPABS
            rip = insn.immediate();
            return;
        }
        requireLockable(insn);
        executeMaps(insn);
    }

    /** #UD for a LOCK prefix on an instruction, or a form, that has no locked read-modify-write. */
    void requireLockable(Instruction insn) {
        if (lock && (insn.map() > 1 || !LockPrefix.allows(insn.map(), insn.opcode(), insn.modrmByte()))) {
            throw GuestFault.of(GuestFault.UD);
        }
    }

    /** The instruction in its legacy map (one-byte, 0F, 0F38, 0F3A), once its prefixes are applied. */
    void executeMaps(Instruction insn) {
        int b = insn.opcode();
        switch (insn.map()) {
            case 0 -> executeMap0(b);
            case 1 -> executeMap1(b);
            case 2 -> Bmi.executeMap0F38(this, b);
            default -> Sse4.execute0F3A(this, b);
        }
    }

    /** FE (group 4: INC, DEC of r/m8) and FF (group 5: INC, DEC, indirect near CALL and JMP, PUSH r/m). */
    private void group45(int b) {
        takeModrm();
        int op = regField & 7;
        if (b == 0xFE && op > 1) {
            throw GuestFault.of(GuestFault.UD);
        }
        switch (op) {
            case 0, 1 -> Arithmetic.incDec(this, op, b == 0xFE ? 1 : opSize);
            case 2 -> {
                int width = nearBranchSize();
                long target = readRm(width);
                done();
                NearBranches.call(this, target, rip, width);
            }
            case 4 -> NearBranches.jump(this, readRm(nearBranchSize()), nearBranchSize());
            case 3, 5 -> FarTransfers.indirect(this, op == 3);
            case 6 -> {
                push(readRm(stackSize()), stackSize());
                done();
            }
            default -> throw GuestFault.of(GuestFault.UD);
        }
    }

    void done() {
        rip = code64 ? ip : (ip - csBase) & 0xFFFFFFFFL;
    }

    private int byteOr(int b) {
        return (b & 1) == 0 ? 1 : opSize;
    }

    void executeMap0(int b) {
        if (b < 0x40 && (b & 7) < 6) {
            Arithmetic.alu(this, (b >>> 3) & 7, b & 7);
            return;
        }
        switch (b) {
            case 0x50, 0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57 -> {
                int n = (b & 7) | rexB;
                push(o16() ? reg(n, 2) : r[n], stackSize());
                done();
            }
            case 0x58, 0x59, 0x5A, 0x5B, 0x5C, 0x5D, 0x5E, 0x5F -> {
                int n = (b & 7) | rexB;
                long v = pop(stackSize());
                setReg(n, stackSize(), v); // a 16-bit POP leaves bits 63:16 alone
                done();
            }
            case 0x63 -> { // MOVSXD
                takeModrm();
                long v = (int) readRm(4);
                setReg(regField, opSize, v);
                done();
            }
            case 0x68 -> {
                long v = insn.signedImmediate();
                push(v, stackSize());
                done();
            }
            case 0x6A -> {
                push(insn.signedImmediate(), stackSize());
                done();
            }
            case 0x69, 0x6B -> {
                takeModrm();
                long imm = insn.signedImmediate();
                Arithmetic.imul3(this, regField, readRm(opSize), imm, opSize);
                done();
            }
            case 0x70, 0x71, 0x72, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7A, 0x7B, 0x7C, 0x7D, 0x7E, 0x7F ->
                    jumpIf(condition(b & 0xF));
            case 0x80, 0x81, 0x83 -> {
                takeModrm();
                int size = b == 0x80 ? 1 : opSize;
                long imm = b == 0x81 ? insn.operandImmediate(size) : insn.signedImmediate();
                long dst = readRm(size);
                long res = Arithmetic.aluOp(this, regField & 7, dst, imm, size);
                if ((regField & 7) != 7) {
                    writeRm(size, res);
                }
                done();
            }
            case 0x84, 0x85 -> {
                takeModrm();
                int size = byteOr(b);
                long res = readRm(size) & reg(regField, size);
                lazy(LAZY_LOGIC, res, 0, res, size);
                done();
            }
            case 0x86, 0x87 -> {
                takeModrm();
                if (mod != 3) {
                    lockPrefix(); // XCHG with memory is locked, prefix or not
                }
                int size = byteOr(b);
                long a = readRm(size);
                writeRm(size, reg(regField, size));
                setReg(regField, size, a);
                done();
            }
            case 0x88, 0x89 -> {
                takeModrm();
                int size = byteOr(b);
                writeRm(size, reg(regField, size));
                done();
            }
            case 0x8A, 0x8B -> {
                takeModrm();
                int size = byteOr(b);
                setReg(regField, size, readRm(size));
                done();
            }
            case 0x8C -> SegmentLoads.movFromSegment(this);
            case 0x8E -> SegmentLoads.movToSegment(this);
            case 0x8D -> {
                takeModrm();
                if (mod == 3) {
                    throw GuestFault.of(GuestFault.UD);
                }
                long saved = segBase;
                segBase = 0;
                setReg(regField, opSize, ea());
                segBase = saved;
                done();
            }
            case 0x8F -> {
                int size = stackSize();
                long rsp = r[4];
                r[4] = rsp + size; // the SDM: an RSP base addresses the destination after the increment
                try {
                    takeModrm();
                } finally {
                    r[4] = rsp;
                }
                long v = pop(size);
                try {
                    writeRm(size, v);
                } catch (GuestFault f) {
                    r[4] = rsp; // a faulting store leaves the stack as it was, so the POP can restart
                    throw f;
                }
                done();
            }
            case 0x90 -> {
                if (rexB != 0) {
                    long a = r[0];
                    r[0] = r[rexB];
                    r[rexB] = a;
                } else if (rep == 0xF3) {
                    SystemInstructions.pause(this);
                }
                done();
            }
            case 0x91, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97 -> {
                int n = (b & 7) | rexB;
                long a = reg(0, opSize);
                setReg(0, opSize, reg(n, opSize));
                setReg(n, opSize, a);
                done();
            }
            case 0x98 -> {
                DataTransfer.signExtendAccumulator(this, opSize);
                done();
            }
            case 0x99 -> {
                DataTransfer.signFillDx(this, opSize);
                done();
            }
            case 0x9C -> {
                DataTransfer.pushFlags(this, stackSize());
                done();
            }
            case 0x9D -> {
                int size = stackSize();
                long v = pop(size);
                loadFlags(v, 0x247FD5L, size); // not VM, RF, VIF or VIP; a 16-bit POPF only the low half
                done();
            }
            case 0x9E -> { // SAHF
                modifyArith(SF | ZF | AF | PF | CF, (r[0] >>> 8) & 0xD5);
                done();
            }
            case 0x9F -> { // LAHF: AH = SF ZF 0 AF 0 PF 1 CF
                r[0] = (r[0] & ~0xFF00L) | (((rflags() & 0xD5) | 0x2) << 8);
                done();
            }
            case 0xA8, 0xA9 -> {
                int size = byteOr(b);
                long imm = insn.operandImmediate(size);
                long res = reg(0, size) & imm;
                lazy(LAZY_LOGIC, res, 0, res, size);
                done();
            }
            case 0xA4, 0xA5, 0xAA, 0xAB, 0xAC, 0xAD, 0xA6, 0xA7, 0xAE, 0xAF -> Strings.strings(this, b);
            case 0xA0, 0xA1, 0xA2, 0xA3 -> { // MOV AL/rAX to and from moffs: an offset of the address size, DS or a prefix's
                int size = byteOr(b);
                long at = dataLinear(insn.immediate(), size, b >= 0xA2);
                if (b <= 0xA1) {
                    setReg(0, size, read(at, size));
                } else {
                    write(at, size, reg(0, size));
                }
                done();
            }
            case 0xB0, 0xB1, 0xB2, 0xB3, 0xB4, 0xB5, 0xB6, 0xB7 -> {
                setReg((b & 7) | rexB, 1, insn.immediate());
                done();
            }
            case 0xB8, 0xB9, 0xBA, 0xBB, 0xBC, 0xBD, 0xBE, 0xBF -> {
                long imm = insn.immediate();
                setReg((b & 7) | rexB, opSize, imm);
                done();
            }
            case 0xC0, 0xC1, 0xD0, 0xD1, 0xD2, 0xD3 -> {
                takeModrm();
                int size = byteOr(b);
                int count = b <= 0xC1 ? (int) insn.immediate() : b <= 0xD1 ? 1 : (int) r[1] & 0xFF;
                ShiftsAndBits.writeShift(this, size, count);
                done();
            }
            case 0xC2 -> {
                long n = insn.immediate();
                NearBranches.ret(this, nearBranchSize());
                setStackPointer(stackPointer() + n);
            }
            case 0xC3 -> NearBranches.ret(this, nearBranchSize());
            case 0xC6, 0xC7 -> {
                takeModrm();
                int size = byteOr(b);
                long imm = insn.operandImmediate(size);
                writeRm(size, imm);
                done();
            }
            case 0xC8 -> Enter.execute(this);
            case 0x9B -> X87.fwait(this);
            case 0xD8, 0xD9, 0xDA, 0xDB, 0xDC, 0xDD, 0xDE, 0xDF -> X87.escape(this, b);
            case 0xD7 -> { // XLAT: AL = [RBX + AL], DS or an override
                long table = (r[3] + (r[0] & 0xFF)) & offsetMask();
                setReg(0, 1, read(dataLinear(table, 1, false), 1));
                done();
            }
            case 0xC9 -> {
                Enter.leave(this, stackSize());
                done();
            }
            case 0xCC -> {
                done();
                softwareEvent = true;
                Interrupts.deliverEvent(this, GuestFault.BP, false, 0, rip, 0, false);
            }
            case 0xF1 -> { // INT1 (ICEBP): a trap-like #DB through the IDT, with no gate DPL check
                done();
                softwareEvent = true;
                if (trapHeldByMovSs != 0) { // a MOV SS watchpoint's trap and ICEBP's #DB are one delivery
                    dr6 = (dr6 & ~0xFL) | trapHeldByMovSs;
                    trapHeldByMovSs = 0;
                }
                Interrupts.deliverEvent(this, GuestFault.DB, false, 0, rip, 0, true);
            }
            case 0xCD -> {
                int vector = (int) insn.immediate();
                done();
                softwareEvent = true;
                Interrupts.deliverEvent(this, vector, false, 0, rip, 0, false);
            }
            case 0xCF -> Interrupts.iret(this);
            case 0xCA -> FarTransfers.ret(this, (int) insn.immediate());
            case 0xCB -> FarTransfers.ret(this, 0);
            case 0xE4, 0xE5, 0xEC, 0xED -> {
                int size = (b & 1) == 0 ? 1 : opSize == 8 ? 4 : opSize;
                int port = b <= 0xE5 ? (int) insn.immediate() : (int) (r[2] & 0xFFFF);
                requirePortAccess(port, size);
                done();
                setReg(0, size, io.in(port, size));
            }
            case 0x6C, 0x6D, 0x6E, 0x6F -> Strings.stringIo(this, b);
            case 0xE6, 0xE7, 0xEE, 0xEF -> {
                int size = (b & 1) == 0 ? 1 : opSize == 8 ? 4 : opSize;
                int port = b <= 0xE7 ? (int) insn.immediate() : (int) (r[2] & 0xFFFF);
                requirePortAccess(port, size);
                done();
                io.out(port, size, reg(0, size));
            }
            case 0xE8 -> {
                int width = nearBranchSize();
                long rel = insn.signedImmediate();
                done();
                NearBranches.call(this, rip + rel, rip, width);
            }
            case 0xE9 -> jumpIf(true);
            case 0xEB -> jumpIf(true);
            case 0xE0, 0xE1, 0xE2, 0xE3 -> {
                long rel = insn.signedImmediate();
                done();
                boolean jump;
                long m = offsetMask(); // the counter is CX, ECX or RCX by the address size
                if (b == 0xE3) {
                    jump = (r[1] & m) == 0;
                } else {
                    r[1] = Strings.addressed(r[1], -1, m);
                    boolean nz = (r[1] & m) != 0;
                    jump = b == 0xE2 ? nz : b == 0xE1 ? nz && condition(4) : nz && !condition(4);
                }
                if (jump) {
                    NearBranches.jump(this, rip + rel, nearBranchSize());
                }
            }
            case 0xF4 -> {
                requireCpl0();
                done();
                throw new Stop(Reason.HLT);
            }
            case 0xF5 -> {
                modifyArith(CF, cf() ? 0 : CF);
                done();
            }
            case 0xF6, 0xF7 -> Arithmetic.group3(this, byteOr(b));
            case 0xF8 -> {
                modifyArith(CF, 0);
                done();
            }
            case 0xF9 -> {
                modifyArith(CF, CF);
                done();
            }
            case 0xFA -> {
                clearInterruptFlag();
                done();
            }
            case 0xFB -> {
                requireIoPrivilege();
                if ((flagBits & IF) == 0) {
                    interruptShadow = true;
                }
                flagBits |= IF;
                done();
            }
            case 0xFC -> {
                flagBits &= ~DF;
                done();
            }
            case 0xFD -> {
                flagBits |= DF;
                done();
            }
            case 0xFE, 0xFF -> group45(b);
            default -> throw GuestFault.of(GuestFault.UD);
        }
    }

    /** A relative jump by the instruction's displacement, from its end, when {@code taken}. */
    private void jumpIf(boolean taken) {
        long rel = insn.signedImmediate();
        done();
        if (taken) {
            NearBranches.jump(this, rip + rel, nearBranchSize());
        }
    }

    /**
     * The operand size of a near branch in 64-bit mode: 8, which a 66 prefix does not change on Intel (SDM: "66H
     * is ignored"); on AMD it makes 16 (APM: rel16 displacements, IP truncated to 16 bits, 2-byte return addresses).
     */
    int nearBranchSize() {
        if (!code64) {
            return opSize;
        }
        return opSize == 2 && vendor.followsApm() ? 2 : 8;
    }

    private boolean o16() {
        return opSize == 2;
    }

    /** Where the value of the IN the machine is answering goes: INS's memory operand, or (false) AL/AX/EAX. */
    boolean pendingInToMemory;
    long pendingInAddress;

    /** The machine's answer to the IN that ended the last run: into the accumulator, or where INS stores it. */
    void completeIn(int size, long value) {
        if (!pendingInToMemory) {
            setReg(0, size, value); // AL/AX/EAX: not affected by REX
            return;
        }
        pendingInToMemory = false;
        write(pendingInAddress, size, value); // checked before the IN went out: no fault is left to take here
        mmioRetired(); // a store to a device here is done with: no restart replays it
    }

    void executeMap1(int b) {
        switch (b) {
            case 0x01 -> SystemInstructions.group7(this);
            case 0x05 -> FastSystemCalls.syscall(this);
            case 0x07 -> FastSystemCalls.sysret(this);
            case 0x34 -> FastSystemCalls.sysenter(this);
            case 0x35 -> FastSystemCalls.sysexit(this);
            case 0x0B -> throw GuestFault.of(GuestFault.UD);
            case 0x18, 0x19, 0x1A, 0x1B, 0x1C, 0x1D, 0x1E, 0x1F, 0x0D -> { // prefetch, hint NOPs, ENDBR64
                takeModrm();
                done();
            }
            case 0x00 -> SystemInstructions.group6(this);
            case 0xA0, 0xA8 -> SegmentLoads.push(this, b == 0xA0 ? SegmentLoads.FS : SegmentLoads.GS);
            case 0xA1, 0xA9 -> SegmentLoads.pop(this, b == 0xA1 ? SegmentLoads.FS : SegmentLoads.GS);
            case 0xA3, 0xAB, 0xB3, 0xBB -> ShiftsAndBits.bitTest(this, b == 0xA3 ? 0 : b == 0xAB ? 1 : b == 0xB3 ? 2 : 3, false);
            case 0xBA -> ShiftsAndBits.bitTest(this, -1, true);
            case 0xBC, 0xBD -> ShiftsAndBits.bitScan(this, b == 0xBD);
            case 0xB8 -> {
                if (rep != 0xF3) {
                    throw GuestFault.of(GuestFault.UD); // JMPE: not in 64-bit mode
                }
                takeModrm();
                long v = readRm(opSize);
                setReg(regField, opSize, Long.bitCount(v));
                setArith(v == 0 ? ZF : 0);
                done();
            }
            case 0xA4, 0xA5, 0xAC, 0xAD -> ShiftsAndBits.doubleShift(this, b <= 0xA5, (b & 1) == 0);
            case 0xB0, 0xB1 -> {
                takeModrm();
                int size = b == 0xB0 ? 1 : opSize;
                long dst = readRm(size);
                long acc = reg(0, size);
                Arithmetic.aluOp(this, 7, acc, dst, size);
                if ((acc & mask(size)) == (dst & mask(size))) {
                    writeRm(size, reg(regField, size));
                } else {
                    if (mod != 3) {
                        writeRm(size, dst); // a memory destination is written back (a locked cycle); a register one is left alone
                    }
                    setReg(0, size, dst);
                }
                done();
            }
            case 0xC0, 0xC1 -> {
                takeModrm();
                int size = b == 0xC0 ? 1 : opSize;
                long dst = readRm(size);
                long src = reg(regField, size);
                long sum = Arithmetic.aluOp(this, 0, dst, src, size);
                if (mod == 3) {
                    setReg(regField, size, dst);
                    writeRm(size, sum); // the destination last: XADD r, r with one register leaves the sum
                } else {
                    writeRm(size, sum); // the store first: if it faults, the register is as it was
                    setReg(regField, size, dst);
                }
                done();
            }
            case 0xC7 -> SystemInstructions.group9(this);
            case 0xB2 -> FarTransfers.loadFarPointer(this, SegmentLoads.SS);
            case 0xB4 -> FarTransfers.loadFarPointer(this, SegmentLoads.FS);
            case 0xB5 -> FarTransfers.loadFarPointer(this, SegmentLoads.GS);
            case 0xC4, 0xC5, 0xC6 -> Sse.execute(this, b);
            case 0xAE -> SystemInstructions.group15(this);
            case 0x10, 0x11, 0x28, 0x29, 0x54, 0x55, 0x56, 0x57, 0x60, 0x61, 0x62, 0x64, 0x65, 0x66, 0x6C, 0x6D, 0x6E, 0x6F,
                 0x70, 0x71, 0x72, 0x73, 0x74, 0x75, 0x76, 0x7E, 0x7F, 0xD4, 0xD6, 0xD7, 0xDB, 0xDF, 0xEB, 0xEF,
                 0xF8, 0xF9, 0xFA, 0xFB, 0xFC, 0xFD, 0xFE, 0x68, 0x69, 0x6A, 0x63, 0x67, 0x6B, 0xD5, 0xE5, 0xE4, 0xF4,
                 0xF5, 0xDA, 0xDE, 0xEA, 0xEE, 0xE0, 0xE3, 0xF6, 0xEC, 0xED, 0xDC, 0xDD, 0xE8, 0xE9, 0xD8, 0xD9, 0xD1,
                 0xD2, 0xD3, 0xE1, 0xE2, 0xF1, 0xF2, 0xF3, 0x14, 0x15, 0x50, 0x12, 0x13, 0x16, 0x17, 0x2B, 0xE7,
                 0xF7 -> Sse.execute(this, b);
            case 0x77 -> Mmx.emms(this);
            case 0xC3 -> { // MOVNTI m32/m64, r: a plain store here
                takeModrm();
                if (mod == 3 || p66 || rep != 0) {
                    throw GuestFault.of(GuestFault.UD);
                }
                int size = rexW ? 8 : 4;
                write(ea(), size, reg(regField, size));
                done();
            }
            case 0x06 -> SystemInstructions.clts(this);
            case 0x02, 0x03 -> SelectorChecks.accessRightsOrLimit(this, b == 0x03);
            case 0x08, 0x09 -> SystemInstructions.invalidateCaches(this);
            case 0x51, 0x58, 0x59, 0x5C, 0x5D, 0x5E, 0x5F, 0x2E, 0x2F, 0xC2, 0x2A, 0x2C, 0x2D, 0x5A, 0x5B, 0xE6 ->
                    SseFloat.execute(this, b);
            case 0xD0, 0x7C, 0x7D -> Sse3.arithmetic(this, b);
            case 0xF0 -> Sse3.loadUnaligned(this);
            case 0x20, 0x22 -> SystemInstructions.movCr(this, b == 0x22);
            case 0x21, 0x23 -> SystemInstructions.movDr(this, b == 0x23);
            case 0x30 -> {
                requireCpl0();
                serialize();
                long value = (r[2] << 32) | (r[0] & 0xFFFFFFFFL);
                if ((int) r[1] == Msrs.IA32_EFER) {
                    if (paging() && ((value ^ efer) & ControlBits.EFER_LME) != 0) {
                        throw GuestFault.withCode(GuestFault.GP, 0); // LME changes only with paging off
                    }
                    value = (value & ~ControlBits.EFER_LMA) | (efer & ControlBits.EFER_LMA); // LMA is the CPU's to set
                }
                CpuidAndMsrs.wrmsr(this, (int) r[1], value);
                done();
            }
            case 0x31 -> {
                SystemInstructions.rdtsc(this);
                done();
            }
            case 0x33 -> {
                long v = CpuidAndMsrs.rdpmc(this, (int) r[1]);
                r[0] = v & 0xFFFFFFFFL;
                r[2] = v >>> 32;
                done();
            }
            case 0x32 -> {
                requireCpl0();
                long v = CpuidAndMsrs.rdmsr(this, (int) r[1]);
                r[0] = v & 0xFFFFFFFFL;
                r[2] = v >>> 32;
                done();
            }
            case 0x40, 0x41, 0x42, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49, 0x4A, 0x4B, 0x4C, 0x4D, 0x4E, 0x4F -> {
                takeModrm();
                DataTransfer.cmov(this, condition(b & 0xF), regField, opSize, readRm(opSize));
                done();
            }
            case 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8A, 0x8B, 0x8C, 0x8D, 0x8E, 0x8F ->
                    jumpIf(condition(b & 0xF));
            case 0x90, 0x91, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9E, 0x9F -> {
                takeModrm();
                writeRm(1, condition(b & 0xF) ? 1 : 0);
                done();
            }
            case 0xA2 -> {
                CpuidAndMsrs.cpuidInstruction(this);
                done();
            }
            case 0xAF -> {
                takeModrm();
                Arithmetic.imul3(this, regField, reg(regField, opSize), readRm(opSize), opSize);
                done();
            }
            case 0xB6, 0xB7 -> {
                takeModrm();
                setReg(regField, opSize, readRm(b == 0xB6 ? 1 : 2));
                done();
            }
            case 0xBE, 0xBF -> {
                takeModrm();
                int size = b == 0xBE ? 1 : 2;
                int shift = 64 - 8 * size;
                setReg(regField, opSize, (readRm(size) << shift) >> shift);
                done();
            }
            case 0xC8, 0xC9, 0xCA, 0xCB, 0xCC, 0xCD, 0xCE, 0xCF -> {
                DataTransfer.byteSwap(this, (b & 7) | rexB, opSize);
                done();
            }
            default -> throw GuestFault.of(GuestFault.UD);
        }
    }

}

package io.jkvm.emu;

import java.lang.classfile.CodeBuilder;
import java.lang.classfile.Label;
import java.lang.constant.ConstantDescs;
import java.lang.constant.MethodTypeDesc;

import static io.jkvm.emu.BlockCompiler.CD_CORE;
import static io.jkvm.emu.BodyState.ADDRESS;
import static io.jkvm.emu.BodyState.HOST;
import static io.jkvm.emu.BodyState.CORE;
import static io.jkvm.emu.BodyState.ONWARD;
import static io.jkvm.emu.BodyState.VALUE;
import static io.jkvm.emu.BodyState.flagCarry;
import static io.jkvm.emu.BodyState.flagDst;
import static io.jkvm.emu.BodyState.flagRes;
import static io.jkvm.emu.BodyState.flagSrc;
import static java.lang.constant.ConstantDescs.CD_boolean;
import static java.lang.constant.ConstantDescs.CD_int;
import static java.lang.constant.ConstantDescs.CD_long;
import static java.lang.constant.ConstantDescs.CD_void;

/**
 * The bytecode of each form {@link BlockCompiler} compiles, on the locals {@link BodyState} keeps: the semantics of
 * the decoded tier's {@link DecodedForm} for the same instruction (its operand sizes, zero-extension, lazy flag records, and
 * every access that may fault made before any register changes).
 */
final class CompiledForms {
    private static final java.lang.constant.ClassDesc CD_BRANCHES = BlockCompiler.desc(NearBranches.class),
            CD_ARITHMETIC = BlockCompiler.desc(Arithmetic.class), CD_SYSTEM = BlockCompiler.desc(SystemInstructions.class),
            CD_MATH = BlockCompiler.desc(Math.class);
    /** The core's compiledReadAddress and compiledWriteAddress (linear, size): a direct page's host address, or -1. */
    static final MethodTypeDesc DIRECT_ADDRESS = MethodTypeDesc.of(CD_long, CD_long, CD_int);
    private static final MethodTypeDesc ACCESS_READ = MethodTypeDesc.of(CD_long, CD_long, CD_boolean, CD_boolean),
            ACCESS_WRITE = MethodTypeDesc.of(CD_boolean, CD_long, CD_long, CD_boolean, CD_boolean),
            AT_READ = MethodTypeDesc.of(CD_long, CD_long, CD_long, CD_boolean, CD_boolean),
            AT_WRITE = MethodTypeDesc.of(CD_boolean, CD_long, CD_long, CD_long, CD_boolean, CD_boolean),
            JUMP = MethodTypeDesc.of(CD_void, CD_CORE, CD_long, CD_int),
            CANONICAL = MethodTypeDesc.of(CD_long, CD_long),
            IMUL = MethodTypeDesc.of(CD_void, CD_CORE, CD_int, CD_long, CD_long, CD_int),
            MUL = MethodTypeDesc.of(CD_void, CD_CORE, CD_int, CD_boolean, CD_long),
            MUL_DIV = MethodTypeDesc.of(CD_void, CD_CORE, CD_int, CD_int, CD_long),
            LONG_BINARY = MethodTypeDesc.of(CD_long, CD_long, CD_long),
            STACK_READ = MethodTypeDesc.of(CD_long, CD_long, CD_long, CD_long),
            STACK_WRITE = MethodTypeDesc.of(CD_boolean, CD_long, CD_long, CD_long, CD_long);

    private CompiledForms() {
    }

    /** Emits instruction {@code i}, {@code d}, which {@link BlockCompiler#compiled} accepts. */
    static void emit(BodyState b, BlockOp d, int i) {
        CodeBuilder cob = b.cob;
        int size = d.size();
        int t = b.freeRecord(); // the record this instruction writes, if any: the pending one stays for its handler
        if (BlockCompiler.storesToMemory(d)) {
            cob.iconst_1().istore(ONWARD); // each store ANDs in whether the block may go on
        }
        StackRuns.Run run = b.stackRuns.startingAt(i);
        if (run != null) { // one look-up of the span the run's accesses reach, before the first changes anything
            cob.aload(CORE);
            b.loadRegister(4, 8);
            cob.loadConstant((long) run.from()).ladd().dup2().lstore(BodyState.RUN_LINEAR).loadConstant(run.span())
                    .invokevirtual(CD_CORE, run.stores() ? "compiledWriteAddress" : "compiledReadAddress", DIRECT_ADDRESS)
                    .lstore(BodyState.RUN_HOST);
        }
        switch (d.op()) {
            case BlockOp.ALU_R64_R64, BlockOp.ALU_R32_R32 -> {
                int width = d.op() == BlockOp.ALU_R64_R64 ? 8 : 4;
                b.loadRegister(d.rm(), width);
                cob.lstore(flagDst(t));
                b.loadRegister(d.reg(), width);
                cob.lstore(flagSrc(t));
                alu(b, d.sub(), width, t, d.rm(), null);
            }
            case BlockOp.ALU_RM_REG, BlockOp.ALU_RM_IMM -> {
                readRm(b, d, i, size);
                cob.lstore(flagDst(t));
                if (d.op() == BlockOp.ALU_RM_IMM) {
                    cob.loadConstant(d.imm() & CpuState.mask(size));
                } else {
                    b.loadRegister(d.reg(), size);
                }
                cob.lstore(flagSrc(t));
                alu(b, d.sub(), size, t, d.rm(), d.rm() == BlockOp.MEMORY ? d : null);
            }
            case BlockOp.ALU_REG_RM -> {
                b.loadRegister(d.reg(), size);
                cob.lstore(flagDst(t));
                readRm(b, d, i, size);
                cob.lstore(flagSrc(t));
                alu(b, d.sub(), size, t, d.reg(), null);
            }
            case BlockOp.TEST_RM_REG, BlockOp.TEST_RM_IMM -> {
                readRm(b, d, i, size);
                if (d.op() == BlockOp.TEST_RM_IMM) {
                    cob.loadConstant(d.imm() & CpuState.mask(size));
                } else {
                    b.loadRegister(d.reg(), size);
                }
                cob.land();
                logic(b, size, t);
            }
            case BlockOp.MOV_RM_REG, BlockOp.MOV_RM_IMM -> {
                if (d.rm() == BlockOp.MEMORY && b.addressRuns.member(i)) {
                    addressOf(b, d, i);
                    cob.aload(CORE).lload(ADDRESS);
                    movValue(b, d, size);
                    runAccessHost(b, d, i);
                    cob.loadConstant(d.stackAddressed() ? 1 : 0).iconst_1() // the only access
                            .invokevirtual(CD_CORE, "writeAt" + 8 * size, AT_WRITE);
                    cob.iload(ONWARD).iand().istore(ONWARD);
                } else if (d.rm() == BlockOp.MEMORY) {
                    addressOf(b, d, i);
                    cob.aload(CORE).lload(ADDRESS);
                    movValue(b, d, size);
                    write(cob, d, size);
                } else {
                    movValue(b, d, size);
                    b.storeRegister(d.rm(), size);
                }
            }
            case BlockOp.MOV_REG_RM -> {
                readRm(b, d, i, size);
                b.storeRegister(d.reg(), size);
            }
            case BlockOp.LEA -> {
                addressOf(b, d, i);
                cob.lload(ADDRESS);
                b.storeRegister(d.reg(), size);
            }
            case BlockOp.MOVZX -> {
                readRm(b, d, i, d.sub());
                b.storeRegister(d.reg(), size);
            }
            case BlockOp.MOVSX -> {
                int shift = 64 - 8 * d.sub();
                readRm(b, d, i, d.sub());
                cob.loadConstant(shift).lshl().loadConstant(shift).lshr();
                b.storeRegister(d.reg(), size);
            }
            case BlockOp.INC_DEC_R64 -> incDec(b, d, 8, d.sub() == 0, i, t);
            case BlockOp.INC, BlockOp.DEC -> incDec(b, d, size, d.op() == BlockOp.INC, i, t);
            case BlockOp.PUSH_REG -> {
                b.loadRegister(d.reg(), 8);
                cob.lstore(VALUE); // PUSH RSP pushes the value before the push
                push(b, i);
            }
            case BlockOp.PUSH_IMM -> { // its immediate sign-extended to 64 bits, as decoded
                cob.loadConstant(d.imm()).lstore(VALUE);
                push(b, i);
            }
            case BlockOp.POP_REG -> {
                pop(b, i);
                popped(b);
                cob.lload(VALUE);
                b.storeRegister(d.reg(), 8); // POP RSP: the value read, not RSP moved past it
            }
            case BlockOp.JCC -> {
                Label notTaken = cob.newLabel();
                b.condition(d.sub());
                cob.ifeq(notTaken);
                taken(b, d, i);
                cob.labelBinding(notTaken);
            }
            case BlockOp.JMP -> {
                taken(b, d, i);
                b.reachable = false;
            }
            case BlockOp.CALL -> {
                int callee = b.callTarget(i);
                if (callee < 0) { // in the region a target is in a page that translated: canonical; out of it, #GP first
                    cob.aload(CORE);
                    b.pushRip(b.target(i));
                    cob.invokevirtual(CD_CORE, "canonicalTarget", CANONICAL).pop2();
                }
                b.pushRip(b.next(i));
                cob.lstore(VALUE);
                push(b, i);
                Label on = cob.newLabel();
                cob.iload(ONWARD).ifne(on); // the push went to a device or over decoded code: out at the callee
                b.exit(b.ran(i), true, b.target(i), true);
                cob.labelBinding(on);
                if (callee >= 0) {
                    b.branchTo(i, callee); // on in the method as a JMP
                } else {
                    b.exit(b.ran(i), true, b.target(i), false);
                }
                b.reachable = false;
            }
            case BlockOp.RET -> {
                pop(b, i);
                returnInRegion(b, i);
                cob.aload(CORE).lload(VALUE).loadConstant(8).invokestatic(CD_BRANCHES, "jump", JUMP); // #GP: RSP as before
                popped(b);
                b.exit(b.ran(i), true, BodyState.RIP_SET, false);
                b.reachable = false;
            }
            case BlockOp.IMUL_IMM, BlockOp.IMUL_REG_RM -> {
                if (d.rm() != BlockOp.MEMORY && b.flagsDeadAfter(i)) { // flags nothing sees: the product's low bits alone
                    if (d.op() == BlockOp.IMUL_IMM) {
                        b.loadRegister(d.rm(), size);
                        cob.loadConstant(d.imm());
                    } else {
                        b.loadRegister(d.reg(), size);
                        b.loadRegister(d.rm(), size);
                    }
                    cob.lmul();
                    b.storeRegister(d.reg(), size);
                    break;
                }
                b.flushRegister(d.reg()); // imul3 writes the register file's (a 16-bit one keeps the rest)
                cob.aload(CORE).loadConstant(d.reg());
                if (d.op() == BlockOp.IMUL_IMM) {
                    readRm(b, d, i, size);
                    cob.loadConstant(d.imm());
                } else {
                    b.loadRegister(d.reg(), size);
                    readRm(b, d, i, size);
                }
                cob.loadConstant(size).invokestatic(CD_ARITHMETIC, "imul3", IMUL);
                b.reloadRegister(d.reg());
                b.flagsInCore(); // imul3 set all six there
            }
            case BlockOp.MUL_DIV -> {
                if (d.sub() < 6) {
                    widening(b, d, i, size, d.sub() == 5);
                } else {
                    onAccumulator(b, d, i, size);
                }
            }
            case BlockOp.SIGN_EXTEND_ACC -> { // CBW, CWDE, CDQE: the accumulator's low half sign-extended over it
                int shift = 64 - 4 * size;
                b.loadRegister(0, size / 2);
                cob.loadConstant(shift).lshl().loadConstant(shift).lshr();
                b.storeRegister(0, size);
            }
            case BlockOp.SIGN_FILL_DX -> { // CWD, CDQ, CQO: RDX (DX, EDX) filled with the accumulator's sign
                b.loadRegister(0, size);
                cob.loadConstant(64 - 8 * size).lshl().loadConstant(63).lshr();
                b.storeRegister(2, size);
            }
            case BlockOp.PAUSE -> cob.aload(CORE).invokestatic(CD_SYSTEM, "pause", MethodTypeDesc.of(CD_void, CD_CORE));
            case BlockOp.FENCE -> cob.loadConstant(d.sub()) // the host fence it stands for
                    .invokestatic(CD_SYSTEM, "fence", MethodTypeDesc.of(CD_void, CD_int));
            case BlockOp.RDTSC -> {
                cob.aload(CORE).invokestatic(CD_SYSTEM, "rdtsc", MethodTypeDesc.of(CD_void, CD_CORE)); // #GP first, if at all
                b.reloadRegister(0);
                b.reloadRegister(2);
            }
            case BlockOp.SHIFT -> CompiledShifts.emit(b, d, i, t);
            case BlockOp.CMOV -> {
                Label keep = cob.newLabel(), done = cob.newLabel();
                readRm(b, d, i, size); // read whether it moves or not
                cob.lstore(VALUE);
                b.condition(d.sub());
                cob.ifeq(keep);
                cob.lload(VALUE);
                b.storeRegister(d.reg(), size);
                cob.goto_(done).labelBinding(keep);
                if (size == 4) {
                    b.loadRegister(d.reg(), 4); // a 32-bit CMOV zero-extends even when it does not move
                    b.storeRegister(d.reg(), 4);
                }
                cob.labelBinding(done);
            }
            case BlockOp.SETCC -> {
                if (d.rm() == BlockOp.MEMORY) {
                    addressOf(b, d, i);
                    cob.aload(CORE).lload(ADDRESS);
                    b.condition(d.sub());
                    cob.i2l();
                    write(cob, d, 1);
                } else {
                    b.condition(d.sub());
                    cob.i2l();
                    b.storeRegister(d.rm(), 1);
                }
            }
            case BlockOp.NOT -> {
                readRm(b, d, i, size);
                cob.loadConstant(-1L).lxor();
                store(b, d, size);
            }
            case BlockOp.BIT_TEST -> { // BT, BTS, BTR or BTC of a register's bit: CF, the others kept (modifyArith)
                int bit = (int) (d.imm() & (8 * size - 1));
                b.materializeFlags();
                b.loadRegister(d.rm(), size);
                cob.lstore(VALUE);
                if (d.sub() != 0) {
                    long m = 1L << bit;
                    cob.lload(VALUE);
                    switch (d.sub()) {
                        case 1 -> cob.loadConstant(m).lor();
                        case 2 -> cob.loadConstant(~m).land();
                        default -> cob.loadConstant(m).lxor();
                    }
                    b.storeRegister(d.rm(), size);
                }
                cob.aload(CORE).loadConstant(CpuState.CF).lload(VALUE).loadConstant(bit).lushr().lconst_1().land()
                        .invokevirtual(CD_CORE, "modifyArith", MethodTypeDesc.of(CD_void, CD_long, CD_long));
            }
            case BlockOp.BSWAP -> { // the JDK's byte reversals, one host BSWAP each
                readRm(b, d, i, size);
                if (size == 8) {
                    cob.invokestatic(ConstantDescs.CD_Long, "reverseBytes", MethodTypeDesc.of(CD_long, CD_long));
                } else {
                    cob.l2i().invokestatic(ConstantDescs.CD_Integer, "reverseBytes", MethodTypeDesc.of(CD_int, CD_int))
                            .i2l(); // the store zero-extends it
                }
                store(b, d, size);
            }
            case BlockOp.NEG -> { // the record the decoded form leaves: lazy(NEG, v, 0, -v), after the store
                readRm(b, d, i, size);
                cob.lstore(flagDst(t));
                cob.lconst_0().lstore(flagSrc(t));
                cob.lload(flagDst(t)).lneg().dup2().lstore(flagRes(t));
                store(b, d, size);
                b.setFlags(CpuState.LAZY_NEG, size, t);
            }
            case BlockOp.LOCKED -> CompiledLocked.emit(b, d, i, t);
            case BlockOp.SSE -> CompiledSse.emit(b, d, i);
            case BlockOp.NOP -> {
            }
            default -> throw new IllegalStateException("not a compiled form: " + d);
        }
        if (BlockCompiler.touchesMemory(d) && b.reachable) {
            afterMemory(b, d, i);
        }
    }

    /**
     * One-operand MUL or IMUL of 4 or 8 bytes: RDX:RAX = RAX * r/m. With its flags dead, the two halves in locals
     * (the 64-bit high half by Math's multiplyHigh); else Arithmetic.mul on the register file, as its decoded form runs it.
     */
    private static void widening(BodyState b, BlockOp d, int i, int size, boolean signed) {
        CodeBuilder cob = b.cob;
        if (b.flagsDeadAfter(i)) {
            readRm(b, d, i, size); // a memory operand's read, the only access that may fault, before any register changes
            cob.lstore(VALUE);
            if (size == 8) {
                b.loadRegister(0, 8);
                cob.lload(VALUE).invokestatic(CD_MATH, signed ? "multiplyHigh" : "unsignedMultiplyHigh", LONG_BINARY);
                b.loadRegister(0, 8);
                cob.lload(VALUE).lmul();
                b.storeRegister(0, 8);
                b.storeRegister(2, 8);
            } else {
                b.loadRegister(0, 4);
                if (signed) {
                    cob.l2i().i2l();
                }
                cob.lload(VALUE);
                if (signed) {
                    cob.l2i().i2l();
                }
                cob.lmul().dup2();
                b.storeRegister(0, 4);
                cob.bipush(32).lushr();
                b.storeRegister(2, 4);
            }
            return;
        }
        b.flushRegister(0); // mul reads RAX from the register file and writes RAX and RDX there
        cob.aload(CORE).loadConstant(size).loadConstant(signed ? 1 : 0);
        readRm(b, d, i, size);
        cob.invokestatic(CD_ARITHMETIC, "mul", MUL);
        b.reloadRegister(0);
        b.reloadRegister(2);
        b.flagsInCore(); // mul set all six there
    }

    /**
     * DIV or IDIV as its decoded form runs it: RAX and RDX to the register file, {@link Arithmetic#mulDiv} on it (a
     * memory operand read first; #DE before any register changes), and the two read back. The flags stay as they were.
     */
    private static void onAccumulator(BodyState b, BlockOp d, int i, int size) {
        CodeBuilder cob = b.cob;
        b.flushRegister(0);
        b.flushRegister(2);
        cob.aload(CORE).loadConstant(d.sub()).loadConstant(size);
        readRm(b, d, i, size);
        cob.invokestatic(CD_ARITHMETIC, "mulDiv", MUL_DIV);
        b.reloadRegister(0);
        b.reloadRegister(2);
    }

    /**
     * After an access to memory: the MMIO log retired (as runDecoded does after each instruction), and after a store,
     * a return to the boundary when it went to a device or dropped decoded code (only a store sets endBlock).
     */
    private static void afterMemory(BodyState b, BlockOp d, int i) {
        CodeBuilder cob = b.cob;
        if (!retiredByTheAccess(d)) {
            mmioRetired(b);
        }
        if (!BlockCompiler.storesToMemory(d)) {
            return;
        }
        Label on = cob.newLabel();
        cob.iload(ONWARD).ifne(on); // what the stores returned: a constant on their direct paths
        b.exit(b.ran(i), false, b.next(i), true);
        cob.labelBinding(on);
    }

    /**
     * Whether {@code d}'s one memory access retired its MMIO log on its full path ({@link #read}'s and {@link #write}'s
     * {@code last}): a load through {@link #readRm} that stores nothing, a MOV or SETcc store, a push or a pop.
     */
    private static boolean retiredByTheAccess(BlockOp d) {
        return switch (d.op()) {
            case BlockOp.PUSH_REG, BlockOp.PUSH_IMM, BlockOp.POP_REG, BlockOp.CALL, BlockOp.RET -> true;
            case BlockOp.SSE -> false;
            default -> onlyStores(d) || !BlockCompiler.storesToMemory(d);
        };
    }

    /**
     * A 64-bit push of VALUE as the core's push makes it: #SS(0) when RSP - 8 is not canonical, the store (which may
     * fault; the instruction's one access, its MMIO log retired on the full path, whether the block may go on ANDed
     * into ONWARD), and only then RSP moved; its address is left in ADDRESS. Instruction {@code i} of a stack run takes
     * the run's look-up ({@link StackRuns}).
     */
    private static void push(BodyState b, int i) {
        CodeBuilder cob = b.cob;
        b.loadRegister(4, 8);
        cob.loadConstant(8L).lsub().lstore(ADDRESS);
        cob.aload(CORE).lload(ADDRESS).lload(VALUE);
        if (b.stackRuns.member(i)) {
            cob.lload(BodyState.RUN_HOST).lload(BodyState.RUN_LINEAR).invokevirtual(CD_CORE, "stackWrite64", STACK_WRITE);
        } else {
            cob.iconst_1().iconst_1().invokevirtual(CD_CORE, "write64", ACCESS_WRITE);
        }
        cob.iload(ONWARD).iand().istore(ONWARD);
        cob.lload(ADDRESS);
        b.storeRegister(4, 8);
    }

    /**
     * A 64-bit read of the top of the stack into VALUE, as the core's pop makes it (#SS(0) when not canonical; the
     * instruction's one access, its MMIO log retired on the full path), RSP not moved yet; through the run's look-up
     * for instruction {@code i} of a stack run.
     */
    private static void pop(BodyState b, int i) {
        CodeBuilder cob = b.cob;
        cob.aload(CORE);
        b.loadRegister(4, 8);
        if (b.stackRuns.member(i)) {
            cob.lload(BodyState.RUN_HOST).lload(BodyState.RUN_LINEAR).invokevirtual(CD_CORE, "stackRead64", STACK_READ);
        } else {
            cob.iconst_1().iconst_1().invokevirtual(CD_CORE, "read64", ACCESS_READ);
        }
        cob.lstore(VALUE);
    }

    /** RSP moved past the value {@link #pop} read. */
    private static void popped(BodyState b) {
        b.loadRegister(4, 8);
        b.cob.loadConstant(8L).ladd();
        b.storeRegister(4, 8);
    }

    /** The MMIO log retired, as runDecoded does after each instruction. */
    private static void mmioRetired(BodyState b) {
        CodeBuilder cob = b.cob;
        Label quiet = cob.newLabel();
        cob.aload(CORE).getfield(CD_CORE, "mmioCount", CD_int).ifeq(quiet);
        cob.aload(CORE).invokevirtual(CD_CORE, "mmioRetired", MethodTypeDesc.of(CD_void));
        cob.labelBinding(quiet);
    }

    /**
     * A RET whose return address (in VALUE, from {@link #pop}) starts a block of the region that follows one of its
     * CALLs: RSP moved past it and on in the method there; any other address falls through to the code after this.
     */
    private static void returnInRegion(BodyState b, int i) {
        CodeBuilder cob = b.cob;
        for (int k = 0; k < b.blocks(); k++) {
            if (!b.returnSite(k)) {
                continue;
            }
            Label other = cob.newLabel();
            cob.lload(VALUE);
            b.pushRip(b.blockStart(k));
            cob.lcmp().ifne(other);
            long dirty = b.dirty;
            popped(b);
            b.branchTo(i, k);
            b.dirty = dirty; // the other way on from here has not moved RSP
            cob.labelBinding(other);
        }
    }

    /** A taken Jcc or JMP: on in the method when it goes to a block of the region, else out to its target. */
    private static void taken(BodyState b, BlockOp d, int i) {
        int k = b.branchTarget(i);
        if (k >= 0) {
            b.branchTo(i, k);
            return;
        }
        CodeBuilder cob = b.cob;
        cob.aload(CORE);
        b.pushRip(b.target(i));
        cob.loadConstant(8).invokestatic(CD_BRANCHES, "jump", JUMP); // a non-canonical target faults here, before it
        b.exit(b.ran(i), true, BodyState.RIP_SET, false);
    }

    /**
     * The ALU operation {@code op} on the operands in flag record {@code i}'s slots, as {@link Arithmetic#aluOp}:
     * the result and record there, then the result (but for CMP) to register {@code dst}, or, when {@code memory} is
     * the form, to its memory operand at ADDRESS.
     */
    private static void alu(BodyState b, int op, int size, int i, int dst, BlockOp memory) {
        CodeBuilder cob = b.cob;
        int lazy = aluRecord(b, op, i);
        if (op != 7) {
            if (memory != null) {
                cob.aload(CORE).lload(ADDRESS).lload(flagRes(i));
                write(cob, memory, size);
            } else {
                cob.lload(flagRes(i));
                b.storeRegister(dst, size); // it keeps or zero-extends the rest of the register
            }
        }
        b.setFlags(lazy, size, i);
    }

    /**
     * The result of ALU operation {@code op} on the operands in flag record {@code i}'s slots, and the record as
     * {@link Arithmetic#aluOp} leaves it; returns the record's lazy operation.
     */
    static int aluRecord(BodyState b, int op, int i) {
        CodeBuilder cob = b.cob;
        int lazy;
        switch (op) {
            case 0 -> {
                cob.lload(flagDst(i)).lload(flagSrc(i)).ladd();
                lazy = CpuState.LAZY_ADD;
            }
            case 2, 3 -> {
                b.carry();
                cob.lstore(flagCarry(i));
                cob.lload(flagDst(i)).lload(flagSrc(i));
                if (op == 2) {
                    cob.ladd().lload(flagCarry(i)).ladd();
                } else {
                    cob.lsub().lload(flagCarry(i)).lsub();
                }
                lazy = op == 2 ? CpuState.LAZY_ADC : CpuState.LAZY_SBB;
            }
            case 5, 7 -> {
                cob.lload(flagDst(i)).lload(flagSrc(i)).lsub();
                lazy = CpuState.LAZY_SUB;
            }
            default -> {
                cob.lload(flagDst(i)).lload(flagSrc(i));
                switch (op) {
                    case 1 -> cob.lor();
                    case 4 -> cob.land();
                    default -> cob.lxor();
                }
                lazy = CpuState.LAZY_LOGIC;
            }
        }
        cob.lstore(flagRes(i));
        if (lazy == CpuState.LAZY_LOGIC) {
            cob.lload(flagRes(i)).lstore(flagDst(i)).lconst_0().lstore(flagSrc(i)); // as lazy(LOGIC, res, 0, res)
        }
        return lazy;
    }

    /** AND's record of the value on the stack (TEST) in flag record {@code i}: lazy(LOGIC, res, 0, res). */
    private static void logic(BodyState b, int size, int i) {
        b.cob.dup2().lstore(flagRes(i)).lstore(flagDst(i));
        b.cob.lconst_0().lstore(flagSrc(i));
        b.setFlags(CpuState.LAZY_LOGIC, size, i);
    }

    /** INC or DEC of the r/m operand: CF kept (read before the record changes), the others from the result. */
    private static void incDec(BodyState b, BlockOp d, int size, boolean inc, int i, int t) {
        readRm(b, d, i, size);
        incDecRecord(b, inc, size, t, b.flagsDeadAfter(i));
        b.cob.lload(flagRes(t));
        store(b, d, size); // a register write of its size keeps or zero-extends the rest
    }

    /**
     * INC's or DEC's flag record {@code t} of the operand on the stack, its result in the record's result slot: CF as
     * it was before, or 0 when {@code carryDead} (nothing sees it, and the flags before may be stale, flagsDeadAtStart).
     */
    static void incDecRecord(BodyState b, boolean inc, int size, int t, boolean carryDead) {
        CodeBuilder cob = b.cob;
        cob.lstore(flagDst(t));
        cob.loadConstant(1L).lstore(flagSrc(t));
        if (carryDead) {
            cob.lconst_0();
        } else {
            b.carry();
        }
        cob.lstore(flagCarry(t));
        cob.lload(flagDst(t)).loadConstant(1L);
        if (inc) {
            cob.ladd();
        } else {
            cob.lsub();
        }
        cob.lstore(flagRes(t));
        b.setFlags(inc ? CpuState.LAZY_INC : CpuState.LAZY_DEC, size, t);
    }

    /** Pops the result on the stack into the r/m operand: the register, or memory at ADDRESS (readRm left it). */
    static void store(BodyState b, BlockOp d, int size) {
        if (d.rm() == BlockOp.MEMORY) {
            b.cob.lstore(VALUE);
            b.cob.aload(CORE).lload(ADDRESS).lload(VALUE);
            write(b.cob, d, size);
        } else {
            b.storeRegister(d.rm(), size);
        }
    }

    /**
     * Reads {@code size} bytes of {@code d}'s memory operand at the address on the stack (above the core): the core's
     * compiled read of that size (at the host address the stack pages give, for an access through RSP or RBP:
     * {@link StackPages}), told whether the read is the instruction's only memory access ({@code last}: its MMIO log
     * is then retired on the full path, and {@link #afterMemory} checks nothing).
     */
    static void read(CodeBuilder cob, BlockOp d, int size, boolean last) {
        boolean paged = StackPages.through(d);
        if (paged) {
            StackPages.host(cob, size, false);
        }
        cob.loadConstant(d.stackAddressed() ? 1 : 0).loadConstant(last ? 1 : 0)
                .invokevirtual(CD_CORE, (paged ? "readAt" : "read") + 8 * size, paged ? AT_READ : ACCESS_READ);
    }

    /**
     * Writes the value on the stack, {@code size} bytes, at the address under it (above the core), for {@code d}'s
     * memory operand (at the host address its read found, or the stack pages give: {@link StackPages}); whether the
     * block may go on is ANDed into ONWARD, which {@link #afterMemory} tests.
     */
    static void write(CodeBuilder cob, BlockOp d, int size) {
        if (readModifyWrite(d)) { // through the host address its read found, if any
            cob.lload(HOST).loadConstant(d.stackAddressed() ? 1 : 0).iconst_0()
                    .invokevirtual(CD_CORE, "writeAt" + 8 * size, AT_WRITE);
        } else if (StackPages.through(d)) {
            cob.lstore(BodyState.PAGE_VALUE);
            StackPages.host(cob, size, true);
            cob.lstore(BodyState.PAGE_OFFSET).lload(BodyState.PAGE_VALUE).lload(BodyState.PAGE_OFFSET)
                    .loadConstant(d.stackAddressed() ? 1 : 0).loadConstant(onlyStores(d) ? 1 : 0)
                    .invokevirtual(CD_CORE, "writeAt" + 8 * size, AT_WRITE);
        } else {
            cob.loadConstant(d.stackAddressed() ? 1 : 0).loadConstant(onlyStores(d) ? 1 : 0)
                    .invokevirtual(CD_CORE, "write" + 8 * size, ACCESS_WRITE);
        }
        cob.iload(ONWARD).iand().istore(ONWARD);
    }

    /**
     * Whether {@code d} reads its memory operand and stores to it (ADD..XOR, INC, DEC, NOT, NEG, shifts): its read
     * looks up the page's direct write entry once, and on a hit both accesses take that host address (a page a store
     * may reach directly is one a read may), so the store needs no look-up of its own.
     */
    static boolean readModifyWrite(BlockOp d) {
        return d.rm() == BlockOp.MEMORY && switch (d.op()) {
            case BlockOp.ALU_RM_REG, BlockOp.ALU_RM_IMM -> d.sub() != 7;
            case BlockOp.INC, BlockOp.DEC, BlockOp.NOT, BlockOp.NEG, BlockOp.SHIFT -> true;
            default -> false;
        };
    }

    /** Whether {@code d}'s one memory access is a store (MOV, SETcc): no read before it, none after. */
    private static boolean onlyStores(BlockOp d) {
        return d.rm() == BlockOp.MEMORY && (d.op() == BlockOp.MOV_RM_REG || d.op() == BlockOp.MOV_RM_IMM || d.op() == BlockOp.SETCC);
    }

    /** Pushes what a MOV to r/m stores: the register, or the immediate. */
    private static void movValue(BodyState b, BlockOp d, int size) {
        if (d.op() == BlockOp.MOV_RM_IMM) {
            b.cob.loadConstant(d.imm() & CpuState.mask(size));
        } else {
            b.loadRegister(d.reg(), size);
        }
    }

    /** Pushes the r/m operand at {@code size}: a register, or a read of memory (its address left in ADDRESS). */
    static void readRm(BodyState b, BlockOp d, int i, int size) {
        if (d.rm() >= 0) {
            b.loadRegister(d.rm(), size);
        } else if (readModifyWrite(d)) {
            addressOf(b, d, i);
            if (b.addressRuns.member(i)) { // its address run's look-up
                runAccessHost(b, d, i);
                b.cob.lstore(HOST);
            } else if (StackPages.through(d)) {
                b.cob.lload(ADDRESS);
                StackPages.host(b.cob, size, true);
                b.cob.lstore(HOST).pop2();
            } else {
                b.cob.aload(CORE).lload(ADDRESS).loadConstant(size)
                        .invokevirtual(CD_CORE, "compiledWriteAddress", DIRECT_ADDRESS).lstore(HOST);
            }
            b.cob.aload(CORE).lload(ADDRESS).lload(HOST).loadConstant(d.stackAddressed() ? 1 : 0)
                    .iconst_0().invokevirtual(CD_CORE, "readAt" + 8 * size, AT_READ);
        } else if (b.addressRuns.member(i)) {
            addressOf(b, d, i);
            b.cob.aload(CORE).lload(ADDRESS);
            runAccessHost(b, d, i);
            b.cob.loadConstant(d.stackAddressed() ? 1 : 0).iconst_1() // the only access
                    .invokevirtual(CD_CORE, "readAt" + 8 * d.size(), AT_READ);
        } else {
            addressOf(b, d, i);
            b.cob.aload(CORE).lload(ADDRESS);
            read(b.cob, d, size, !BlockCompiler.storesToMemory(d)); // the only access
        }
    }

    /**
     * An address run's access ({@link AddressRuns}), its linear address in ADDRESS: at the run's first, the look-up its
     * accesses share (the host address of the span's first byte into ADDRESS_RUN, from the direct write entries when
     * the run stores, or -1); then the host address of this access onto the stack, -1 when ADDRESS_RUN is.
     */
    private static void runAccessHost(BodyState b, BlockOp d, int i) {
        CodeBuilder cob = b.cob;
        AddressRuns.Run run = b.addressRuns.startingAt(i);
        if (run != null) {
            cob.aload(CORE).lload(ADDRESS);
            if (run.from() != d.disp()) {
                cob.loadConstant(run.from() - d.disp()).ladd();
            }
            cob.loadConstant(run.span())
                    .invokevirtual(CD_CORE, run.stores() ? "compiledWriteAddress" : "compiledReadAddress", DIRECT_ADDRESS)
                    .lstore(BodyState.ADDRESS_RUN);
        }
        long offset = b.addressRuns.offset(i);
        cob.lload(BodyState.ADDRESS_RUN);
        if (offset != 0) { // ADDRESS_RUN + offset, or -1: its sign spread over the sum
            cob.loadConstant(offset).ladd().lload(BodyState.ADDRESS_RUN).loadConstant(63).lshr().lor();
        }
    }

    /**
     * The memory operand's linear address into ADDRESS, as BlockExecution.address computes it, and stackAddressed, for
     * the forms whose accesses go through other paths than {@link #read} and {@link #write}.
     */
    static void address(BodyState b, BlockOp d, int i) {
        b.cob.aload(CORE).loadConstant(d.stackAddressed() ? 1 : 0).putfield(CD_CORE, "stackAddressed", CD_boolean);
        addressOf(b, d, i);
    }

    /** The memory operand's linear address into ADDRESS, as BlockExecution.address computes it. */
    private static void addressOf(BodyState b, BlockOp d, int i) {
        CodeBuilder cob = b.cob;
        int base = d.base();
        cob.loadConstant(d.disp());
        if (base >= 0) {
            b.loadRegister(base, 8);
            cob.ladd();
        } else if (base == BlockOp.RIP) {
            b.pushRip(b.next(i));
            cob.ladd();
        }
        if (d.index() >= 0) {
            b.loadRegister(d.index(), 8);
            if (d.scale() != 0) {
                cob.loadConstant(d.scale()).lshl();
            }
            cob.ladd();
        }
        if (d.seg() != 0) {
            cob.aload(CORE).getfield(CD_CORE, d.seg() == BlockOp.FS ? "fsBase" : "gsBase", CD_long).ladd();
        }
        cob.lstore(ADDRESS);
    }
}

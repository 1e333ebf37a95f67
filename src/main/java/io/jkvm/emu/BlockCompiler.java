package io.jkvm.emu;

import java.lang.classfile.Attributes;
import java.lang.classfile.ClassFile;
import java.lang.classfile.ClassHierarchyResolver;
import java.lang.classfile.CodeBuilder;
import java.lang.classfile.Label;
import java.lang.constant.ClassDesc;
import java.lang.constant.ConstantDescs;
import java.lang.constant.DynamicConstantDesc;
import java.lang.constant.MethodTypeDesc;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import java.util.Arrays;
import java.util.List;

import static java.lang.constant.ConstantDescs.CD_boolean;
import static java.lang.constant.ConstantDescs.CD_int;
import static java.lang.constant.ConstantDescs.CD_long;
import static java.lang.constant.ConstantDescs.CD_void;

/**
 * Compiles a {@link DecodedBlock} to a hidden class with {@code java.lang.classfile}: the block's instructions one
 * after the other in one method, each operand a constant, which the JIT then compiles to host code.
 * <ul>
 * <li>The guest registers the block's compiled forms use live in JVM locals from the block's entry, and go back to
 * the register file at its exits, before a form run by the block executor, and when an instruction faults.
 * <li>Flags are a lazy record ({@link LazyFlags}) held in locals: an instruction that sets them writes its operands
 * and result there, a condition is read from them, and the core's record is written only where something outside
 * the method can see it (an exit, a fault, a form run by the executor).
 * <li>RIP is the block's entry RIP plus a constant, written back at the same places.
 * <li>Each instruction's code is covered by an exception handler that puts back the state before it (registers, flags,
 * RIP, and in {@code blockProgress} which instruction it was), so a fault or exit in the middle is precise.
 * </ul>
 * ALU, TEST, MOV, MOVZX/MOVSX, LEA, INC/DEC, IMUL, shifts by an immediate, CMOVcc and SETcc of any size but a high
 * byte, one-operand MUL and IMUL of 4 and 8 bytes, DIV and IDIV, PUSH/POP of a 64-bit register, Jcc, JMP, CALL and
 * RET, CBW/CWDE/CDQE, CWD/CDQ/CQO, PAUSE, RDTSC, the locked read-modify-writes ({@link LockedInPlace}) and the SSE
 * forms ({@link SseForms}) are compiled from the same semantics the block executor runs ({@link Arithmetic}'s
 * operations and {@link LazyFlags}' records, {@link ShiftsAndBits#shifted}, {@link NearBranches}, {@link SseLanes},
 * the core's stack check and memory accessors); every other instruction calls the {@link DecodedForm} the decoded
 * tier runs, a constant of the class (class data) whose run the JIT may inline.
 * A method runs a region ({@link BlockRegion}): the block, and blocks of its page and the pages near it that its Jcc,
 * JMP, CALL and fall-throughs reach and where its CALLs return; a branch from one to another (the block's own start
 * too), a CALL to one, and a RET whose return address starts one after a CALL stay in the method while nothing
 * needs the boundary, with the registers in locals and the flags in the core unless dead there. The region's other
 * blocks run the same method entered at their own start ({@link CompiledBlock#at}: an instance each, one class). A
 * hidden class goes with its blocks: the code cache's bound on blocks bounds the compiled code too.
 */
final class BlockCompiler {
    static final ClassDesc CD_CORE = desc(Core.class), CD_FORM = desc(DecodedForm.class), CD_LONGS = CD_long.arrayType();
    static final ClassDesc CD_COMPILED = desc(CompiledBlock.class);
    private static final MethodTypeDesc RUN = MethodTypeDesc.of(CD_int, CD_CORE), ENTRY = MethodTypeDesc.of(CD_void, CD_int),
            SUPER_ENTRY = MethodTypeDesc.of(CD_void, CD_int, ConstantDescs.CD_boolean, ConstantDescs.CD_boolean),
            AT = MethodTypeDesc.of(CD_COMPILED, CD_int);
    private static final ClassFile CLASS_FILE = ClassFile.of(ClassFile.ClassHierarchyResolverOption.of(
            ClassHierarchyResolver.ofClassLoading(BlockCompiler.class.getClassLoader())));
    private static final MethodHandles.Lookup LOOKUP = MethodHandles.lookup();

    private BlockCompiler() {
    }

    static ClassDesc desc(Class<?> c) {
        return ClassDesc.of(c.getName());
    }

    /**
     * The largest run method made: HotSpot never JIT-compiles a method of more bytecode than this (its HugeMethodLimit,
     * with DontCompileHugeMethods on by default), so a larger one would run in the JVM's bytecode interpreter for good.
     */
    static final int MAX_METHOD_BYTES = 8000;

    /** A region as compiled: the blocks kept, and its class. */
    record Fitted(BlockRegion region, byte[] bytes) {
    }

    /**
     * {@code region} in one method, less the blocks found last while that is too large to JIT; the entry block alone
     * when it is (all of it, or as many of its first instructions as fit in {@link #MAX_METHOD_BYTES}, the method then
     * leaving to the next one as a branch there would). Each block has at least one instruction.
     */
    static Fitted fit(BlockRegion region) {
        while (region.blocks().length > 1) {
            byte[] bytes = regionClass(region);
            int size = runLength(bytes);
            if (size <= MAX_METHOD_BYTES) {
                return new Fitted(region, bytes);
            }
            long fits = (long) region.insns().length * MAX_METHOD_BYTES * 9 / 10 / size; // instructions, 10% under
            int keep = 1, total = region.blocks()[0].length;
            while (keep < region.blocks().length - 1 && total + region.blocks()[keep].length <= fits) {
                total += region.blocks()[keep++].length;
            }
            region = region.first(keep); // the blocks found last go
        }
        byte[] bytes = fittingClass(region.blocks()[0], region.entryCut());
        return new Fitted(region, bytes);
    }

    /** The hidden class of {@code fitted}, and an instance of it. */
    static CompiledBlock compile(Fitted fitted) {
        try {
            MethodHandles.Lookup hidden = LOOKUP.defineHiddenClassWithClassData(fitted.bytes(),
                    Arrays.stream(fitted.region().insns()).map(DecodedForm::of).toList(), true);
            return (CompiledBlock) hidden.findConstructor(hidden.lookupClass(), MethodType.methodType(void.class, int.class))
                    .invoke(0);
        } catch (Throwable e) {
            throw new IllegalStateException("the block compiler made a class the JVM refuses: " + e, e);
        }
    }

    /**
     * The class of {@code insns}, or of as many of the first as fit in {@link #MAX_METHOD_BYTES}; {@code cut}: they are
     * already the first of a decoded block's instructions.
     */
    static byte[] fittingClass(BlockOp[] insns, boolean cut) {
        int n = insns.length;
        byte[] bytes = classBytes(insns, n, cut);
        for (int size = runLength(bytes); size > MAX_METHOD_BYTES && n > 1; size = runLength(bytes)) {
            n = Math.max(1, Math.min(n - 1, (int) ((long) n * MAX_METHOD_BYTES * 9 / 10 / size))); // 10% under, then one less
            bytes = classBytes(insns, n, cut);
        }
        return bytes;
    }

    /** The class running the first {@code n} of {@code insns} (of a decoded block's first ones when {@code cut}). */
    static byte[] classBytes(BlockOp[] insns, int n, boolean cut) {
        BlockOp[] compiled = n == insns.length ? insns : Arrays.copyOf(insns, n);
        return classOf(BlockRegion.of(compiled), cut || n < insns.length);
    }

    /** The class running {@code region}, its blocks' instructions the class data in order. */
    static byte[] regionClass(BlockRegion region) {
        return classOf(region, false);
    }

    private static byte[] classOf(BlockRegion region, boolean prefix) {
        ClassDesc self = ClassDesc.of("io.jkvm.emu.CompiledBlockCode");
        return CLASS_FILE.build(self, clb -> {
            clb.withFlags(ClassFile.ACC_FINAL | ClassFile.ACC_SYNTHETIC);
            clb.withSuperclass(CD_COMPILED);
            BlockOp[] insns = region.insns();
            boolean sse = CompiledSse.any(insns, false), ssse3 = CompiledSse.any(insns, true);
            clb.withMethodBody(ConstantDescs.INIT_NAME, ENTRY, ClassFile.ACC_PUBLIC, cob -> cob
                    .aload(0).iload(1).loadConstant(sse ? 1 : 0).loadConstant(ssse3 ? 1 : 0)
                    .invokespecial(CD_COMPILED, ConstantDescs.INIT_NAME, SUPER_ENTRY).return_());
            clb.withMethodBody("at", AT, ClassFile.ACC_PUBLIC, cob -> cob
                    .new_(self).dup().iload(1).invokespecial(self, ConstantDescs.INIT_NAME, ENTRY).areturn());
            clb.withMethodBody("run", RUN, ClassFile.ACC_PUBLIC, cob -> new Body(cob, region, prefix).emit());
        });
    }

    /** The bytecode length of the run method of a class {@link #classBytes} made. */
    static int runLength(byte[] bytes) {
        return CLASS_FILE.parse(bytes).methods().stream().filter(m -> m.methodName().equalsString("run")).findFirst()
                .flatMap(m -> m.findAttribute(Attributes.code())).orElseThrow().codeLength();
    }

    /** Whether {@code n} is a register a compiled form reads or writes whole or in its low part (not AH-BH). */
    private static boolean plainRegister(int n) {
        return n >= 0 && n < BlockOp.HIGH_BYTE;
    }

    /** Whether {@code n} is AH, CH, DH or BH, which compiled forms read (bits 8-15 of RAX-RBX) but do not write. */
    private static boolean highByte(int n) {
        return n >= BlockOp.HIGH_BYTE && n < BlockOp.HIGH_BYTE + 4;
    }

    /** Whether a form's r/m operand is one the compiled forms take: memory, or a plain register. */
    private static boolean plainRm(BlockOp d) {
        return d.rm() == BlockOp.MEMORY || plainRegister(d.rm());
    }

    /** Whether {@code d} is compiled here; the others call their {@link DecodedForm}. */
    static boolean compiled(BlockOp d) {
        return switch (d.op()) {
            case BlockOp.ALU_R64_R64, BlockOp.ALU_R32_R32, BlockOp.INC_DEC_R64, BlockOp.NOP, BlockOp.JCC, BlockOp.JMP,
                 BlockOp.CALL, BlockOp.RET -> true;
            case BlockOp.ALU_RM_IMM -> plainRm(d) || d.sub() == 7 && highByte(d.rm()); // CMP of AH-BH only reads it
            case BlockOp.TEST_RM_IMM -> plainRm(d) || highByte(d.rm());
            case BlockOp.MOV_RM_IMM, BlockOp.INC, BlockOp.DEC -> plainRm(d);
            case BlockOp.TEST_RM_REG -> (plainRm(d) || highByte(d.rm())) && plainRegister(d.reg());
            case BlockOp.ALU_RM_REG, BlockOp.ALU_REG_RM, BlockOp.MOV_RM_REG, BlockOp.MOV_REG_RM ->
                    plainRm(d) && plainRegister(d.reg());
            case BlockOp.LEA -> d.size() >= 4;
            case BlockOp.MOVZX, BlockOp.MOVSX -> (plainRm(d) || highByte(d.rm())) && d.size() >= 4;
            case BlockOp.PUSH_REG, BlockOp.PUSH_IMM, BlockOp.POP_REG -> d.size() == 8;
            case BlockOp.IMUL_IMM, BlockOp.IMUL_REG_RM, BlockOp.CMOV -> plainRm(d) && plainRegister(d.reg());
            case BlockOp.SETCC -> plainRm(d);
            case BlockOp.SHIFT -> plainRm(d) && (d.imm() < 0 || (d.imm() & (d.size() == 8 ? 63 : 31)) != 0);
            case BlockOp.NOT, BlockOp.NEG -> plainRm(d);
            case BlockOp.BSWAP -> plainRegister(d.rm()) && d.size() >= 4;
            case BlockOp.BIT_TEST -> plainRegister(d.rm()) && d.imm() >= 0; // of a register, by an immediate
            case BlockOp.MUL_DIV -> (d.sub() >= 6 || d.size() >= 4) && plainRm(d);
            case BlockOp.PAUSE, BlockOp.RDTSC, BlockOp.SIGN_EXTEND_ACC, BlockOp.SIGN_FILL_DX, BlockOp.FENCE -> true;
            case BlockOp.LOCKED, BlockOp.SSE -> true;
            default -> false;
        };
    }

    /** Whether a compiled form reads or writes memory (the stack too): an access that may fault, exit or drop code. */
    static boolean touchesMemory(BlockOp d) {
        return switch (d.op()) {
            case BlockOp.PUSH_REG, BlockOp.PUSH_IMM, BlockOp.POP_REG, BlockOp.CALL, BlockOp.RET -> true;
            case BlockOp.ALU_RM_REG, BlockOp.ALU_REG_RM, BlockOp.ALU_RM_IMM, BlockOp.TEST_RM_REG, BlockOp.TEST_RM_IMM,
                 BlockOp.MOV_RM_REG, BlockOp.MOV_REG_RM, BlockOp.MOV_RM_IMM, BlockOp.MOVZX, BlockOp.MOVSX, BlockOp.INC,
                 BlockOp.DEC, BlockOp.IMUL_IMM, BlockOp.IMUL_REG_RM, BlockOp.SHIFT, BlockOp.CMOV, BlockOp.SETCC,
                 BlockOp.NOT, BlockOp.NEG, BlockOp.MUL_DIV, BlockOp.SSE ->
                    d.rm() == BlockOp.MEMORY;
            default -> false;
        };
    }

    /**
     * Whether a compiled form that {@link #touchesMemory} stores there too (PUSH, CALL, a memory destination but
     * CMP's); the others only load.
     */
    static boolean storesToMemory(BlockOp d) {
        return switch (d.op()) {
            case BlockOp.PUSH_REG, BlockOp.PUSH_IMM, BlockOp.CALL -> true;
            case BlockOp.ALU_RM_REG, BlockOp.ALU_RM_IMM -> d.rm() == BlockOp.MEMORY && d.sub() != 7;
            case BlockOp.MOV_RM_REG, BlockOp.MOV_RM_IMM, BlockOp.INC, BlockOp.DEC, BlockOp.SHIFT, BlockOp.SETCC,
                 BlockOp.NOT, BlockOp.NEG -> d.rm() == BlockOp.MEMORY;
            case BlockOp.SSE -> d.rm() == BlockOp.MEMORY && (d.sub() == SseForms.STORE || d.sub() == SseForms.FROM_XMM);
            default -> false; // POP, RET, TEST, ALU_REG_RM, MOV_REG_RM, MOVZX, MOVSX, IMUL, CMOV: loads
        };
    }

    /** Whether a compiled form may throw: it reaches memory, or a branch target that must be canonical. */
    static boolean mayThrow(BlockOp d) {
        return touchesMemory(d) || d.op() == BlockOp.JCC || d.op() == BlockOp.JMP || d.op() == BlockOp.LOCKED
                || d.op() == BlockOp.SSE // SSE off (#UD, #NM), a model without SSSE3
                || d.op() == BlockOp.MUL_DIV && d.sub() >= 6 // #DE
                || d.op() == BlockOp.RDTSC; // #GP under CR4.TSD
    }

    /** Whether a compiled form sets all six arithmetic flags without reading any (ADC and SBB read CF, INC/DEC keep it). */
    private static boolean setsAllFlags(BlockOp d) {
        return switch (d.op()) {
            case BlockOp.ALU_R64_R64, BlockOp.ALU_R32_R32, BlockOp.ALU_RM_IMM, BlockOp.ALU_RM_REG, BlockOp.ALU_REG_RM ->
                    d.sub() != 2 && d.sub() != 3;
            case BlockOp.TEST_RM_IMM, BlockOp.TEST_RM_REG, BlockOp.IMUL_IMM, BlockOp.IMUL_REG_RM, BlockOp.NEG -> true;
            case BlockOp.MUL_DIV -> d.sub() < 6; // MUL and IMUL: the core sets SF, ZF, AF and PF too (undefined in the SDM)
            default -> false;
        };
    }

    /**
     * Whether a compiled form sets every arithmetic flag but CF, which it passes on (INC, DEC): for whether the flags
     * before it are dead, it is as one that leaves them, and when its own are dead it need not find CF.
     */
    private static boolean keepsOnlyCarry(BlockOp d) {
        return d.op() == BlockOp.INC_DEC_R64 || d.op() == BlockOp.INC || d.op() == BlockOp.DEC;
    }

    /**
     * Whether a compiled form is ROL or ROR of a register by an immediate: it sets CF and OF and keeps the others, so
     * when a later form sets all six before anything reads them, its flags and those it keeps are dead alike, and it
     * computes its result alone (CompiledShifts' quiet rotate: the same test, so that no flags are computed from a record
     * this one found dead).
     */
    static boolean rotatesRegister(BlockOp d) {
        return d.op() == BlockOp.SHIFT && d.sub() <= 1 && d.imm() >= 0 && d.rm() != BlockOp.MEMORY;
    }

    /** Whether a compiled form neither reads nor writes flags. */
    static boolean leavesFlags(BlockOp d) {
        return switch (d.op()) {
            case BlockOp.MOV_RM_IMM, BlockOp.MOV_RM_REG, BlockOp.MOV_REG_RM, BlockOp.LEA, BlockOp.MOVZX, BlockOp.MOVSX,
                 BlockOp.NOP, BlockOp.PUSH_REG, BlockOp.PUSH_IMM, BlockOp.POP_REG, BlockOp.NOT, BlockOp.PAUSE,
                 BlockOp.SIGN_EXTEND_ACC, BlockOp.SIGN_FILL_DX, BlockOp.BSWAP, BlockOp.FENCE -> true;
            default -> false;
        };
    }

    /**
     * Whether the flags instruction {@code i} leaves are dead: those after it neither read flags nor may fault or leave
     * the block (where they would be seen) before one sets all six. A shadow never ends a compiled method after its
     * first instruction: runDecoded runs a shadowed one decoded.
     */
    static boolean flagsDeadAfter(BlockOp[] insns, int i) {
        for (int j = i + 1; j < insns.length; j++) {
            BlockOp d = insns[j];
            if (!compiled(d) || mayThrow(d)) {
                return false;
            }
            if (setsAllFlags(d)) {
                return true;
            }
            if (!leavesFlags(d) && !keepsOnlyCarry(d) && !rotatesRegister(d)) {
                return false;
            }
        }
        return false;
    }

    /**
     * Whether the flags are dead at a block's start: its first instructions neither read flags nor may fault before
     * one sets them all, so a branch to it in the method need not write the record to the core.
     */
    static boolean flagsDeadAtStart(BlockOp[] insns) {
        for (BlockOp d : insns) {
            if (!compiled(d)) {
                return false;
            }
            if (setsAllFlags(d)) {
                return !mayThrow(d); // a fault there would put back the record of the round before
            }
            if (!leavesFlags(d) && !keepsOnlyCarry(d) && !rotatesRegister(d) || mayThrow(d)) {
                return false;
            }
        }
        return false;
    }

    /**
     * Whether the flags at a block's start are seen only if an instruction faults or exits before one sets them all:
     * those before it are compiled forms that neither read nor write flags.
     */
    static boolean flagsSeenOnlyByFaults(BlockOp[] insns) {
        for (BlockOp d : insns) {
            if (!compiled(d)) {
                return false;
            }
            if (setsAllFlags(d)) {
                return true;
            }
            if (!leavesFlags(d)) {
                return false;
            }
        }
        return false;
    }

    /**
     * The registers a block's instructions write before one of them sets every flag (that one's own fault comes before
     * its write), as a bit set: where a pending record's operands must stay as they are ({@link ImplicitRecords}).
     */
    static long writtenBeforeFlags(BlockOp[] insns) {
        long written = 0;
        for (BlockOp d : insns) {
            if (setsAllFlags(d)) {
                break;
            }
            written |= registersWritten(d);
        }
        return written;
    }

    /** The registers the compiled forms of {@code insns} use, as a bit set: they are held in locals. */
    static long registersUsed(BlockOp[] insns) {
        long used = 0;
        for (BlockOp d : insns) {
            if (!compiled(d)) {
                continue;
            }
            if (d.op() == BlockOp.SSE) { // its reg and rm are XMM registers, but MOVD's general one and an address's
                for (int n : new int[]{d.sub() == SseForms.TO_XMM || d.sub() == SseForms.FROM_XMM ? d.rm() : BlockOp.NONE,
                        d.base(), d.index()}) {
                    used |= plainRegister(n) ? 1L << n : 0;
                }
                continue;
            }
            int reg = d.op() != BlockOp.LOCKED || LockedInPlace.readsRegister(d.sub()) ? d.reg() : BlockOp.NONE;
            for (int n : new int[]{reg, d.rm(), d.base(), d.index()}) {
                if (plainRegister(n)) {
                    used |= 1L << n;
                } else if (highByte(n)) {
                    used |= 1L << (n - BlockOp.HIGH_BYTE); // AH-BH: bits 8-15 of RAX-RBX
                }
            }
            switch (d.op()) {
                case BlockOp.PUSH_REG, BlockOp.PUSH_IMM, BlockOp.POP_REG, BlockOp.CALL, BlockOp.RET ->
                        used |= 1L << 4; // they move RSP
                case BlockOp.SHIFT -> used |= d.imm() < 0 ? 1L << 1 : 0; // the count in CL
                case BlockOp.MUL_DIV, BlockOp.RDTSC, BlockOp.SIGN_FILL_DX -> used |= 1L | 1L << 2; // RDX:RAX
                case BlockOp.SIGN_EXTEND_ACC -> used |= 1L;
                case BlockOp.LOCKED -> used |= d.sub() == 11 ? 1L : 0; // CMPXCHG's accumulator
                default -> {
                }
            }
        }
        return used;
    }

    /**
     * The registers the compiled forms of {@code insns} may write in their locals: the only ones whose local can be
     * newer than the register file, so the only ones an exit or a handler writes back. Registers a form has the
     * executor or a helper write in the register file and then reads back are not among them.
     */
    static long registersWritten(BlockOp[] insns) {
        long written = 0;
        for (BlockOp d : insns) {
            written |= registersWritten(d);
        }
        return written;
    }

    /** The registers compiled form {@code d} writes, as a bit set; none for a form the executor runs. */
    static long registersWritten(BlockOp d) {
        if (!compiled(d)) {
            return 0;
        }
        int rm = d.rm() == BlockOp.MEMORY ? BlockOp.NONE : d.rm();
        return switch (d.op()) {
            case BlockOp.ALU_R64_R64, BlockOp.ALU_R32_R32, BlockOp.ALU_RM_REG, BlockOp.ALU_RM_IMM ->
                    d.sub() != 7 ? bit(rm) : 0;
            case BlockOp.ALU_REG_RM -> d.sub() != 7 ? bit(d.reg()) : 0;
            case BlockOp.MOV_RM_REG, BlockOp.MOV_RM_IMM, BlockOp.INC_DEC_R64, BlockOp.INC, BlockOp.DEC, BlockOp.NOT,
                 BlockOp.NEG, BlockOp.SHIFT, BlockOp.SETCC, BlockOp.BSWAP -> bit(rm);
            case BlockOp.MOV_REG_RM, BlockOp.LEA, BlockOp.MOVZX, BlockOp.MOVSX, BlockOp.IMUL_IMM, BlockOp.IMUL_REG_RM,
                 BlockOp.CMOV -> bit(d.reg());
            case BlockOp.PUSH_REG, BlockOp.PUSH_IMM, BlockOp.CALL, BlockOp.RET -> bit(4);
            case BlockOp.POP_REG -> bit(4) | bit(d.reg());
            case BlockOp.MUL_DIV -> bit(0) | bit(2);
            case BlockOp.SIGN_EXTEND_ACC -> bit(0);
            case BlockOp.SIGN_FILL_DX -> bit(2);
            case BlockOp.LOCKED -> d.sub() == 11 ? bit(0) : d.sub() == 10 ? bit(d.reg()) : 0; // CMPXCHG, XADD
            case BlockOp.SSE -> d.sub() == SseForms.FROM_XMM ? bit(rm) : 0;
            case BlockOp.BIT_TEST -> d.sub() != 0 ? bit(rm) : 0; // BTS, BTR, BTC
            default -> 0; // Jcc, JMP, TEST, NOP, PAUSE, RDTSC (read back from the register file)
        };
    }

    private static long bit(int n) {
        return plainRegister(n) ? 1L << n : 0;
    }

    /** The emitter of one block's run method; {@link Body} keeps what is where (locals, the core) at each point. */
    private static final class Body extends BodyState {
        /** Whether {@code insns} is the first part of its block, the rest left to the block that starts after it. */
        private final boolean prefix;
        /** Whether the region's entry block is cut before another's start ({@link BlockRegion#entryCut}). */
        private final boolean entryCut;

        Body(CodeBuilder cob, BlockRegion region, boolean prefix) {
            super(cob, region);
            this.prefix = prefix;
            this.entryCut = region.entryCut();
        }

        void emit() {
            Label entered = cob.newLabel(); // a probe's call, with no core: nothing to run (RegionWarmth)
            cob.aload(CORE).ifnonnull(entered).iconst_0().ireturn().labelBinding(entered);
            prologue();
            for (int k = 0; k < blocks(); k++) {
                if (k > 0) {
                    enterBlock(k);
                }
                for (int i = first(k); i < first(k + 1) && reachable; i++) {
                    instruction(i);
                }
                if (reachable) {
                    int last = first(k + 1) - 1, to = prefix ? -1 : fallThrough(k);
                    if (to >= 0) {
                        branchTo(last, to);
                    } else {
                        // after a prefix, a cut entry or another block's end, as a branch there would: runBlock looks RIP up
                        exit(ran(last), prefix || k > 0 || entryCut, next(last), false);
                    }
                }
            }
            handlers();
        }

        private void instruction(int i) {
            BlockOp d = insns[i];
            Label start = cob.newLabel(), end = cob.newLabel();
            HandlerState handler = handlerState(i, d);
            if (handler != null) {
                progress(handler);
            }
            cob.labelBinding(start);
            if (compiled(d)) {
                CompiledForms.emit(this, d, i);
            } else {
                generic(d, i);
            }
            cob.labelBinding(end);
            if (handler != null) {
                cover(handler, start, end);
            }
        }

        /** A form the block executor runs: the core holds everything before it, and the locals are read back after. */
        @Override
        void generic(BlockOp d, int i) {
            flushRegisters();
            materializeFlags();
            emitRip(offsets[i]); // a form that sets the flags before a store saves them itself (DecodedForm.SavingFlags)
            cob.aload(CORE).iconst_0().putfield(CD_CORE, "mmioReplayed", CD_int);
            cob.ldc(DynamicConstantDesc.ofNamed(ConstantDescs.BSM_CLASS_DATA_AT, ConstantDescs.DEFAULT_NAME, CD_FORM, i))
                    .aload(CORE).invokevirtual(CD_FORM, "run", MethodTypeDesc.of(CD_boolean, CD_CORE)).istore(ONWARD);
            cob.aload(CORE).invokevirtual(CD_CORE, "mmioRetired", ConstantDescs.MTD_void);
            reloadRegisters();
            StackPages.forget(cob, insns); // whatever the form did, the pages are looked up again
            Label on = cob.newLabel();
            cob.aload(CORE).getfield(CD_CORE, "endBlock", CD_boolean).ifeq(on);
            exit(ran(i), false, RIP_SET, true); // an exit or dropped code, first: RIP is past it, or at a REP to go on
            cob.labelBinding(on);
            if (d.op() == BlockOp.JCC || d.endsBlock() || d.op() == BlockOp.INTERPRETED) { // a REP may stop before its end
                Label onward = cob.newLabel();
                cob.iload(ONWARD).ifne(onward);
                exit(ran(i), true, RIP_SET, false); // it branched: RIP is where it went
                cob.labelBinding(onward);
            }
        }
    }
}

package io.jkvm.emu;

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
import java.util.List;

import static java.lang.constant.ConstantDescs.CD_boolean;
import static java.lang.constant.ConstantDescs.CD_int;
import static java.lang.constant.ConstantDescs.CD_long;
import static java.lang.constant.ConstantDescs.CD_void;

/**
 * Compiles a {@link DecodedBlock} to a hidden class with {@code java.lang.classfile}: the block's instructions one
 * after the other in one method, with no dispatch between them, each operand a constant, which the JIT then compiles to
 * host code. Each instruction still runs the semantics the interpreter and the block executor share: the 32- and
 * 64-bit ALU, MOV, LEA and INC/DEC forms, PUSH/POP of a register, Jcc, JMP, CALL and RET are emitted as calls to
 * {@link Arithmetic}, {@link CpuState#condition}, {@link NearBranches}, the stack and memory accessors, with their
 * operands as constants; every other decoded form calls {@code BlockExecution.executeDecoded} with its {@link BlockOp},
 * a constant of the class (class data). The bookkeeping between instructions is {@code runDecoded}'s. A block that
 * branches back to its own start loops inside the method. A hidden class goes with its block: the code cache's bound on
 * blocks bounds the compiled code too.
 */
final class BlockCompiler {
    private static final ClassDesc CD_CORE = desc(Core.class), CD_OP = desc(BlockOp.class),
            CD_COMPILED = desc(CompiledBlock.class), CD_ARITHMETIC = desc(Arithmetic.class),
            CD_BRANCHES = desc(NearBranches.class), CD_LONGS = CD_long.arrayType();
    private static final MethodTypeDesc RUN = MethodTypeDesc.of(CD_int, CD_CORE),
            ALU = MethodTypeDesc.of(CD_long, CD_CORE, CD_int, CD_long, CD_long, CD_int),
            INC_DEC_FLAGS = MethodTypeDesc.of(CD_void, desc(CpuState.class), CD_boolean, CD_long, CD_long, CD_int),
            JUMP = MethodTypeDesc.of(CD_void, CD_CORE, CD_long, CD_int),
            READ = MethodTypeDesc.of(CD_long, CD_long, CD_int), WRITE = MethodTypeDesc.of(CD_void, CD_long, CD_int, CD_long),
            EXECUTE = MethodTypeDesc.of(CD_boolean, CD_OP);
    private static final ClassFile CLASS_FILE = ClassFile.of(ClassFile.ClassHierarchyResolverOption.of(
            ClassHierarchyResolver.ofClassLoading(BlockCompiler.class.getClassLoader())));
    private static final MethodHandles.Lookup LOOKUP = MethodHandles.lookup();
    private static final int THIS = 0, CORE = 1, SHADOWED = 2, VALUE = 3, RESULT = 5, ADDRESS = 7, ONWARD = 9, LOOPED = 10;

    private BlockCompiler() {
    }

    private static ClassDesc desc(Class<?> c) {
        return ClassDesc.of(c.getName());
    }

    /** {@code block} compiled (it must have at least one instruction). */
    static CompiledBlock compile(DecodedBlock block) {
        BlockOp[] insns = block.insns;
        byte[] bytes = CLASS_FILE.build(ClassDesc.of("io.jkvm.emu.CompiledBlockCode"), clb -> {
            clb.withFlags(ClassFile.ACC_FINAL | ClassFile.ACC_SYNTHETIC);
            clb.withInterfaceSymbols(CD_COMPILED);
            clb.withMethodBody(ConstantDescs.INIT_NAME, ConstantDescs.MTD_void, ClassFile.ACC_PUBLIC, cob -> cob
                    .aload(THIS).invokespecial(ConstantDescs.CD_Object, ConstantDescs.INIT_NAME, ConstantDescs.MTD_void).return_());
            clb.withMethodBody("run", RUN, ClassFile.ACC_PUBLIC, cob -> body(cob, insns));
        });
        try {
            MethodHandles.Lookup hidden = LOOKUP.defineHiddenClassWithClassData(bytes, List.of(insns), true);
            return (CompiledBlock) hidden.findConstructor(hidden.lookupClass(), MethodType.methodType(void.class)).invoke();
        } catch (Throwable e) {
            throw new IllegalStateException("the block compiler made a class the JVM refuses: " + e, e);
        }
    }

    /**
     * The forms that touch nothing but registers and flags: they cannot fault, exit or see MMIO, so the bookkeeping
     * between instructions is left out around them.
     */
    private static boolean registersOnly(BlockOp d) {
        int op = d.op();
        boolean registerRm = d.rm() >= 0; // any size, a high byte too: executeDecoded's register forms touch no memory either
        return op == BlockOp.ALU_R64_R64 || op == BlockOp.ALU_R32_R32 || op == BlockOp.INC_DEC_R64 || op == BlockOp.NOP
                || registerRm && (op == BlockOp.ALU_RM_REG || op == BlockOp.ALU_REG_RM || op == BlockOp.ALU_RM_IMM
                || op == BlockOp.MOV_RM_REG || op == BlockOp.MOV_REG_RM || op == BlockOp.MOV_RM_IMM || op == BlockOp.INC
                || op == BlockOp.DEC);
    }

    /** Whether the block ends in a Jcc or JMP back to its own first instruction: a loop the compiled method keeps. */
    static boolean loopsToItself(BlockOp[] insns) {
        BlockOp last = insns[insns.length - 1];
        long length = 0;
        for (BlockOp d : insns) {
            length += d.length();
        }
        return (last.op() == BlockOp.JCC || last.op() == BlockOp.JMP) && last.imm() == -length;
    }

    /**
     * runDecoded's bookkeeping, instruction by instruction: where a fault would be ({@code blockProgress}), flags saved
     * before a store that may fault after them, the MMIO replay, the shadow after the first instruction, and the return
     * when an exit or a shadow ends the block or a branch leaves it. Retired instructions are counted at each return
     * (a fault counts those before it: BlockExecution adds {@code blockProgress}). A block that branches back to its
     * own start goes round inside the method while runBlock would run it again at once ({@code mayChain}, within
     * {@link BlockExecution#CHAIN_LIMIT} instructions), without a return, a dispatch and a lookup per round.
     */
    private static void body(CodeBuilder cob, BlockOp[] insns) {
        boolean loop = loopsToItself(insns);
        cob.aload(CORE).getfield(CD_CORE, "interruptShadow", CD_boolean).istore(SHADOWED);
        cob.iconst_0().istore(LOOPED);
        Label top = cob.newLabel();
        cob.labelBinding(top);
        for (int i = 0; i < insns.length; i++) {
            BlockOp d = insns[i];
            boolean plain = registersOnly(d);
            if (!plain) {
                cob.aload(CORE).loadConstant(i).putfield(CD_CORE, "blockProgress", CD_int);
                if (d.flagsBeforeStore()) {
                    cob.aload(CORE).invokevirtual(CD_CORE, "saveFlags", ConstantDescs.MTD_void);
                }
                cob.aload(CORE).iconst_0().putfield(CD_CORE, "mmioReplayed", CD_int);
            }
            boolean mayBranch = instruction(cob, d, i); // leaves onward (boolean) on the stack when mayBranch
            if (mayBranch) {
                cob.istore(ONWARD);
            }
            if (!plain) {
                cob.aload(CORE).invokevirtual(CD_CORE, "mmioRetired", ConstantDescs.MTD_void);
            }
            if (i == 0) {
                cob.aload(CORE).iconst_0().putfield(CD_CORE, "interruptShadow", CD_boolean); // no decoded form sets one
            }
            if (!plain || i == 0) {
                Label on = cob.newLabel();
                if (!plain) {
                    cob.aload(CORE).getfield(CD_CORE, "endBlock", CD_boolean);
                    if (i == 0) {
                        cob.iload(SHADOWED).ior(); // a shadow covers the first instruction: back to the boundary after it
                    }
                } else {
                    cob.iload(SHADOWED);
                }
                cob.ifeq(on);
                retire(cob, i + 1);
                ran(cob, i + 1);
                cob.ineg().ireturn().labelBinding(on);
            }
            if (mayBranch) {
                Label onward = cob.newLabel();
                cob.iload(ONWARD).ifne(onward);
                retire(cob, i + 1);
                if (loop && i == insns.length - 1) {
                    Label leave = cob.newLabel();
                    ran(cob, i + 1);
                    cob.dup().istore(LOOPED).loadConstant(BlockExecution.CHAIN_LIMIT).if_icmpge(leave);
                    cob.aload(CORE).invokevirtual(CD_CORE, "mayChain", MethodTypeDesc.of(CD_boolean)).ifne(top);
                    cob.labelBinding(leave);
                    cob.aload(CORE).iconst_1().putfield(CD_CORE, "branched", CD_boolean);
                    cob.iload(LOOPED).ireturn();
                } else {
                    cob.aload(CORE).iconst_1().putfield(CD_CORE, "branched", CD_boolean);
                    ran(cob, i + 1);
                    cob.ireturn();
                }
                cob.labelBinding(onward);
            }
        }
        retire(cob, insns.length);
        ran(cob, insns.length);
        cob.ireturn();
    }

    /** Pushes how many instructions this call ran: the rounds before this one, and {@code n} of this one. */
    private static void ran(CodeBuilder cob, int n) {
        cob.iload(LOOPED).loadConstant(n).iadd();
    }

    /** Counts {@code n} retired instructions. */
    private static void retire(CodeBuilder cob, int n) {
        cob.aload(CORE).dup().getfield(CD_CORE, "instructions", CD_long).loadConstant((long) n).ladd()
                .putfield(CD_CORE, "instructions", CD_long);
    }

    /** Emits instruction {@code d} (the {@code i}th); true when it leaves whether it went on (a boolean) on the stack. */
    private static boolean instruction(CodeBuilder cob, BlockOp d, int i) {
        boolean branch = d.op() == BlockOp.JCC || d.endsBlock(); // whether it went on is left on the stack, RIP where it went
        if (specialized(cob, d)) {
            if (!branch) {
                advance(cob, d);
            }
            return branch;
        }
        cob.aload(CORE).ldc(DynamicConstantDesc.ofNamed(ConstantDescs.BSM_CLASS_DATA_AT, ConstantDescs.DEFAULT_NAME, CD_OP, i))
                .invokevirtual(CD_CORE, "executeDecoded", EXECUTE);
        if (!branch) {
            cob.pop(); // it goes on: nothing but a branch leaves the block
        }
        return branch;
    }

    /**
     * Emits {@code d} inline when it is one of the forms compiled here (32- and 64-bit operands); false leaves it to
     * executeDecoded. A branch leaves whether it went on; the others leave RIP to {@link #advance}.
     */
    private static boolean specialized(CodeBuilder cob, BlockOp d) {
        int size = d.size();
        boolean wordOrWider = size == 4 || size == 8;
        boolean registerRm = d.rm() >= 0 && d.rm() < BlockOp.HIGH_BYTE;
        switch (d.op()) {
            case BlockOp.ALU_R64_R64, BlockOp.ALU_R32_R32 -> {
                boolean wide = d.op() == BlockOp.ALU_R64_R64;
                if (d.sub() != 7) {
                    registerArray(cob, d.rm());
                }
                cob.aload(CORE).loadConstant(d.sub());
                register(cob, d.rm(), wide ? 8 : 4);
                register(cob, d.reg(), wide ? 8 : 4);
                cob.loadConstant(wide ? 8 : 4).invokestatic(CD_ARITHMETIC, "aluOp", ALU);
                if (d.sub() != 7) {
                    cob.lastore(); // aluOp masked a 32-bit result: the destination is zero-extended
                } else {
                    cob.pop2(); // CMP: the flags alone
                }
                return true;
            }
            case BlockOp.ALU_RM_REG, BlockOp.ALU_RM_IMM, BlockOp.ALU_REG_RM -> {
                if (!wordOrWider || !(registerRm || d.rm() == BlockOp.MEMORY)) {
                    return false;
                }
                boolean toReg = d.op() == BlockOp.ALU_REG_RM;
                if (!toReg && !registerRm) {
                    address(cob, d);
                }
                cob.aload(CORE).loadConstant(d.sub());
                if (toReg) {
                    register(cob, d.reg(), size);
                    operand(cob, d, size);
                } else {
                    if (registerRm) {
                        register(cob, d.rm(), size);
                    } else {
                        cob.aload(CORE).lload(ADDRESS).loadConstant(size).invokevirtual(CD_CORE, "read", READ);
                    }
                    if (d.op() == BlockOp.ALU_RM_IMM) {
                        cob.loadConstant(d.imm());
                    } else {
                        register(cob, d.reg(), size);
                    }
                }
                cob.loadConstant(size).invokestatic(CD_ARITHMETIC, "aluOp", ALU).lstore(RESULT);
                if (d.sub() != 7) {
                    if (toReg || registerRm) {
                        setRegister(cob, toReg ? d.reg() : d.rm(), size, RESULT);
                    } else {
                        cob.aload(CORE).lload(ADDRESS).loadConstant(size).lload(RESULT).invokevirtual(CD_CORE, "write", WRITE);
                    }
                }
                return true;
            }
            case BlockOp.MOV_RM_REG, BlockOp.MOV_RM_IMM -> {
                if (!wordOrWider || !(registerRm || d.rm() == BlockOp.MEMORY)) {
                    return false;
                }
                if (registerRm) {
                    value(cob, d, size);
                    cob.lstore(RESULT);
                    setRegister(cob, d.rm(), size, RESULT);
                } else {
                    address(cob, d);
                    cob.aload(CORE).lload(ADDRESS).loadConstant(size);
                    value(cob, d, size);
                    cob.invokevirtual(CD_CORE, "write", WRITE);
                }
                return true;
            }
            case BlockOp.MOV_REG_RM -> {
                if (!wordOrWider || !(registerRm || d.rm() == BlockOp.MEMORY)) {
                    return false;
                }
                operand(cob, d, size);
                cob.lstore(RESULT);
                setRegister(cob, d.reg(), size, RESULT);
                return true;
            }
            case BlockOp.LEA -> {
                if (!wordOrWider) {
                    return false;
                }
                address(cob, d);
                setRegister(cob, d.reg(), size, ADDRESS);
                return true;
            }
            case BlockOp.INC_DEC_R64 -> {
                incDec(cob, d.rm(), d.sub() == 0, 8);
                return true;
            }
            case BlockOp.INC, BlockOp.DEC -> {
                if (!wordOrWider || !registerRm) {
                    return false;
                }
                incDec(cob, d.rm(), d.op() == BlockOp.INC, size);
                return true;
            }
            case BlockOp.JCC -> {
                Label notTaken = cob.newLabel(), done = cob.newLabel();
                cob.aload(CORE).loadConstant(d.sub()).invokevirtual(CD_CORE, "condition", MethodTypeDesc.of(CD_boolean, CD_int));
                cob.ifeq(notTaken);
                jump(cob, d);
                cob.iconst_0().goto_(done);
                cob.labelBinding(notTaken);
                advance(cob, d);
                cob.iconst_1().labelBinding(done);
                return true;
            }
            case BlockOp.JMP -> {
                jump(cob, d);
                cob.iconst_0();
                return true;
            }
            case BlockOp.CALL -> {
                cob.aload(CORE).aload(CORE).getfield(CD_CORE, "rip", CD_long).loadConstant(d.length() + d.imm()).ladd()
                        .aload(CORE).getfield(CD_CORE, "rip", CD_long).loadConstant((long) d.length()).ladd()
                        .loadConstant(8).invokestatic(CD_BRANCHES, "call", MethodTypeDesc.of(CD_void, CD_CORE, CD_long, CD_long, CD_int));
                cob.iconst_0();
                return true;
            }
            case BlockOp.RET -> {
                cob.aload(CORE).loadConstant(8).invokestatic(CD_BRANCHES, "ret", MethodTypeDesc.of(CD_void, CD_CORE, CD_int));
                cob.iconst_0();
                return true;
            }
            case BlockOp.PUSH_REG -> {
                if (size != 8) {
                    return false;
                }
                cob.aload(CORE);
                register(cob, d.reg(), 8);
                cob.loadConstant(8).invokevirtual(CD_CORE, "push", MethodTypeDesc.of(CD_void, CD_long, CD_int));
                return true;
            }
            case BlockOp.POP_REG -> {
                if (size != 8) {
                    return false;
                }
                cob.aload(CORE).loadConstant(8).invokevirtual(CD_CORE, "pop", MethodTypeDesc.of(CD_long, CD_int)).lstore(RESULT);
                setRegister(cob, d.reg(), 8, RESULT);
                return true;
            }
            case BlockOp.NOP -> {
                return true;
            }
            default -> {
                return false;
            }
        }
    }

    /** INC or DEC of register {@code n}, its flags from the value before and the unmasked result, as executeDecoded. */
    private static void incDec(CodeBuilder cob, int n, boolean inc, int size) {
        register(cob, n, size);
        cob.dup2().lstore(VALUE).loadConstant(1L);
        if (inc) {
            cob.ladd();
        } else {
            cob.lsub();
        }
        cob.lstore(RESULT);
        setRegister(cob, n, size, RESULT);
        cob.aload(CORE).loadConstant(inc ? 1 : 0).lload(VALUE).lload(RESULT).loadConstant(size)
                .invokestatic(CD_ARITHMETIC, "incDecFlags", INC_DEC_FLAGS);
    }

    /** NearBranches.jump to the relative target of {@code d}. */
    private static void jump(CodeBuilder cob, BlockOp d) {
        cob.aload(CORE).aload(CORE).getfield(CD_CORE, "rip", CD_long).loadConstant(d.length() + d.imm()).ladd()
                .loadConstant(8).invokestatic(CD_BRANCHES, "jump", JUMP);
    }

    /** Pushes the value a MOV to r/m stores: the register, or the immediate. */
    private static void value(CodeBuilder cob, BlockOp d, int size) {
        if (d.op() == BlockOp.MOV_RM_IMM) {
            cob.loadConstant(size == 4 ? d.imm() & 0xFFFFFFFFL : d.imm());
        } else {
            register(cob, d.reg(), size);
        }
    }

    /** Pushes the r/m operand: a register, or a read of the memory operand (its address left in ADDRESS). */
    private static void operand(CodeBuilder cob, BlockOp d, int size) {
        if (d.rm() >= 0) {
            register(cob, d.rm(), size);
        } else {
            address(cob, d);
            cob.aload(CORE).lload(ADDRESS).loadConstant(size).invokevirtual(CD_CORE, "read", READ);
        }
    }

    /** The memory operand's linear address into ADDRESS, as BlockExecution.address computes it (stackAddressed too). */
    private static void address(CodeBuilder cob, BlockOp d) {
        int base = d.base();
        cob.aload(CORE).loadConstant(d.seg() == 0 && (base == 4 || base == 5) ? 1 : 0).putfield(CD_CORE, "stackAddressed", CD_boolean);
        cob.loadConstant(d.disp());
        if (base >= 0) {
            register(cob, base, 8);
            cob.ladd();
        } else if (base == BlockOp.RIP) {
            cob.aload(CORE).getfield(CD_CORE, "rip", CD_long).loadConstant((long) d.length()).ladd().ladd();
        }
        if (d.index() >= 0) {
            register(cob, d.index(), 8);
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

    /** Register {@code n} (not a high byte) set to the long in local {@code slot}, as setRegOf: a 32-bit one zero-extended. */
    private static void setRegister(CodeBuilder cob, int n, int size, int slot) {
        registerArray(cob, n);
        cob.lload(slot);
        if (size == 4) {
            cob.loadConstant(0xFFFFFFFFL).land();
        }
        cob.lastore();
    }

    /** Pushes the register file and index {@code n}, for a store into it. */
    private static void registerArray(CodeBuilder cob, int n) {
        cob.aload(CORE).getfield(CD_CORE, "r", CD_LONGS).loadConstant(n);
    }

    /** Pushes register {@code n} (not a high byte) as a {@code size}-byte operand: all 64 bits, or the low 32. */
    private static void register(CodeBuilder cob, int n, int size) {
        registerArray(cob, n);
        cob.laload();
        if (size == 4) {
            cob.loadConstant(0xFFFFFFFFL).land();
        }
    }

    /** RIP moves past {@code d}. */
    private static void advance(CodeBuilder cob, BlockOp d) {
        cob.aload(CORE).dup().getfield(CD_CORE, "rip", CD_long).loadConstant((long) d.length()).ladd()
                .putfield(CD_CORE, "rip", CD_long);
    }
}

package io.jkvm.emu;

import java.lang.classfile.CodeBuilder;
import java.lang.classfile.Label;
import java.lang.classfile.instruction.SwitchCase;
import java.lang.constant.ConstantDescs;
import java.lang.constant.MethodTypeDesc;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static io.jkvm.emu.BlockCompiler.CD_COMPILED;
import static io.jkvm.emu.BlockCompiler.CD_CORE;
import static io.jkvm.emu.BlockCompiler.CD_LONGS;
import static java.lang.constant.ConstantDescs.CD_boolean;
import static java.lang.constant.ConstantDescs.CD_int;
import static java.lang.constant.ConstantDescs.CD_long;

/**
 * Where a compiled block's state is at each point of its method while {@link BlockCompiler} emits it: which guest
 * registers' locals are newer than the core's register file, which of its two lazy flag records (if any) is newer
 * than the core's, and the code that writes them back, at exits and in each instruction's fault handler.
 */
abstract class BodyState {
    /**
     * The run method's locals (0 is the compiled block itself): longs take two slots, each guest register has two.
     * HOST is a read-modify-write's host address of its operand, or -1 (CompiledForms.readRm); ADDRESS_RUN an address
     * run's look-up, the host address of its span's first byte or -1 ({@link AddressRuns}); XMM the core's XMM
     * registers' array where the method has SSE ops; RUN_HOST and RUN_LINEAR a stack run's look-up ({@link StackRuns});
     * LANES_DESTINATION and LANES_SOURCE the quadwords a PADD or PSUB of narrow lanes adds ({@link CompiledSse});
     * STACK_READ_PAGE to STACK_WRITE_HOST the stack pages found direct, PAGE_ACCESS, PAGE_OFFSET and PAGE_VALUE an
     * access's linear address, offset or host address, and stored value as it goes through them ({@link StackPages}).
     */
    static final int CORE = 1, LOOPED = 2, ONWARD = 3, RIP0 = 4, ADDRESS = 6, VALUE = 8, REGISTERS = 10,
            FLAGS = REGISTERS + 64, PROGRESS = FLAGS + 16, EXIT = PROGRESS + 2, HOST = EXIT + 2,
            PENDING_OP = HOST + 2, PENDING_SIZE = PENDING_OP + 1, PENDING_RECORD = PENDING_SIZE + 1,
            ROTATED = PENDING_RECORD + 8, XMM = ROTATED + 2, RUN_HOST = XMM + 1, RUN_LINEAR = RUN_HOST + 2,
            ADDRESS_RUN = RUN_LINEAR + 2, LANES_DESTINATION = ADDRESS_RUN + 2, LANES_SOURCE = LANES_DESTINATION + 2,
            STACK_READ_PAGE = LANES_SOURCE + 2, STACK_READ_HOST = STACK_READ_PAGE + 2,
            STACK_WRITE_PAGE = STACK_READ_HOST + 2, STACK_WRITE_HOST = STACK_WRITE_PAGE + 2,
            PAGE_ACCESS = STACK_WRITE_HOST + 2, PAGE_OFFSET = PAGE_ACCESS + 2, PAGE_VALUE = PAGE_OFFSET + 2;
    /**
     * {@link #flagOp} while the flags are the pending record's (its operation in the PENDING_OP local, 0 when the core
     * holds them): at the start of a block whose first instructions only fault before one sets them all.
     */
    static final int PENDING = -1;
    /** An exit's RIP offset when the code before it has set RIP already. */
    static final long RIP_SET = Long.MIN_VALUE;
    private static final MethodTypeDesc ROTATE_FLAGS = MethodTypeDesc.of(ConstantDescs.CD_void, CD_CORE, CD_int,
            CD_int, CD_long, CD_int);
    private static final MethodTypeDesc CONDITION = MethodTypeDesc.of(CD_boolean, CD_int, CD_long, CD_long, CD_long,
            CD_int, CD_long, CD_int), CARRY = MethodTypeDesc.of(CD_long, CD_int, CD_long, CD_long, CD_long, CD_int, CD_long);

    final CodeBuilder cob;
    /** The region's instructions, one block after the other. */
    final BlockOp[] insns;
    /** Where each instruction starts, from the entry block's start. */
    final long[] offsets;
    /** The region's blocks: where each starts in {@link #insns} (and the end, last), and their offsets. */
    private final int[] first;
    private final BlockRegion region;
    /** Whether a branch, call or return in the region goes back to the entry block's start. */
    final boolean loop;
    /** Per block: whether it starts where a CALL of the region returns to, so a RET may go on there in the method. */
    private final boolean[] returnSites;
    /** Per block: whether the flags are dead at its start, so a branch to it leaves them in locals. */
    private final boolean[] flagsDeadAtStart;
    /**
     * Per block: whether only a fault or an exit before its first instruction that sets them all sees the flags at its
     * start, so a branch to it leaves the record in the pending locals, which only the handlers and exits there read.
     */
    private final boolean[] flagsPendingAtStart;
    /** Per pending block: the registers it writes before it sets every flag. */
    private final long[] writtenBeforeFlags;
    /** The records a branch to a pending block leaves as their shape's number ({@link ImplicitRecords}). */
    private final ImplicitRecords implicit = new ImplicitRecords();
    /** By instruction and block: the shape of the record its branch there leaves as a number, or null. */
    private final ImplicitRecords.Shape[][] implicitShapes;
    final long used;
    /** Registers the region's compiled forms may write in their locals ({@link BlockCompiler#registersWritten}). */
    final long written;
    /** The runs of stack accesses one look-up serves. */
    final StackRuns stackRuns;
    /** Accesses through one base sharing a look-up (AddressRuns), through the ADDRESS_RUN local. */
    final AddressRuns addressRuns;
    /** Registers whose local is newer than the core's register file. */
    long dirty;
    /** The lazy flag record newer than the core's: its operation (0: the core's is current), size and slot (0 or 1). */
    int flagOp, flagSize, flagSlot;
    /**
     * A ROL or ROR over those flags ({@link #rotation}; 0 when none): its CF and OF replace theirs, its result in the
     * ROTATED local. Most rotates' flags are seen only if a later load faults, so they are computed only there.
     */
    int rotated;
    /** Whether code emitted here can run (false after an exit with no way on). */
    boolean reachable = true;
    /** Per block, where a branch to it in the method goes. */
    private final Label[] starts;

    BodyState(CodeBuilder cob, BlockRegion region) {
        this.cob = cob;
        this.region = region;
        covered = new HandlerRanges(cob);
        insns = region.insns();
        int blocks = region.blocks().length;
        first = new int[blocks + 1];
        offsets = new long[insns.length];
        flagsDeadAtStart = new boolean[blocks];
        flagsPendingAtStart = new boolean[blocks];
        writtenBeforeFlags = new long[blocks];
        starts = new Label[blocks];
        for (int k = 0, i = 0; k < blocks; k++) {
            first[k] = i;
            long at = region.starts()[k];
            for (BlockOp d : region.blocks()[k]) {
                offsets[i++] = at;
                at += d.length();
            }
            first[k + 1] = i;
            flagsDeadAtStart[k] = BlockCompiler.flagsDeadAtStart(region.blocks()[k]);
            flagsPendingAtStart[k] = !flagsDeadAtStart[k] && BlockCompiler.flagsSeenOnlyByFaults(region.blocks()[k]);
            writtenBeforeFlags[k] = flagsPendingAtStart[k] ? BlockCompiler.writtenBeforeFlags(region.blocks()[k]) : 0;
            starts[k] = cob.newLabel();
        }
        boolean loops = false;
        returnSites = new boolean[blocks];
        for (int i = 0; i < insns.length; i++) {
            loops |= branchTarget(i) == 0 || callTarget(i) == 0;
            if (insns[i].op() == BlockOp.CALL) {
                int k = region.blockAt(next(i));
                if (k >= 0) {
                    returnSites[k] = true;
                    loops |= k == 0;
                }
            }
        }
        for (int k = 0; k < blocks; k++) {
            loops |= fallThrough(k) == 0;
        }
        loop = loops;
        stackRuns = StackRuns.of(insns, first);
        addressRuns = AddressRuns.of(insns, first);
        used = BlockCompiler.registersUsed(insns);
        written = BlockCompiler.registersWritten(insns);
        // every shape a branch may leave, numbered before any code reads the PENDING_OP local
        implicitShapes = new ImplicitRecords.Shape[insns.length][blocks];
        for (int i = 0; i < insns.length; i++) {
            for (int k = 0; k < blocks; k++) {
                ImplicitRecords.Shape shape = branchesTo(i, k) ? implicitShape(i, k) : null;
                if (shape != null) {
                    implicit.add(shape);
                    implicitShapes[i][k] = shape;
                }
            }
        }
    }

    /** Whether instruction {@code i} may go on in the method at block {@code k}: its branch, call, return or block end. */
    private boolean branchesTo(int i, int k) {
        int b = blockOf(i);
        return branchTarget(i) == k || callTarget(i) == k || insns[i].op() == BlockOp.RET && returnSites[k]
                || i == first[b + 1] - 1 && fallThrough(b) == k;
    }

    /**
     * The shape of the flag record instruction {@code i}'s branch to pending block {@code k} may leave as its number:
     * the last instruction of {@code i}'s block to touch the flags, up to {@code i}, has one ({@link ImplicitRecords#of}),
     * and neither the instructions after it nor block {@code k} before it sets every flag write its registers. Else null.
     */
    private ImplicitRecords.Shape implicitShape(int i, int k) {
        if (!flagsPendingAtStart[k]) {
            return null;
        }
        long writes = 0;
        for (int j = i; j >= first[blockOf(i)]; j--) {
            BlockOp d = insns[j];
            ImplicitRecords.Shape shape = ImplicitRecords.of(d);
            if (shape != null) {
                return ((writes | writtenBeforeFlags[k]) & shape.registers()) == 0 ? shape : null;
            }
            boolean branch = j == i && switch (d.op()) {
                case BlockOp.JCC, BlockOp.JMP, BlockOp.CALL, BlockOp.RET -> true;
                default -> false;
            };
            if (!branch && !BlockCompiler.leavesFlags(d)) {
                return null;
            }
            writes |= BlockCompiler.registersWritten(d); // a CALL's or RET's RSP among them
        }
        return null;
    }

    /** The offset from the entry where instruction {@code i} ends: the next one's address. */
    long next(int i) {
        return offsets[i] + insns[i].length();
    }

    /** The region's blocks. */
    int blocks() {
        return first.length - 1;
    }

    /** Where block {@code k}'s instructions are in {@link #insns}: from {@code first(k)} to {@code first(k + 1)}. */
    int first(int k) {
        return first[k];
    }

    /** How many of its block's instructions have run once instruction {@code i} has. */
    int ran(int i) {
        return i + 1 - first[blockOf(i)];
    }

    private int blockOf(int i) {
        int k = 0;
        while (first[k + 1] <= i) {
            k++;
        }
        return k;
    }

    /** Where instruction {@code i}, a relative branch or CALL, goes: its offset from the entry block's start. */
    long target(int i) {
        return next(i) + insns[i].imm();
    }

    /** The block of the region instruction {@code i}, a Jcc or JMP, branches to; -1 when none or another kind. */
    int branchTarget(int i) {
        BlockOp d = insns[i];
        return d.op() == BlockOp.JCC || d.op() == BlockOp.JMP ? region.blockAt(target(i)) : -1;
    }

    /** The block of the region CALL {@code i} goes to; -1 when none or another kind. */
    int callTarget(int i) {
        return insns[i].op() == BlockOp.CALL ? region.blockAt(target(i)) : -1;
    }

    /** Whether block {@code k} starts where a CALL of the region returns to. */
    boolean returnSite(int k) {
        return returnSites[k];
    }

    /** Where block {@code k} starts, from the entry block's start. */
    long blockStart(int k) {
        return region.starts()[k];
    }

    /** The block of the region block {@code k} falls through to at its end, or -1. */
    int fallThrough(int k) {
        int last = first[k + 1] - 1;
        return insns[last].endsBlock() ? -1 : region.blockAt(next(last));
    }

    /** Whether the flags instruction {@code i} leaves are dead within its block ({@link BlockCompiler#flagsDeadAfter}). */
    boolean flagsDeadAfter(int i) {
        int k = blockOf(i);
        return BlockCompiler.flagsDeadAfter(java.util.Arrays.copyOfRange(insns, first[k], first[k + 1]), i - first[k]);
    }

    static int register(int n) {
        return REGISTERS + 2 * n;
    }

    static int flagDst(int i) {
        return FLAGS + 8 * i;
    }

    static int flagSrc(int i) {
        return FLAGS + 8 * i + 2;
    }

    static int flagRes(int i) {
        return FLAGS + 8 * i + 4;
    }

    static int flagCarry(int i) {
        return FLAGS + 8 * i + 6;
    }

    /**
     * The entry: RIP taken, the registers read into locals, the flag records zeroed (for the verifier). No shadow
     * covers the first instruction: runDecoded runs a shadowed one decoded.
     */
    void prologue() {
        cob.iconst_0().istore(LOOPED);
        cob.aload(CORE).getfield(CD_CORE, "rip", CD_long).lstore(RIP0);
        cob.lconst_0().lstore(PROGRESS);
        cob.lconst_0().lstore(EXIT);
        cob.aload(CORE).iconst_0().putfield(CD_CORE, "mmioReplayed", CD_int);
        for (int n = 0; n < 32; n++) {
            if ((used >>> n & 1) != 0) {
                cob.aload(CORE).getfield(CD_CORE, "r", CD_LONGS).loadConstant(n).laload().lstore(register(n));
            }
        }
        for (int i = 0; i < 2; i++) {
            for (int slot = flagDst(i); slot <= flagCarry(i); slot += 2) {
                cob.lconst_0().lstore(slot);
            }
        }
        cob.iconst_0().istore(PENDING_OP).iconst_0().istore(PENDING_SIZE);
        for (int slot = PENDING_RECORD; slot <= ROTATED; slot += 2) {
            cob.lconst_0().lstore(slot);
        }
        if (CompiledSse.any(insns, false)) {
            cob.aload(CORE).getfield(CD_CORE, "xmm", BlockCompiler.CD_LONGS).astore(XMM);
        }
        if (stackRuns.any()) {
            cob.loadConstant(-1L).lstore(RUN_HOST).lconst_0().lstore(RUN_LINEAR);
        }
        StackPages.forget(cob, insns);
        if (blocks() > 1) {
            entries();
        }
        if (loop) {
            dirty = written; // the state each round starts from: any it writes may have changed in the round before
            flagOp = flagsPendingAtStart[0] ? PENDING : 0; // from the entry, nothing pending: the core holds them
            cob.labelBinding(starts[0]);
        }
    }

    /**
     * The jump to the block this instance enters at ({@link CompiledBlock#entry}), RIP0 made the entry block's start
     * from there: that block starts with the registers in locals and the flags in the core, as after a branch to it.
     */
    private void entries() {
        Label entryBlock = cob.newLabel();
        List<SwitchCase> cases = new java.util.ArrayList<>();
        Label[] jumps = new Label[blocks()];
        for (int k = 1; k < blocks(); k++) {
            jumps[k] = cob.newLabel();
            cases.add(SwitchCase.of(k, jumps[k]));
        }
        cob.aload(0).getfield(CD_COMPILED, "entry", CD_int).tableswitch(1, blocks() - 1, entryBlock, cases);
        for (int k = 1; k < blocks(); k++) {
            cob.labelBinding(jumps[k]);
            cob.lload(RIP0).loadConstant(region.starts()[k]).lsub().lstore(RIP0);
            cob.goto_(starts[k]);
        }
        cob.labelBinding(entryBlock);
    }

    /**
     * What a handler puts back: the registers' locals when any is newer than the register file, a flag record, or the
     * flags saved before a form the executor runs. Instructions with the same share one handler (the method's
     * bytecode counts against the JIT's inlining budget, hot or not); which instruction it was is in the PROGRESS local.
     */
    private record HandlerKey(boolean flush, int flagOp, int flagSize, int flagSlot, int rotated, boolean restoreFlags) {
        // written out, as ExitKey's: the first compile of a launch would make the record's method handles
        @Override
        public boolean equals(Object o) {
            return o instanceof HandlerKey k && flush == k.flush && flagOp == k.flagOp && flagSize == k.flagSize
                    && flagSlot == k.flagSlot && rotated == k.rotated && restoreFlags == k.restoreFlags;
        }

        @Override
        public int hashCode() {
            return ((((Boolean.hashCode(flush) * 31 + flagOp) * 31 + flagSize) * 31 + flagSlot) * 31 + rotated) * 31
                    + Boolean.hashCode(restoreFlags);
        }
    }

    /** A fault point: instruction {@code index}, and what its handler puts back. */
    record HandlerState(int index, HandlerKey key) {
    }

    /**
     * What an exit writes back (the registers whose locals are newer there, {@code flush}) and returns; its count and
     * RIP offset are in the EXIT local. Exits alike share code.
     */
    private record ExitKey(long flush, int flagOp, int flagSize, int flagSlot, int rotated, boolean branched,
                           boolean setRip, boolean boundary) {
        // written out: the record's generated equality makes its method handles at first use, in a launch's first compile
        @Override
        public boolean equals(Object o) {
            return o instanceof ExitKey k && flush == k.flush && flagOp == k.flagOp && flagSize == k.flagSize
                    && flagSlot == k.flagSlot && rotated == k.rotated && branched == k.branched && setRip == k.setRip
                    && boundary == k.boundary;
        }

        @Override
        public int hashCode() {
            int h = Long.hashCode(flush);
            h = 31 * h + flagOp;
            h = 31 * h + flagSize;
            h = 31 * h + flagSlot;
            h = 31 * h + rotated;
            h = 31 * h + Boolean.hashCode(branched);
            h = 31 * h + Boolean.hashCode(setRip);
            return 31 * h + Boolean.hashCode(boundary);
        }
    }

    private final Map<HandlerKey, Label> handlerCode = new LinkedHashMap<>();
    private final Map<ExitKey, Label> exitCode = new LinkedHashMap<>();
    private final HandlerRanges covered;

    /** The state instruction {@code i}'s handler puts back (the state before it), or null when its code cannot throw. */
    HandlerState handlerState(int i, BlockOp d) {
        if (!BlockCompiler.compiled(d)) {
            return new HandlerState(i, new HandlerKey(false, 0, 0, 0, 0, d.flagsBeforeStore())); // the core holds all before it
        }
        if (!BlockCompiler.mayThrow(d)) {
            return null;
        }
        return new HandlerState(i, new HandlerKey(dirty != 0, flagOp, flagOp <= 0 ? 0 : flagSize, flagOp <= 0 ? 0 : flagSlot,
                rotated, d.op() == BlockOp.LOCKED)); // its interpreted way sets the flags before a store that may fault
    }

    /**
     * Sets the PROGRESS local before the code of {@code state}'s instruction: its offset from the entry block's start,
     * and its index in its own block.
     */
    void progress(HandlerState state) {
        cob.loadConstant(offsets[state.index()] << 8 | (ran(state.index()) - 1)).lstore(PROGRESS);
    }

    /** A handler putting back {@code state} for the code from {@code start} to {@code end}, its instruction's. */
    void cover(HandlerState state, Label start, Label end) {
        int i = state.index();
        covered.cover(i, i == first(blockOf(i)), start, end, handlerCode.computeIfAbsent(state.key(), k -> cob.newLabel()));
    }

    /**
     * The handlers and exits, after the method's code. A handler puts back the state before its instruction (the
     * registers the region writes, all of them when any local is newer, as the others equal the register file's; the flag
     * record; RIP) and which instruction it is, counts the rounds before, and rethrows.
     * An exit writes back the registers newer in locals there and the flag record, sets RIP and the count, and returns.
     */
    void handlers() {
        covered.close();
        handlerCode.forEach((key, code) -> {
            cob.labelBinding(code);
            emitFlush(key.flush() ? written : 0);
            emitMaterialize(key.flagOp(), key.flagSize(), key.flagSlot());
            emitRotation(key.rotated());
            if (key.restoreFlags()) {
                cob.aload(CORE).invokevirtual(CD_CORE, "restoreFlags", ConstantDescs.MTD_void);
            }
            cob.aload(CORE).lload(RIP0).lload(PROGRESS).loadConstant(8).lshr().ladd().putfield(CD_CORE, "rip", CD_long);
            cob.aload(CORE).lload(PROGRESS).l2i().loadConstant(0xFF).iand().putfield(CD_CORE, "blockProgress", CD_int);
            cob.aload(CORE).dup().getfield(CD_CORE, "instructions", CD_long).iload(LOOPED).i2l().ladd()
                    .putfield(CD_CORE, "instructions", CD_long);
            cob.athrow();
        });
        exitCode.forEach((key, code) -> {
            cob.labelBinding(code);
            emitFlush(key.flush());
            emitMaterialize(key.flagOp(), key.flagSize(), key.flagSlot());
            emitRotation(key.rotated());
            if (key.setRip()) {
                cob.aload(CORE).lload(RIP0).lload(EXIT).loadConstant(8).lshr().ladd().putfield(CD_CORE, "rip", CD_long);
            }
            if (key.branched()) {
                cob.aload(CORE).iconst_1().putfield(CD_CORE, "branched", CD_boolean);
            }
            cob.iload(LOOPED).lload(EXIT).l2i().loadConstant(0xFF).iand().iadd().istore(ONWARD); // the count
            cob.aload(CORE).dup().getfield(CD_CORE, "instructions", CD_long).iload(ONWARD).i2l().ladd()
                    .putfield(CD_CORE, "instructions", CD_long);
            cob.iload(ONWARD);
            if (key.boundary()) {
                cob.ineg();
            }
            cob.ireturn();
        });
    }

    /** Emits {@code d} as the block executor runs it: the core holds everything before it, the locals read back after. */
    abstract void generic(BlockOp d, int i);

    // ---- registers -------------------------------------------------------------------------------------------------

    /** Pushes register {@code n} as a {@code size}-byte operand; HIGH_BYTE + 0-3 are AH-BH, bits 8-15 of RAX-RBX. */
    void loadRegister(int n, int size) {
        if (n >= BlockOp.HIGH_BYTE) {
            cob.lload(register(n - BlockOp.HIGH_BYTE)).loadConstant(8).lushr();
        } else {
            cob.lload(register(n));
        }
        mask(size);
    }

    /** Pops a long into register {@code n} as a {@code size}-byte write: 4 zero-extends, 1 and 2 keep the rest. */
    void storeRegister(int n, int size) {
        if ((written >>> n & 1) == 0) { // else no exit would write it back
            throw new IllegalStateException("a compiled form writes register " + n + " outside its region's written set");
        }
        switch (size) {
            case 8 -> cob.lstore(register(n));
            case 4 -> cob.loadConstant(0xFFFFFFFFL).land().lstore(register(n));
            default -> {
                long m = CpuState.mask(size);
                cob.loadConstant(m).land().lload(register(n)).loadConstant(~m).land().lor().lstore(register(n));
            }
        }
        dirty |= 1L << n;
    }

    private void mask(int size) {
        if (size != 8) {
            cob.loadConstant(CpuState.mask(size)).land();
        }
    }

    /** Writes the newer locals back to the register file; they stay current. */
    void flushRegisters() {
        emitFlush(dirty);
        dirty = 0;
    }

    /** Writes register {@code n}'s local back if it is newer. */
    void flushRegister(int n) {
        emitFlush(dirty & 1L << n);
        dirty &= ~(1L << n);
    }

    /** Reads every held register back from the register file (after code that may have changed it). */
    void reloadRegisters() {
        for (int n = 0; n < 32; n++) {
            if ((used >>> n & 1) != 0) {
                reloadRegister(n);
            }
        }
        dirty = 0;
    }

    void reloadRegister(int n) {
        cob.aload(CORE).getfield(CD_CORE, "r", CD_LONGS).loadConstant(n).laload().lstore(register(n));
        dirty &= ~(1L << n);
    }

    private void emitFlush(long registers) {
        for (int n = 0; n < 32; n++) {
            if ((registers >>> n & 1) != 0) {
                cob.aload(CORE).getfield(CD_CORE, "r", CD_LONGS).loadConstant(n).lload(register(n)).lastore();
            }
        }
    }

    // ---- flags -----------------------------------------------------------------------------------------------------

    /**
     * The record a flag-setting instruction writes: not the pending one, which its handler may still put back. Two
     * records in turn keep few locals live (each one a handler may read stays live to it).
     */
    int freeRecord() {
        return flagOp == 0 ? 0 : 1 - flagSlot;
    }

    /** Flag record {@code i} (its slots already hold operands, result and carry) is the flags now. */
    void setFlags(int op, int size, int i) {
        flagOp = op;
        flagSize = size;
        flagSlot = i;
        rotated = 0;
    }

    /** The core's flags are current: an instruction set them there. */
    void flagsInCore() {
        flagOp = 0;
        rotated = 0;
    }

    /** Writes the newer flag record (and a rotation over it) to the core, which then holds the flags. */
    void materializeFlags() {
        emitFlagsToCore();
        flagOp = 0;
        rotated = 0;
    }

    /** Writes the flags now to the core (the record, and a rotation over it), leaving what this state says of them. */
    private void emitFlagsToCore() {
        emitMaterialize(flagOp, flagSize, flagSlot);
        emitRotation(rotated);
    }

    /** The flags a ROL or ROR of {@code size} bytes by {@code count} (masked, not 0) leaves, as {@link #rotated} says. */
    static int rotation(int sub, int size, int count) {
        return 1 << 16 | sub << 12 | size << 8 | count;
    }

    /**
     * Called before a ROL or ROR whose flags may be seen: the flags it rotates over made a record or the core's, so
     * that its own rotation (ROTATED, after its store) is the only one ({@link #rotatedOver}).
     */
    void beforeRotation() {
        if (flagOp == PENDING || rotated != 0) {
            materializeFlags();
        }
    }

    /** A ROL or ROR, its result in the ROTATED local, set its CF and OF over the flags there are. */
    void rotatedOver(int sub, int size, int count) {
        rotated = rotation(sub, size, count);
    }

    /** Applies rotation {@code r} ({@link #rotation}, or 0) to the flags in the core, with the ROTATED local's result. */
    private void emitRotation(int r) {
        if (r != 0) {
            cob.aload(CORE).loadConstant(r >>> 12 & 0xF).loadConstant(r >>> 8 & 0xF).lload(ROTATED).loadConstant(r & 0xFF)
                    .invokestatic(BlockCompiler.desc(ShiftsAndBits.class), "rotateFlagsInCore", ROTATE_FLAGS);
        }
    }

    private void emitMaterialize(int op, int size, int i) {
        if (op == 0) {
            return;
        }
        if (op == PENDING) { // the pending record, if there is one
            Label none = cob.newLabel();
            cob.iload(PENDING_OP).ifeq(none);
            if (implicit.count() > 0) {
                Label inLocals = cob.newLabel();
                cob.iload(PENDING_OP).ifgt(inLocals);
                for (int n = 0; n < implicit.count(); n++) {
                    Label other = cob.newLabel();
                    cob.iload(PENDING_OP).loadConstant(ImplicitRecords.pendingOp(n)).if_icmpne(other);
                    ImplicitRecords.emit(this, implicit.get(n));
                    cob.goto_(none);
                    cob.labelBinding(other);
                }
                cob.goto_(none); // no other number is ever stored
                cob.labelBinding(inLocals);
            }
            cob.aload(CORE).iload(PENDING_OP).putfield(CD_CORE, "lazyOp", CD_int);
            cob.aload(CORE).lload(PENDING_RECORD).putfield(CD_CORE, "lazyDst", CD_long);
            cob.aload(CORE).lload(PENDING_RECORD + 2).putfield(CD_CORE, "lazySrc", CD_long);
            cob.aload(CORE).lload(PENDING_RECORD + 4).putfield(CD_CORE, "lazyRes", CD_long);
            cob.aload(CORE).iload(PENDING_SIZE).putfield(CD_CORE, "lazySize", CD_int);
            cob.aload(CORE).lload(PENDING_RECORD + 6).putfield(CD_CORE, "lazyCarry", CD_long);
            cob.labelBinding(none);
            return;
        }
        cob.aload(CORE).loadConstant(op).putfield(CD_CORE, "lazyOp", CD_int);
        cob.aload(CORE).lload(flagDst(i)).putfield(CD_CORE, "lazyDst", CD_long);
        cob.aload(CORE).lload(flagSrc(i)).putfield(CD_CORE, "lazySrc", CD_long);
        cob.aload(CORE).lload(flagRes(i)).putfield(CD_CORE, "lazyRes", CD_long);
        cob.aload(CORE).loadConstant(size).putfield(CD_CORE, "lazySize", CD_int);
        if (readsCarry(op)) { // as the core's own records: an ADD's or SUB's leaves the field as it was
            cob.aload(CORE).lload(flagCarry(i)).putfield(CD_CORE, "lazyCarry", CD_long);
        }
    }

    /**
     * Whether {@link LazyFlags} reads a record's carry for operation {@code op}: the CF INC/DEC keep, the carry-in of
     * ADC/SBB, what a shift keeps. Otherwise its local is left unstored, and dead once nothing else reads it.
     */
    static boolean readsCarry(int op) {
        return switch (op) {
            case CpuState.LAZY_ADD, CpuState.LAZY_SUB, CpuState.LAZY_LOGIC, CpuState.LAZY_NEG -> false;
            default -> true;
        };
    }

    /**
     * Puts a pending record (if any) or a rotation in the core, for code that reads the flags: no compiled form reads a
     * pending one or rotates one itself.
     */
    void settleFlags() {
        if (flagOp == PENDING || rotated != 0) {
            materializeFlags();
        }
    }

    /** Pushes whether condition {@code cc} holds on the flags now. */
    void condition(int cc) {
        settleFlags();
        if (flagOp == 0) {
            cob.aload(CORE).loadConstant(cc).invokevirtual(CD_CORE, "condition", MethodTypeDesc.of(CD_boolean, CD_int));
            return;
        }
        if (CompiledConditions.condition(this, cc)) {
            return;
        }
        pushRecord();
        cob.loadConstant(cc).invokestatic(BlockCompiler.desc(LazyFlags.class), "condition", CONDITION);
    }

    /**
     * Pushes CF now as a long, 1 or 0: from the record in locals where its operation allows ({@link
     * CompiledConditions#carry}), else through LazyFlags.cf (after NEG and the shifts) or the core's.
     */
    void carry() {
        settleFlags();
        if (flagOp == 0) {
            cob.aload(CORE).invokevirtual(CD_CORE, "cf", MethodTypeDesc.of(CD_boolean)).i2l();
        } else if (!CompiledConditions.carry(this)) {
            pushRecord();
            cob.invokestatic(BlockCompiler.desc(LazyFlags.class), "cf", CARRY);
        }
    }

    /** Pushes the AF and OF now, as a long: what a shift keeps of them. */
    void keptByShift() {
        settleFlags();
        if (flagOp == 0) {
            cob.aload(CORE).invokevirtual(CD_CORE, "arithFlags", MethodTypeDesc.of(CD_long))
                    .loadConstant(CpuState.AF | CpuState.OF).land();
            return;
        }
        pushRecord();
        cob.invokestatic(BlockCompiler.desc(LazyFlags.class), "keptByShift", CARRY);
    }

    private void pushRecord() {
        cob.loadConstant(flagOp).lload(flagDst(flagSlot)).lload(flagSrc(flagSlot)).lload(flagRes(flagSlot))
                .loadConstant(flagSize);
        pushCarry(flagOp, flagSlot);
    }

    /** Pushes record {@code i}'s carry, or 0 for an operation whose carry nothing reads (its local may be stale). */
    private void pushCarry(int op, int i) {
        if (readsCarry(op)) {
            cob.lload(flagCarry(i));
        } else {
            cob.lconst_0();
        }
    }

    // ---- RIP, exits and the loop ----------------------------------------------------------------------------------

    /** RIP set to the block's start plus {@code offset}. */
    void emitRip(long offset) {
        cob.aload(CORE).lload(RIP0).loadConstant(offset).ladd().putfield(CD_CORE, "rip", CD_long);
    }

    /** Pushes the block's start plus {@code offset}. */
    void pushRip(long offset) {
        cob.lload(RIP0).loadConstant(offset).ladd();
    }

    /**
     * A return after {@code n} instructions of this round: the locals and the flag record written back (the state
     * here goes on for the code after, on another path), RIP set unless {@code ripOffset} is {@link #RIP_SET}, the
     * instructions counted. The result is negative when {@code boundary} says the caller must see the boundary.
     */
    void exit(int n, boolean branched, long ripOffset, boolean boundary) {
        ExitKey key = new ExitKey(dirty, flagOp, flagOp <= 0 ? 0 : flagSize, flagOp <= 0 ? 0 : flagSlot, rotated,
                branched, ripOffset != RIP_SET, boundary);
        cob.loadConstant((ripOffset == RIP_SET ? 0 : ripOffset << 8) | n).lstore(EXIT);
        cob.goto_(exitCode.computeIfAbsent(key, k -> cob.newLabel()));
    }

    /**
     * A branch from instruction {@code i} to block {@code k} of the region: on in the method until
     * {@link BlockExecution#CHAIN_LIMIT} instructions have run in it, else a return. The back edge reads no field
     * another thread writes (the interrupt lines are volatile): the JIT then keeps the core's fields in registers
     * across rounds, and a raised line is taken by runBlock when the method leaves, at most CHAIN_LIMIT instructions
     * later. The block starts with the registers in locals and the flags in the core (or dead).
     */
    void branchTo(int i, int k) {
        long target = region.starts()[k];
        ImplicitRecords.Shape shape = rotated == 0 ? implicitShapes[i][k] : null; // null unless k is pending
        if (shape != null && flagOp == shape.op() && flagSize == shape.size()) {
            // the record is its shape's number: its operands are in their registers' locals until the block sets the flags
            cob.loadConstant(ImplicitRecords.pendingOp(implicit.indexOf(shape))).istore(PENDING_OP);
        } else if (flagsPendingAtStart[k]) {
            pend(); // only a fault or an exit before the block sets them reads them: no stores on the way round
        } else if (!flagsDeadAtStart[k]) {
            emitFlagsToCore(); // the block reads them, or may fault before setting them
        }
        cob.iinc(LOOPED, ran(i));
        cob.iload(LOOPED).loadConstant(BlockExecution.CHAIN_LIMIT).if_icmplt(starts[k]);
        exit(0, true, target, false);
    }

    /** The flags now to the pending locals: their record, or none (PENDING_OP 0) when the core holds them. */
    private void pend() {
        if (flagOp == PENDING) {
            return; // they are there
        }
        if (rotated != 0) { // the pending locals hold one record: these flags to the core
            emitFlagsToCore();
            cob.iconst_0().istore(PENDING_OP);
            return;
        }
        if (flagOp == 0) {
            cob.iconst_0().istore(PENDING_OP);
            return;
        }
        cob.loadConstant(flagOp).istore(PENDING_OP).loadConstant(flagSize).istore(PENDING_SIZE);
        cob.lload(flagDst(flagSlot)).lstore(PENDING_RECORD).lload(flagSrc(flagSlot)).lstore(PENDING_RECORD + 2)
                .lload(flagRes(flagSlot)).lstore(PENDING_RECORD + 4);
        pushCarry(flagOp, flagSlot);
        cob.lstore(PENDING_RECORD + 6);
    }

    /**
     * Block {@code k} (not the entry) starts here, reached only by branches: registers in locals, flags in the core or
     * pending.
     */
    void enterBlock(int k) {
        cob.labelBinding(starts[k]);
        dirty = written;
        flagOp = flagsPendingAtStart[k] ? PENDING : 0;
        rotated = 0;
        reachable = true;
    }
}

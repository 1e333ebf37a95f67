package io.jkvm.emu;

import java.lang.classfile.CodeBuilder;
import java.lang.classfile.Label;
import java.lang.constant.ClassDesc;
import java.lang.constant.MethodTypeDesc;

import static io.jkvm.emu.BlockCompiler.CD_CORE;
import static io.jkvm.emu.BlockCompiler.CD_LONGS;
import static io.jkvm.emu.BodyState.ADDRESS;
import static io.jkvm.emu.BodyState.CORE;
import static io.jkvm.emu.BodyState.VALUE;
import static java.lang.constant.ConstantDescs.CD_boolean;
import static java.lang.constant.ConstantDescs.CD_int;
import static java.lang.constant.ConstantDescs.CD_long;
import static java.lang.constant.ConstantDescs.CD_void;

/**
 * The bytecode of a {@link BlockOp#SSE} op, without the interpreter's checks (SSE enabled, SSSE3 in the model), as
 * runDecoded enters a region with SSE ops only while {@link SseLanes#ready} holds ({@link CompiledBlock#sse}): the op
 * on the core's XMM registers (the XMM local) with their indexes as constants: moves,
 * logic, PADD, PSUB, PSHUFD and logical shifts as their few operations on the quadwords, the others through the
 * {@link SseLanes} method the interpreter runs; MOVD and MOVQ with a general register move between that register's
 * local and the XMM register directly.
 */
final class CompiledSse {
    private static final ClassDesc CD_SSE = BlockCompiler.desc(Sse.class), CD_LANES = BlockCompiler.desc(SseLanes.class);
    private static final MethodTypeDesc TWO = MethodTypeDesc.of(CD_void, CD_LONGS, CD_int, CD_LONGS, CD_int),
            ONE_CONSTANT = MethodTypeDesc.of(CD_void, CD_int, CD_LONGS, CD_int, CD_LONGS, CD_int),
            TWO_CONSTANTS = MethodTypeDesc.of(CD_void, CD_int, CD_int, CD_LONGS, CD_int, CD_LONGS, CD_int),
            SHIFT = MethodTypeDesc.of(CD_void, CD_LONGS, CD_int, CD_int, CD_int, CD_int),
            MISALIGNED = MethodTypeDesc.of(CD_void, CD_CORE, CD_boolean);

    private CompiledSse() {
    }

    /** Whether {@code insns} have an SSE op, or with {@code pshufb} SSSE3's PSHUFB: what runDecoded asks SseLanes.ready. */
    static boolean any(BlockOp[] insns, boolean pshufb) {
        for (BlockOp d : insns) {
            if (d.op() == BlockOp.SSE && (!pshufb || d.sub() == SseForms.PSHUFB)) {
                return true;
            }
        }
        return false;
    }

    static void emit(BodyState b, BlockOp d, int i) {
        CodeBuilder cob = b.cob;
        if (d.rm() == BlockOp.MEMORY) {
            memory(b, d, i);
            return;
        }
        int x = 2 * d.reg(), y = 2 * d.rm();
        switch (d.sub()) {
            case SseForms.MOVE, SseForms.PSHUFB, SseForms.LOGIC, SseForms.PSHUFD, SseForms.UNPACK, SseForms.LANES ->
                    binary(b, d, false);
            case SseForms.SHIFT -> shift(b, d, x);
            case SseForms.TO_XMM -> {
                xmm(b);
                cob.loadConstant(x);
                b.loadRegister(d.rm(), d.size());
                cob.lastore();
                zeroHigh(b, x);
            }
            case SseForms.FROM_XMM -> {
                xmm(b);
                cob.loadConstant(x).laload();
                b.storeRegister(d.rm(), d.size()); // a 4-byte write zero-extends, as MOVD r32 does
            }
            case SseForms.MOVQ -> {
                xmm(b);
                cob.loadConstant(x);
                xmm(b);
                cob.loadConstant(y).laload().lastore();
                zeroHigh(b, x);
            }
            default -> throw new IllegalStateException("no compiled SSE form " + d.sub());
        }
    }

    /**
     * A two-operand op on XMM {@code reg}, its source XMM {@code rm} or, when {@code fromMemory}, the operand
     * {@link #memory} read into the core's scratch: {@link #inPlace} where it takes the form, else its SseLanes method.
     */
    private static void binary(BodyState b, BlockOp d, boolean fromMemory) {
        if (inPlace(b, d, fromMemory)) {
            return;
        }
        CodeBuilder cob = b.cob;
        String name;
        MethodTypeDesc type = ONE_CONSTANT;
        switch (d.sub()) { // the forms inPlace leaves: PSHUFB, the compares, the unpacks
            case SseForms.PSHUFB -> {
                name = "pshufb";
                type = TWO;
            }
            case SseForms.LANES -> {
                cob.loadConstant((int) d.size()).loadConstant((int) d.imm());
                name = "lanes";
                type = TWO_CONSTANTS;
            }
            default -> {
                cob.loadConstant((int) d.imm());
                name = "unpack";
            }
        }
        xmm(b);
        cob.loadConstant(2 * d.reg());
        if (fromMemory) {
            scratch(b);
            cob.iconst_0();
        } else {
            xmm(b);
            cob.loadConstant(2 * d.rm());
        }
        cob.invokestatic(CD_LANES, name, type);
    }

    // The forms below are emitted as their few operations on the quadwords, with the lane masks and dword choices as
    // constants, rather than as calls of SseLanes' general methods: each of those, inlined, brings its whole bytecode
    // into C2's budget of a method (8000 bytes), after which every op left is a call. A result's two quadwords are
    // computed from the source's before either is stored, as SseLanes reads a source whole first.

    /**
     * A MOVE, a LOGIC op, PADD or PSUB, or PSHUFD as the operations it is on the quadwords ({@link Sse#logic},
     * {@link Sse#lanes}, {@link SseLanes#pshufd}); false for the others, which call their SseLanes method.
     */
    private static boolean inPlace(BodyState b, BlockOp d, boolean fromMemory) {
        CodeBuilder cob = b.cob;
        int x = 2 * d.reg(), kind = (int) d.imm(), lane = (int) d.size();
        switch (d.sub()) {
            case SseForms.MOVE -> {
                xmm(b);
                cob.loadConstant(x);
                source(b, d, fromMemory, 0);
                xmm(b);
                cob.loadConstant(x + 1);
                source(b, d, fromMemory, 1);
                cob.lastore().lastore();
            }
            case SseForms.LOGIC -> {
                for (int half = 0; half < 2; half++) {
                    xmm(b);
                    cob.loadConstant(x + half).dup2().laload(); // the quadword, and where it goes back
                    if (kind == 1) {
                        cob.loadConstant(-1L).lxor(); // PANDN: NOT the destination, AND the source
                    }
                    source(b, d, fromMemory, half);
                    switch (kind) {
                        case 0, 1 -> cob.land();
                        case 2 -> cob.lor();
                        default -> cob.lxor();
                    }
                    cob.lastore();
                }
            }
            case SseForms.LANES -> {
                if (kind > 1) {
                    return false; // the compares
                }
                for (int half = 0; half < 2; half++) {
                    xmm(b);
                    cob.loadConstant(x + half).dup2().laload(); // the quadword, and where it goes back
                    source(b, d, fromMemory, half);
                    if (lane == 8) {
                        if (kind == 0) {
                            cob.ladd();
                        } else {
                            cob.lsub();
                        }
                    } else {
                        lanes(cob, kind == 0, Sse.topBits(lane));
                    }
                    cob.lastore();
                }
            }
            case SseForms.PSHUFD -> {
                for (int half = 0; half < 2; half++) {
                    xmm(b);
                    cob.loadConstant(x + half);
                    dword(b, d, fromMemory, kind >>> 4 * half & 3, false);
                    dword(b, d, fromMemory, kind >>> 4 * half + 2 & 3, true);
                    cob.lor();
                }
                cob.lastore().lastore();
            }
            default -> {
                return false;
            }
        }
        return true;
    }

    /**
     * {@link Sse#addLanes} or {@link Sse#subtractLanes} of the two quadwords on the stack, written out: C2 inlines
     * calls into a method until its bytecode and theirs reach 8000 bytes, which a region's own reaches first.
     */
    private static void lanes(CodeBuilder cob, boolean add, long top) {
        cob.lstore(BodyState.LANES_SOURCE).lstore(BodyState.LANES_DESTINATION);
        if (add) { // ((d & ~top) + (s & ~top)) ^ ((d ^ s) & top)
            cob.lload(BodyState.LANES_DESTINATION).loadConstant(~top).land();
            cob.lload(BodyState.LANES_SOURCE).loadConstant(~top).land().ladd();
            cob.lload(BodyState.LANES_DESTINATION).lload(BodyState.LANES_SOURCE).lxor();
        } else { // ((d | top) - (s & ~top)) ^ ((d ^ ~s) & top)
            cob.lload(BodyState.LANES_DESTINATION).loadConstant(top).lor();
            cob.lload(BodyState.LANES_SOURCE).loadConstant(~top).land().lsub();
            cob.lload(BodyState.LANES_DESTINATION).lload(BodyState.LANES_SOURCE).loadConstant(-1L).lxor().lxor();
        }
        cob.loadConstant(top).land().lxor();
    }

    /** Pushes quadword {@code half} of the source: XMM rm's, or the memory operand's in the core's scratch. */
    private static void source(BodyState b, BlockOp d, boolean fromMemory, int half) {
        if (fromMemory) {
            scratch(b);
            b.cob.loadConstant(half);
        } else {
            xmm(b);
            b.cob.loadConstant(2 * d.rm() + half);
        }
        b.cob.laload();
    }

    /** Pushes the source's dword {@code which} (0-3) as a quadword's low dword, or its high one when {@code high}. */
    private static void dword(BodyState b, BlockOp d, boolean fromMemory, int which, boolean high) {
        CodeBuilder cob = b.cob;
        source(b, d, fromMemory, which >> 1);
        boolean upper = (which & 1) != 0;
        if (high) {
            if (upper) {
                cob.loadConstant(0xFFFF_FFFF_0000_0000L).land();
            } else {
                cob.bipush(32).lshl();
            }
        } else if (upper) {
            cob.bipush(32).lushr();
        } else {
            cob.loadConstant(0xFFFF_FFFFL).land();
        }
    }

    /**
     * PSRL and PSLL by an immediate as a shift of each quadword and a mask of what stays in its lanes
     * ({@link Sse#shiftLanes}); PSRA through {@link SseLanes#shift}.
     */
    private static void shift(BodyState b, BlockOp d, int x) {
        CodeBuilder cob = b.cob;
        int lane = (int) d.size(), kind = (int) (d.imm() >>> 8), count = (int) (d.imm() & 0xFF);
        if (kind == 4) {
            xmm(b);
            cob.loadConstant(x).loadConstant(lane).loadConstant(kind).loadConstant(count)
                    .invokestatic(CD_LANES, "shift", SHIFT);
            return;
        }
        for (int half = 0; half < 2; half++) {
            xmm(b);
            cob.loadConstant(x + half);
            if (count >= 8 * lane) {
                cob.lconst_0();
            } else {
                cob.dup2().laload().loadConstant(count);
                if (kind == 2) {
                    cob.lushr();
                } else {
                    cob.lshl();
                }
                cob.loadConstant(Sse.logicalShiftMask(lane, kind, count)).land();
            }
            cob.lastore();
        }
    }

    /**
     * A form with a memory operand, its address in ADDRESS: as the interpreter runs it, the alignment check first,
     * every read before the XMM register changes (so a fault at the second quadword leaves it), a 16-byte store as two
     * 8-byte ones in order. The block compiler retires the MMIO log after, and leaves at a store to a device or code.
     */
    private static void memory(BodyState b, BlockOp d, int i) {
        CodeBuilder cob = b.cob;
        CompiledForms.address(b, d, i);
        int x = 2 * d.reg();
        switch (d.sub()) {
            case SseForms.STORE -> {
                if (d.imm() != 0) {
                    aligned(b, true);
                }
                for (int half = 0; half < 2; half++) {
                    cob.aload(CORE).lload(ADDRESS).loadConstant(8L * half).ladd();
                    xmm(b);
                    cob.loadConstant(x + half).laload();
                    CompiledForms.write(cob, d, 8);
                }
            }
            case SseForms.FROM_XMM -> {
                cob.aload(CORE).lload(ADDRESS);
                xmm(b);
                cob.loadConstant(x).laload();
                CompiledForms.write(cob, d, d.size()); // the low bytes of the quadword
            }
            case SseForms.TO_XMM, SseForms.MOVQ -> {
                cob.aload(CORE).lload(ADDRESS);
                CompiledForms.read(cob, d, d.size(), false);
                cob.lstore(VALUE);
                xmm(b);
                cob.loadConstant(x).lload(VALUE).lastore();
                zeroHigh(b, x);
            }
            default -> {
                if (d.sub() != SseForms.MOVE || d.imm() != 0) {
                    aligned(b, d.sub() == SseForms.MOVE);
                } // MOVUPS and MOVDQU take any address
                for (int half = 0; half < 2; half++) {
                    scratch(b);
                    cob.loadConstant(half).aload(CORE).lload(ADDRESS).loadConstant(8L * half).ladd();
                    CompiledForms.read(cob, d, 8, false);
                    cob.lastore();
                }
                binary(b, d, true);
            }
        }
    }

    /** The interpreter's check of a 16-byte operand's alignment ({@link Sse#misaligned}), at ADDRESS. */
    private static void aligned(BodyState b, boolean strict) {
        CodeBuilder cob = b.cob;
        Label ok = cob.newLabel();
        cob.lload(ADDRESS).loadConstant(15L).land().lconst_0().lcmp().ifeq(ok);
        cob.aload(CORE).loadConstant(strict ? 1 : 0).invokestatic(CD_SSE, "misaligned", MISALIGNED);
        cob.labelBinding(ok);
    }

    private static void scratch(BodyState b) {
        b.cob.aload(CORE).getfield(CD_CORE, "sseOperand", CD_LONGS);
    }

    private static void zeroHigh(BodyState b, int x) {
        xmm(b);
        b.cob.loadConstant(x + 1).lconst_0().lastore();
    }

    private static void xmm(BodyState b) {
        b.cob.aload(BodyState.XMM);
    }
}

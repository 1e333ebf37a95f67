package io.jkvm.emu;

import java.lang.classfile.CodeBuilder;
import java.lang.classfile.Label;
import java.lang.constant.ClassDesc;
import java.lang.constant.MethodTypeDesc;

import static io.jkvm.emu.BlockCompiler.CD_CORE;
import static io.jkvm.emu.BlockCompiler.CD_LONGS;
import static io.jkvm.emu.BodyState.CORE;
import static java.lang.constant.ConstantDescs.CD_int;
import static java.lang.constant.ConstantDescs.CD_void;

/**
 * The bytecode of a {@link BlockOp#SSE} op: the checks the interpreter makes first (SSE enabled, and SSSE3 in the
 * model for PSHUFB: #UD or #NM, the handler putting back the state before it) unless {@link SseLanes#ready} held at
 * the method's entry, then the {@link SseLanes} method the
 * interpreter runs, on the core's XMM registers with their indexes as constants, so the JIT inlines it whole; MOVD and
 * MOVQ with a general register move between that register's local and the XMM register directly.
 */
final class CompiledSse {
    private static final ClassDesc CD_SSE = BlockCompiler.desc(Sse.class), CD_LANES = BlockCompiler.desc(SseLanes.class);
    private static final MethodTypeDesc CHECK = MethodTypeDesc.of(CD_void, CD_CORE),
            TWO = MethodTypeDesc.of(CD_void, CD_LONGS, CD_int, CD_LONGS, CD_int),
            ONE_CONSTANT = MethodTypeDesc.of(CD_void, CD_int, CD_LONGS, CD_int, CD_LONGS, CD_int),
            TWO_CONSTANTS = MethodTypeDesc.of(CD_void, CD_int, CD_int, CD_LONGS, CD_int, CD_LONGS, CD_int),
            SHIFT = MethodTypeDesc.of(CD_void, CD_LONGS, CD_int, CD_int, CD_int, CD_int);

    private CompiledSse() {
    }

    static void emit(BodyState b, BlockOp d) {
        CodeBuilder cob = b.cob;
        Label ready = cob.newLabel();
        cob.iload(BodyState.SSE_READY).ifne(ready); // else the interpreter's checks, which throw where it would
        cob.aload(CORE).invokestatic(CD_SSE, "requireSseEnabled", CHECK);
        if (d.sub() == SseForms.PSHUFB) {
            cob.aload(CORE).invokestatic(CD_LANES, "requireSsse3", CHECK);
        }
        cob.labelBinding(ready);
        int x = 2 * d.reg(), y = 2 * d.rm();
        switch (d.sub()) {
            case SseForms.MOVE -> lanes(b, "move", x, y, TWO);
            case SseForms.PSHUFB -> lanes(b, "pshufb", x, y, TWO);
            case SseForms.LOGIC, SseForms.PSHUFD, SseForms.UNPACK -> {
                cob.loadConstant((int) d.imm());
                lanes(b, d.sub() == SseForms.LOGIC ? "logic" : d.sub() == SseForms.PSHUFD ? "pshufd" : "unpack", x, y,
                        ONE_CONSTANT);
            }
            case SseForms.LANES -> {
                cob.loadConstant((int) d.size()).loadConstant((int) d.imm());
                lanes(b, "lanes", x, y, TWO_CONSTANTS);
            }
            case SseForms.SHIFT -> {
                xmm(b);
                cob.loadConstant(x).loadConstant((int) d.size()).loadConstant((int) (d.imm() >>> 8))
                        .loadConstant((int) (d.imm() & 0xFF)).invokestatic(CD_LANES, "shift", SHIFT);
            }
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

    /** Calls {@code name} of SseLanes with the constants pushed already, then the two registers' array and indexes. */
    private static void lanes(BodyState b, String name, int x, int y, MethodTypeDesc type) {
        xmm(b);
        b.cob.loadConstant(x);
        xmm(b);
        b.cob.loadConstant(y).invokestatic(CD_LANES, name, type);
    }

    private static void zeroHigh(BodyState b, int x) {
        xmm(b);
        b.cob.loadConstant(x + 1).lconst_0().lastore();
    }

    private static void xmm(BodyState b) {
        b.cob.aload(CORE).getfield(CD_CORE, "xmm", CD_LONGS);
    }
}

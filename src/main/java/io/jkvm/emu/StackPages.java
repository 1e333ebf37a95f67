package io.jkvm.emu;

import java.lang.classfile.CodeBuilder;
import java.lang.classfile.Label;

import static io.jkvm.emu.BlockCompiler.CD_CORE;
import static io.jkvm.emu.BodyState.CORE;

/**
 * The stack page a compiled region's loads and stores through RSP or RBP last found direct, held in its method's
 * locals: one for reads, one for stores (a page a store may reach directly being one a read may), each as the linear
 * page's first byte and the host address of that page. An access inside the page takes its host address from there,
 * two loads of locals and a compare where the direct entries' look-up is a dozen instructions and two dependent loads
 * of the core's arrays; one outside it, or that would cross the page's end, looks the entries up and keeps what a hit
 * finds. A function's locals and spills, and the arrays a loop keeps in its frame (SHA-1's message schedule, the
 * state a hash walks by index), are reached so; the runs of one base that {@link AddressRuns} shares a look-up for,
 * and PUSH, POP, CALL and RET ({@link StackRuns}), go their own ways.
 * <p>
 * A page found direct stays so while the method runs, as its direct entries do: its translation changes only by
 * instructions that end a block (INVLPG, MOV to CR3 or CR4, WRMSR) or at an exception or exit, which leave the method,
 * and its direct stores go only when this core decodes code in it, which no instruction of a region does, between
 * chains of blocks (another core's code) and while the vCPU is paused (a migration's dirty log). The locals begin
 * empty at the method's start and again after each instruction the block executor runs for the method
 * ({@link BlockCompiler}), whatever it did.
 */
final class StackPages {
    /** The empty page: an access within 4 KiB past it (never canonical) gets a negative host address, the full path. */
    private static final long EMPTY = Long.MIN_VALUE;

    private StackPages() {
    }

    /** Whether {@code d}'s memory access goes through the stack pages: addressed through RSP or RBP. */
    static boolean through(BlockOp d) {
        return d.stackAddressed();
    }

    /**
     * Both pages empty, where a region of {@code insns} has an access through them: at the method's start, and after a
     * form the block executor runs.
     */
    static void forget(CodeBuilder cob, BlockOp[] insns) {
        boolean any = false;
        for (BlockOp d : insns) {
            any |= through(d);
        }
        if (!any) {
            return;
        }
        cob.loadConstant(EMPTY).lstore(BodyState.STACK_READ_PAGE).loadConstant(EMPTY).lstore(BodyState.STACK_READ_HOST)
                .loadConstant(EMPTY).lstore(BodyState.STACK_WRITE_PAGE).loadConstant(EMPTY).lstore(BodyState.STACK_WRITE_HOST);
    }

    /**
     * Pushes the host address of the {@code size}-byte access at the linear address on the stack, which stays under
     * it: from the read or write page when the access lies in it, else from the direct read or write entries (a hit
     * becoming the page), else -1 (the accessor's full path then).
     */
    static void host(CodeBuilder cob, int size, boolean write) {
        int page = write ? BodyState.STACK_WRITE_PAGE : BodyState.STACK_READ_PAGE;
        int host = write ? BodyState.STACK_WRITE_HOST : BodyState.STACK_READ_HOST;
        Label lookUp = cob.newLabel(), found = cob.newLabel(), none = cob.newLabel();
        cob.dup2().lstore(BodyState.PAGE_ACCESS);
        // the offset in the page, unsigned, at most the page's size less the access's: one compare of both ends
        cob.lload(BodyState.PAGE_ACCESS).lload(page).lsub().lstore(BodyState.PAGE_OFFSET);
        cob.lload(BodyState.PAGE_OFFSET).loadConstant(Long.MIN_VALUE).ladd()
                .loadConstant(CodeCache.PAGE - size + Long.MIN_VALUE).lcmp().ifgt(lookUp);
        cob.lload(host).lload(BodyState.PAGE_OFFSET).ladd().goto_(found);
        cob.labelBinding(lookUp);
        cob.aload(CORE).lload(BodyState.PAGE_ACCESS).loadConstant(size)
                .invokevirtual(CD_CORE, write ? "compiledWriteAddress" : "compiledReadAddress", CompiledForms.DIRECT_ADDRESS)
                .lstore(BodyState.PAGE_OFFSET);
        cob.lload(BodyState.PAGE_OFFSET).lconst_0().lcmp().iflt(none);
        cob.lload(BodyState.PAGE_ACCESS).loadConstant((long) -CodeCache.PAGE).land().lstore(page);
        cob.lload(BodyState.PAGE_OFFSET).lload(BodyState.PAGE_ACCESS).loadConstant(CodeCache.PAGE - 1L).land().lsub()
                .lstore(host);
        cob.labelBinding(none);
        cob.lload(BodyState.PAGE_OFFSET);
        cob.labelBinding(found);
    }
}

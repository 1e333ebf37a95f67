package io.jkvm.emu;

import java.lang.classfile.CodeBuilder;
import java.lang.classfile.Label;

/**
 * A compiled region's exception table, an entry for each run of instructions that put back the same state when they
 * fault: when the instruction before one in its block was the last one covered, its code follows that one's with only
 * its progress store between (which cannot throw), and the same handler grows the open entry instead of adding one.
 * The classfile API's stack maps look at every entry at each bytecode an entry covers, and with one per instruction
 * that look was two fifths of a region's build.
 */
final class HandlerRanges {
    private final CodeBuilder cob;
    /** The open entry: the code from {@code from} to {@code to}, its handler (null: none open). */
    private Label from, to, handler;
    /** The instruction covered last. */
    private int last = -1;

    HandlerRanges(CodeBuilder cob) {
        this.cob = cob;
    }

    /** Instruction {@code i}'s code, from {@code start} to {@code end}, goes to {@code handler} when it throws. */
    void cover(int i, boolean startsBlock, Label start, Label end, Label handler) {
        boolean follows = last == i - 1 && !startsBlock;
        last = i;
        if (follows && handler == this.handler) {
            to = end;
            return;
        }
        close();
        from = start;
        to = end;
        this.handler = handler;
    }

    /** The open entry, into the exception table. */
    void close() {
        if (handler != null) {
            cob.exceptionCatchAll(from, to, handler);
            handler = null;
        }
    }
}

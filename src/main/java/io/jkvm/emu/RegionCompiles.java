package io.jkvm.emu;

import java.util.concurrent.ExecutionException;
import java.util.concurrent.FutureTask;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;

/**
 * The block compiler's own thread: a region found hot is made into a class there ({@link BlockCompiler#fit} and
 * {@link BlockCompiler#compile}, about a millisecond of class building each), while its vCPU goes on running the
 * decoded block. In a Linux boot one vCPU mostly works while the other waits, so the build runs on the idle core
 * instead of the working vCPU's (docs/benchmarks.md). One thread for the process: compiles are short, and each
 * vCPU waits for its own only when a block runs on long before its class is ready ({@link #waitAfter}).
 */
final class RegionCompiles {
    /** Regions waiting at most; past them a vCPU compiles on its own thread, as with no compiler thread. */
    private static final int MAX_WAITING = 64;

    private static final ThreadPoolExecutor THREAD = new ThreadPoolExecutor(1, 1, 0, TimeUnit.SECONDS,
            new LinkedBlockingQueue<>(MAX_WAITING), runnable -> {
                Thread t = new Thread(runnable, "jkvm-block-compiler");
                t.setDaemon(true); // a class not yet made holds no guest state: nothing to finish at exit
                return t;
            });

    /**
     * Runs of a block, after the one that sent its region, past which its vCPU waits for the class instead of running
     * the block decoded again: a fraction of the compile threshold, so a block that ran that often before is compiled
     * within a bounded number of its runs whatever the compiler thread's load.
     */
    static int waitAfter(int compileThreshold, int blockLength) {
        return BlockExecution.runsAtLength(compileThreshold / 2, blockLength);
    }

    private RegionCompiles() {
    }

    /** A region's class being made, with the blocks after its entry that the region holds, as found. */
    static final class Pending extends FutureTask<Pending.Made> {
        /** The class made, and how many of the region's blocks it runs (the fitting may drop the last found). */
        record Made(CompiledBlock code, int kept) {
        }

        final DecodedBlock[] members;
        /** The block's run count when it was sent. */
        final int sentAt;
        /**
         * The region as found: what the class is made of, its blocks' linear offsets from the entry, and the key the
         * class made is shared under ({@link SharedRegions}).
         */
        final SharedRegions.Key key;

        Pending(SharedRegions.Key key, DecodedBlock[] members, int sentAt) {
            super(() -> {
                BlockCompiler.Fitted fitted = BlockCompiler.fit(key.region());
                CompiledBlock code = BlockCompiler.compile(fitted);
                RegionWarmth.probe(code);
                return new Made(code, fitted.region().blocks().length);
            });
            this.members = members;
            this.sentAt = sentAt;
            this.key = key;
        }

        /** The class, waiting for it if it is not made yet; a refusal by the JVM as the compiler raised it. */
        Made made() {
            boolean interrupted = false;
            try {
                while (true) {
                    try {
                        return get();
                    } catch (InterruptedException e) {
                        interrupted = true; // the vCPU's interrupt is for its own loop: kept for it, after the wait
                    } catch (ExecutionException e) {
                        if (e.getCause() instanceof RuntimeException r) {
                            throw r;
                        }
                        throw new IllegalStateException(e.getCause());
                    }
                }
            } finally {
                if (interrupted) {
                    Thread.currentThread().interrupt();
                }
            }
        }
    }

    /** Sends {@code p} to the compiler thread, or, when that has too many waiting, makes it here and now (false). */
    static boolean send(Pending p) {
        try {
            THREAD.execute(p);
            return true;
        } catch (RejectedExecutionException full) {
            p.run();
            return false;
        }
    }
}

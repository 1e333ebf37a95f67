package io.jkvm.machine;

/** How a VM ended, and the status `jkvm run` exits with. */
public sealed interface Outcome {
    /** What the process exits with: the operating system keeps its low 8 bits. */
    int exitStatus();

    /** The status before the operating system cuts it to 8 bits: debug-exit's (v << 1) | 1 for any v (--exit-status-file). */
    default long fullStatus() {
        return exitStatus();
    }

    /** The guest ended itself: debug-exit (status (v << 1) | 1) or HLT with interrupts off (status 0). */
    record Exited(long status, String how) implements Outcome {
        @Override
        public int exitStatus() {
            return (int) status;
        }

        @Override
        public long fullStatus() {
            return status;
        }
    }

    /** The guest or the backend failed (triple fault, emulation failure, failed entry): status 2, one line why. */
    record Failed(String message) implements Outcome {
        @Override
        public int exitStatus() {
            return 2;
        }
    }
}

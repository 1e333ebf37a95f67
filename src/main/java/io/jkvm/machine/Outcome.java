package io.jkvm.machine;

/** How a VM ended, and the status `jkvm run` exits with. */
public sealed interface Outcome {
    int exitStatus();

    /** The guest ended itself: debug-exit (status (v << 1) | 1) or HLT with interrupts off (status 0). */
    record Exited(int exitStatus, String how) implements Outcome {
    }

    /** The guest or the backend failed (triple fault, emulation failure, failed entry): status 2, one line why. */
    record Failed(String message) implements Outcome {
        @Override
        public int exitStatus() {
            return 2;
        }
    }
}

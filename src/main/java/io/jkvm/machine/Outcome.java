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
        /** The boot processor's HLT with interrupts off: nothing but an NMI, INIT or a reset would wake it. */
        static final Exited HALTED = new Exited(0, "HLT with interrupts disabled");

        @Override
        public int exitStatus() {
            return (int) status;
        }

        @Override
        public long fullStatus() {
            return status;
        }
    }

    /**
     * The guest reset the machine (the 8042's reset line, the ACPI reset register): `jkvm run` boots its kernel again,
     * or with --no-reboot ends with status 0, as does a restored machine, which has no kernel to boot again.
     */
    record Reset(String how) implements Outcome {
        @Override
        public int exitStatus() {
            return 0;
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

package io.jkvm.fuzz;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;

/**
 * One run of the guest fuzzer: the image, how `jkvm run` is invoked for it, what is fed to its stdin and what the
 * contract allows it to end with. Everything here follows from the round's seed and the case's index.
 */
record FuzzCase(long seed, int index, String kind, byte[] image, boolean elf, String source, String backend, int cpus,
                String memory, byte[] stdin, Expectation expect) {

    /** The `jkvm run` arguments after the image path. */
    List<String> runArguments() {
        List<String> args = new ArrayList<>(List.of("--backend", backend, "--mem", memory));
        if (cpus != 1) {
            args.addAll(List.of("--cpus", Integer.toString(cpus)));
        }
        return args;
    }

    String imageName() {
        return "seed" + seed + "-case" + index + (elf ? ".elf" : ".bin");
    }

    String describe() {
        return kind + ", " + String.join(" ", runArguments()) + (stdin.length > 0 ? ", " + stdin.length + " bytes on stdin" : "");
    }

    /**
     * What the guest may end with. {@code statuses}: exit statuses it was built to reach (a designed guest) or the
     * contract's 0 and 2 (a random one); {@code oddFromDebugExit}: any odd status is fine because the image holds an
     * OUT that can reach port 0xF4; {@code mayRunOn}: the guest may loop for ever, so being killed at the time limit
     * is no violation; {@code stdoutBytes}: the exact serial output length, or -1; {@code wrongResultStatus}: the
     * status a self-checking guest exits with when a result it computed is wrong, or -1.
     */
    record Expectation(Set<Integer> statuses, boolean oddFromDebugExit, boolean mayRunOn, long stdoutBytes,
                       int wrongResultStatus) {
        Expectation {
            statuses = Set.copyOf(statuses);
        }

        boolean allows(int status) {
            return statuses.contains(status) || (oddFromDebugExit && (status & 1) == 1);
        }

        String describeAllowed() {
            return new TreeSet<>(statuses) + (oddFromDebugExit ? " or any odd status (the image can write port 0xF4)" : "");
        }
    }

    /** The debug-exit status of value {@code v}, as the process reports it: (v << 1) | 1, in 8 bits. */
    static int debugExitStatus(int v) {
        return ((v << 1) | 1) & 0xFF;
    }
}

package io.jkvm.api;

import com.fasterxml.jackson.annotation.JsonValue;

import java.util.Locale;
import java.util.Objects;
import java.util.Set;

/**
 * What `info` reports about a VM.
 *
 * @param state       running, paused or ended; empty in a jkvm that waits for a restore command
 * @param backend     "kvm" or "emulator": where the vCPUs run now (null, and left out, when empty)
 * @param vcpus       how many vCPUs the VM has (0 when empty)
 * @param memoryBytes guest RAM in bytes (0 when empty)
 * @param cpuModel    the guest CPU model as given to --cpu, e.g. "host,+apx" (null, and left out, when empty)
 * @param migration   while a live migration runs, how far it is (e.g. "round 2: 5120 pages sent, 312 dirty, 850.0 MB/s");
 *                    null, and left out of the JSON, otherwise
 */
public record VmInfo(State state,
                     @com.fasterxml.jackson.annotation.JsonInclude(com.fasterxml.jackson.annotation.JsonInclude.Include.NON_NULL)
                     String backend, int vcpus, long memoryBytes,
                     @com.fasterxml.jackson.annotation.JsonInclude(com.fasterxml.jackson.annotation.JsonInclude.Include.NON_NULL)
                     String cpuModel,
                     @com.fasterxml.jackson.annotation.JsonInclude(com.fasterxml.jackson.annotation.JsonInclude.Include.NON_NULL)
                     String migration) {

    private static final Set<String> BACKENDS = Set.of("kvm", "emulator");

    /** The VM's life cycle as the control socket sees it; JSON spells each in lower case. */
    public enum State {
        RUNNING, PAUSED, ENDED,
        /** No VM yet: a jkvm started to wait for a restore command. */
        EMPTY;

        @JsonValue
        public String jsonName() {
            return name().toLowerCase(Locale.ROOT);
        }
    }

    /** What a jkvm that waits for a restore command reports. */
    public static VmInfo empty() {
        return new VmInfo(State.EMPTY, null, 0, 0, null, null);
    }

    public VmInfo {
        Objects.requireNonNull(state, "state");
        if (state == State.EMPTY) {
            if (backend != null || vcpus != 0 || memoryBytes != 0 || cpuModel != null || migration != null) {
                throw new IllegalArgumentException("an empty jkvm has no backend, vCPUs, memory, CPU model or migration");
            }
        } else {
            Objects.requireNonNull(cpuModel, "cpuModel");
            if (!BACKENDS.contains(backend)) {
                throw new IllegalArgumentException("backend must be kvm or emulator, not " + backend);
            }
            if (vcpus < 1 || memoryBytes < 1) {
                throw new IllegalArgumentException("a VM has at least one vCPU and some memory: " + vcpus + ", " + memoryBytes);
            }
        }
    }
}

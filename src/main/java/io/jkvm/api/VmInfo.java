package io.jkvm.api;

import com.fasterxml.jackson.annotation.JsonValue;

import java.util.Locale;
import java.util.Objects;
import java.util.Set;

/**
 * What `info` reports about a VM.
 *
 * @param state       running, paused or ended
 * @param backend     "kvm" or "emulator": where the vCPUs run now
 * @param vcpus       how many vCPUs the VM has
 * @param memoryBytes guest RAM in bytes
 * @param cpuModel    the guest CPU model as given to --cpu, e.g. "host,+apx"
 * @param migration   while a live migration runs, how far it is (e.g. "round 2: 5120 pages sent, 312 dirty, 850.0 MB/s");
 *                    null, and left out of the JSON, otherwise
 */
public record VmInfo(State state, String backend, int vcpus, long memoryBytes, String cpuModel,
                     @com.fasterxml.jackson.annotation.JsonInclude(com.fasterxml.jackson.annotation.JsonInclude.Include.NON_NULL)
                     String migration) {

    private static final Set<String> BACKENDS = Set.of("kvm", "emulator");

    /** The VM's life cycle as the control socket sees it; JSON spells each in lower case. */
    public enum State {
        RUNNING, PAUSED, ENDED;

        @JsonValue
        public String jsonName() {
            return name().toLowerCase(Locale.ROOT);
        }
    }

    public VmInfo {
        Objects.requireNonNull(state, "state");
        Objects.requireNonNull(cpuModel, "cpuModel");
        if (!BACKENDS.contains(backend)) {
            throw new IllegalArgumentException("backend must be kvm or emulator, not " + backend);
        }
        if (vcpus < 1 || memoryBytes < 1) {
            throw new IllegalArgumentException("a VM has at least one vCPU and some memory: " + vcpus + ", " + memoryBytes);
        }
    }
}

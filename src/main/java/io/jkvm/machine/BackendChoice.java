package io.jkvm.machine;

import io.jkvm.x86.CpuFeature;

import java.util.List;

/** Which backend runs a VM's vCPUs, given what the host's KVM lacks of the CPU model. */
public final class BackendChoice {
    private BackendChoice() {
    }

    /**
     * The backend a VM runs on: what was asked, or for auto, KVM when the host runs every feature of the CPU model
     * and the software core when it does not. Asking for KVM with a feature the host lacks is an error.
     */
    public static Backend choose(MachineConfig config, List<CpuFeature> missing) {
        return switch (config.backend()) {
            case EMULATOR -> Backend.EMULATOR;
            case AUTO -> missing.isEmpty() ? Backend.KVM : Backend.EMULATOR;
            case KVM -> {
                if (!missing.isEmpty()) {
                    throw new MachineException("--cpu " + config.cpuModel() + " needs " + CpuFeature.describe(missing)
                            + ", which this host's KVM lacks: use --backend auto or emulator to run it on the software core");
                }
                yield Backend.KVM;
            }
        };
    }
}

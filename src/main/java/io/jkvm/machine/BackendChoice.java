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

    /**
     * As {@link #choose(MachineConfig, List)} for a machine whose KVM may also be held back by {@code otherObstacles}
     * (a restored state's XSAVE layout or MXCSR): auto then picks the software core, KVM is refused; when auto picks
     * the core, {@code say} gets one line with the reasons.
     */
    public static Backend choose(MachineConfig config, List<CpuFeature> missing, List<String> otherObstacles,
                                 java.util.function.Consumer<String> say) {
        Backend backend;
        if (otherObstacles.isEmpty() || config.backend() == Backend.EMULATOR) {
            backend = choose(config, missing);
        } else if (config.backend() == Backend.KVM) {
            throw new MachineException("cannot restore on KVM here: " + String.join("; ", otherObstacles)
                    + ": use --backend auto or emulator to run it on the software core");
        } else {
            backend = Backend.EMULATOR;
        }
        if (backend == Backend.EMULATOR && config.backend() == Backend.AUTO) {
            List<String> why = new java.util.ArrayList<>(otherObstacles);
            if (!missing.isEmpty()) {
                why.addFirst("this host's KVM lacks " + CpuFeature.describe(missing));
            }
            say.accept("jkvm: " + String.join("; ", why) + ": running the vCPUs on the software core");
        }
        return backend;
    }
}

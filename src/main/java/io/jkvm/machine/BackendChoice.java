package io.jkvm.machine;

import io.jkvm.emu.CoreCpuid;
import io.jkvm.x86.CpuFeature;
import io.jkvm.x86.CpuModel;

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
     * The model a machine booting on the software core gives its guest: {@code model} without what the core does not
     * implement (as QEMU's TCG drops what it lacks), so the guest never finds a feature the core would answer with
     * #UD. Features the --cpu edits added that the core lacks get a line on {@code say}; with --trace, every bit removed.
     */
    public static CpuModel asTheCoreRunsIt(MachineConfig config, CpuModel model, java.util.function.Consumer<String> say) {
        List<String> removed = CoreCpuid.removedBits(model.cpuid());
        if (removed.isEmpty()) {
            return model;
        }
        List<String> asked = java.util.Arrays.stream(config.cpuModel().split(","))
                .map(String::strip).filter(e -> e.startsWith("+")).map(e -> e.substring(1))
                .flatMap(n -> CpuFeature.byName(n).stream()).map(CpuFeature::qemuName).filter(removed::contains).toList();
        if (!asked.isEmpty()) {
            say.accept("jkvm: the software core does not implement " + String.join(", ", asked) + ": the guest runs without");
        }
        if (config.trace()) {
            say.accept("jkvm: the software core runs --cpu " + config.cpuModel() + " without " + String.join(", ", removed)
                    + ", which it does not implement");
        }
        return CoreCpuid.narrow(model);
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

package io.jkvm.machine;

import io.jkvm.emu.CoreCpuid;
import io.jkvm.linux.HostCpu;
import io.jkvm.machine.MachineStart.Boot;
import io.jkvm.machine.MachineStart.KernelBoot;
import io.jkvm.machine.MachineStart.Resume;
import io.jkvm.snapshot.SnapshotCompatibility;
import io.jkvm.x86.CpuidTable;
import io.jkvm.x86.NativeCpuid;
import io.jkvm.x86.XsaveException;
import io.jkvm.x86.CpuFeature;
import io.jkvm.x86.CpuModel;

import java.util.List;

/** Which backend runs a VM's vCPUs and with which CPU model, given what the host's KVM lacks of it ({@link #place}). */
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
        if (!CoreCpuid.clearsFeatureBits(model.cpuid())) {
            return model;
        }
        // the removed bits named only for a line to print: naming them costs a launch milliseconds of cold code
        List<String> asked = new java.util.ArrayList<>();
        for (String edit : config.cpuModel().split(",")) {
            String e = edit.strip();
            if (e.startsWith("+")) {
                CpuFeature.byName(e.substring(1)).filter(f -> CoreCpuid.clears(model.cpuid(), f))
                        .ifPresent(f -> asked.add(f.qemuName()));
            }
        }
        if (!asked.isEmpty()) {
            say.accept("jkvm: the software core does not implement " + String.join(", ", asked) + ": the guest runs without");
        }
        if (config.trace()) {
            say.accept("jkvm: the software core runs --cpu " + config.cpuModel() + " without "
                    + String.join(", ", CoreCpuid.removedBits(model.cpuid())) + ", which it does not implement");
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

    /**
     * Where and as what a machine runs: its CPU model (a resumed state's own, or the --cpu model narrowed to what the
     * backend runs), its backend, what this host's KVM lacks of the model and what else keeps KVM from running it, what
     * the core lacks of it, and the start (a resume moved onto the --cpu model).
     */
    record Placement(CpuModel model, Backend backend, List<CpuFeature> missing, List<String> otherObstacles, String lacking,
                     MachineStart start) {
    }

    /** The placement of a machine started by {@code start} ({@code pc}: with a PC platform), or one line why it has none. */
    static Placement place(MachineConfig config, io.jkvm.kvm.Kvm k, MachineStart start, boolean pc,
                           java.util.function.Consumer<String> trace) {
        CpuModel model;
        List<CpuFeature> missing;
        List<String> otherObstacles = List.of();
        String lacking;
        CpuidTable host;
        if (k != null) {
            io.jkvm.kvm.Kvm.permitDynamicXsaveFeatures(); // before the VM and the supported-CPUID read, as amx_test.c does
            host = k.guestCpuid();
        } else {
            host = NativeCpuid.withoutKvm();
        }
        if (start instanceof Resume r && !r.retarget()) {
            model = r.state().cpu();
        } else {
            try {
                model = CpuModels.parse(config.cpuModel(), host, HostCpu.mxcsrMask());
            } catch (XsaveException e) {
                throw new MachineException("--cpu " + CpuModel.printable(config.cpuModel()) + ": " + e.getMessage(), e);
            }
            if (start instanceof Resume r) {
                start = r.on(model);
            }
        }
        missing = model.missingOn(host);
        if (start instanceof Resume r && k != null) {
            otherObstacles = SnapshotCompatibility.kvmObstacles(r.state(), host, HostCpu.mxcsrMask());
        }
        Backend backend = choose(config, missing, otherObstacles, trace);
        if (pc) {
            backend = KernelLoading.backend(backend, config, start instanceof KernelBoot ? "--kernel"
                    : "a machine booted with --kernel", trace);
        }
        if ((start instanceof Boot || start instanceof KernelBoot) && backend == Backend.EMULATOR) {
            model = asTheCoreRunsIt(config, model, trace);
        }
        if (start instanceof Boot) {
            model = io.jkvm.emu.CoreCpuid.withoutLocalApic(model); // only a machine booted with a kernel has local APICs
        }
        if (start instanceof Boot || start instanceof KernelBoot) {
            missing = model.missingOn(host);
        }
        lacking = CpuModels.lackingOnCore(model); // nothing once narrowed: only a restored model can lack on the core
        if (backend == Backend.EMULATOR && !lacking.isEmpty()) {
            throw new MachineException("cannot restore on the software core: the guest's CPU model has "
                    + lacking + ", which the core does not implement;"
                    + " restore it where KVM runs that model (a VM made with --cpu core runs on both)");
        }
        if (backend == Backend.KVM) {
            VcpuFactory.requireKvmTakes(k, config.cpus());
        }
        return new Placement(model, backend, missing, otherObstacles, lacking, start);
    }
}

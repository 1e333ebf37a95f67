package io.jkvm.cli;

import io.jkvm.kvm.Kvm;
import io.jkvm.linux.HostCpu;
import io.jkvm.machine.GuestMemory;
import io.jkvm.machine.Machine;
import io.jkvm.machine.MachineException;
import io.jkvm.machine.MemorySize;
import io.jkvm.snapshot.MachineState;
import io.jkvm.snapshot.SnapshotCompatibility;
import io.jkvm.snapshot.SnapshotException;
import io.jkvm.snapshot.SnapshotFile;
import io.jkvm.x86.CpuFeature;
import io.jkvm.x86.CpuModel;
import io.jkvm.x86.CpuidTable;
import io.jkvm.x86.NativeCpuid;
import io.jkvm.x86.VcpuState;
import io.jkvm.x86.Vendor;
import io.jkvm.x86.XsaveLayout;
import picocli.CommandLine.Model.CommandSpec;

import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.stream.Collectors;

import static io.jkvm.cli.CommandModel.command;
import static io.jkvm.cli.CommandModel.kvmDevice;
import static io.jkvm.cli.CommandModel.parameter;
import static io.jkvm.cli.CommandModel.required;
import static io.jkvm.cli.CommandModel.option;
import static io.jkvm.cli.CommandModel.value;

/** `jkvm snapshot check FILE`: what a snapshot holds and whether, and where, this host can restore it. */
final class SnapshotCommand implements Runnable {
    /** This command's model: `check` is its subcommand. */
    final CommandSpec spec;

    SnapshotCommand(Main main) {
        spec = command(this, "snapshot", "Inspects snapshots.");
        spec.addSubcommand("check", new Check(main).spec);
    }

    @Override
    public void run() {
        spec.commandLine().usage(spec.commandLine().getOut());
    }

    static final class Check implements Callable<Integer> {
        private final Main main;
        final CommandSpec spec;

        private String kvmPath;
        private String cpuModel;

        Check(Main main) {
            this.main = main;
            spec = command(this, "check",
                    "Reads a snapshot, checks every section and its guest memory, and compares its CPU model with",
                    "this host: features, XSAVE components and their offsets, XCR0, MXCSR_MASK. Exit status 0 when this host",
                    "can restore it (on KVM or on the software core), 2 with one line when the snapshot is damaged.");
            spec.addPositional(required(0, "FILE", Path.class));
            spec.addOption(kvmDevice());
            spec.addOption(option("--cpu", "MODEL", String.class,
                    "check it against this CPU model (as jkvm restore --cpu) instead of the one it was saved with").build());
        }

        @Override
        public Integer call() {
            Path file = parameter(spec, 0);
            kvmPath = value(spec, "--kvm");
            cpuModel = value(spec, "--cpu");
            SnapshotFile.Snapshot s;
            try {
                s = SnapshotFile.read(file, Machine.DEVICE_STATES);
                GuestMemory.checkSnapshot(s); // its memory file's checksum
            } catch (SnapshotException e) {
                throw new MachineException(e.getMessage(), e);
            }
            report(s, main.out);
            return 0;
        }

        /** The snapshot's state moved onto --cpu's model, or the one-line refusal of a bad spec or a move. */
        private MachineState onto(MachineState state, CpuidTable host) {
            CpuModel target;
            try {
                target = io.jkvm.machine.CpuModels.parse(cpuModel, host, HostCpu.mxcsrMask());
            } catch (io.jkvm.x86.XsaveException e) {
                throw new MachineException("--cpu " + CpuModel.printable(cpuModel) + ": " + e.getMessage(), e);
            }
            try {
                return SnapshotCompatibility.retarget(state, target);
            } catch (SnapshotException e) {
                throw new MachineException(e.getMessage(), e);
            }
        }

        private void report(SnapshotFile.Snapshot s, PrintStream out) {
            MachineState state = s.state();
            CpuidTable host = null;
            boolean kvm = false;
            long kvmTscKhz = 0;
            boolean kvmTakesTscRate = false;
            try (Kvm k = Kvm.open(kvmPath)) {
                host = k.guestCpuid();
                kvm = true;
                try (io.jkvm.kvm.Vm vm = k.createVm()) {
                    io.jkvm.kvm.KvmVcpu probe = vm.createVcpu(0); // vCPU ioctls: the rate a new vCPU counts at, and whether it takes the saved one
                    kvmTscKhz = probe.tscKhz();
                    kvmTakesTscRate = state.tscKhz() > 0 && probe.takeTscRate(state.tscKhz());
                } catch (RuntimeException e) {
                    kvmTscKhz = 0; // the rate stays unknown; the rest of the report does not need it
                }
            } catch (RuntimeException e) {
                kvm = false; // no usable KVM here: the report says so
            }
            if (host == null) {
                host = NativeCpuid.withoutKvm();
            }
            if (cpuModel != null) {
                state = onto(state, host);
            }
            CpuModel model = state.cpu();
            int signature = model.cpuid().leaf(1, 0).eax();
            out.printf("snapshot:          %s (format version %d)%n", s.file(), SnapshotFile.VERSION);
            io.jkvm.x86.RamLayout ram = Machine.ramLayout(state);
            out.printf("guest RAM:         %s in %s (checksum matches)%n", ram == null || ram.above() == 0 ? MemorySize.format(state.memorySize())
                    : MemorySize.format(ram.size()) + " (" + MemorySize.format(ram.below()) + " from 0, " + MemorySize.format(ram.above())
                    + " from 4G)", s.memoryFile().getFileName());
            out.printf("vCPUs:             %d (%s)%n", state.vcpus().size(),
                    state.vcpus().stream().map(v -> v.activity().name().toLowerCase()).collect(Collectors.joining(", ")));
            out.printf("devices:           %s%n", String.join(", ", state.devices().keySet()));
            out.printf("CPU model:         %s: %s, family %d model %d, MXCSR_MASK 0x%X%n", model.spec(), model.cpuid().vendor().strip(),
                    Vendor.family(signature), Vendor.model(signature), model.mxcsrMask());
            long inUse = 0;
            for (VcpuState v : state.vcpus()) {
                inUse |= v.xsave().xstateBv();
            }
            out.printf("XCR0:              %s%n", state.vcpus().stream().map(v -> String.format("0x%x", v.xcr0())).collect(Collectors.joining(", ")));
            XsaveLayout hostLayout = XsaveLayout.fromCpuid(host);
            List<String> components = new ArrayList<>();
            for (XsaveLayout.Component c : model.layout().components()) {
                if (c.number() >= 2 && !c.supervisor() && (inUse & c.mask()) != 0) {
                    components.add(String.format("%s at %d (this host: %s)", c.name(), c.offset(),
                            hostLayout.has(c.number()) ? Integer.toString(hostLayout.require(c.number()).offset()) : "none"));
                }
            }
            out.printf("XSAVE in use:      %s%n", components.isEmpty() ? "x87 and SSE only" : String.join("; ", components));
            int hostMask = HostCpu.mxcsrMask();
            out.printf("MXCSR:             bits in use 0x%X; MXCSR_MASK here 0x%X%n", SnapshotCompatibility.mxcsrInUse(state), hostMask);
            boolean known = state.tscKhz() > 0;
            out.printf("TSC:               %s when saved; KVM here %s%s; %s%n",
                    known ? state.tscKhz() + " kHz" : "rate unknown", kvmTscKhz == 0 ? "rate unknown" : kvmTscKhz + " kHz",
                    !known || kvmTscKhz == 0 ? "" : kvmTakesTscRate ? ", takes it" : ", cannot take it (no TSC scaling to that rate)",
                    known ? "the software core takes it" : "the software core 1000000 kHz");
            List<String> why = new ArrayList<>();
            if (!kvm) {
                why.add("there is no usable KVM here (" + kvmPath + ")");
            } else {
                List<CpuFeature> missing = model.missingOn(host);
                if (!missing.isEmpty()) {
                    why.add("this host's KVM lacks " + CpuFeature.describe(missing));
                }
                why.addAll(SnapshotCompatibility.kvmObstacles(state, host, hostMask));
                Machine.platformKvmObstacle(state).ifPresent(why::add);
            }
            boolean onKvm = why.isEmpty();
            out.printf("on KVM here:       %s%n", onKvm ? "yes" : "no: " + String.join("; ", why));
            out.printf("--backend auto:    %s%n", onKvm ? "KVM" : "the software core");
        }
    }
}

package io.jkvm.cli;

import io.jkvm.kvm.Capability;
import io.jkvm.kvm.Kvm;
import io.jkvm.x86.CpuFeature;
import io.jkvm.linux.HostCpu;
import io.jkvm.x86.CpuModel;
import io.jkvm.x86.CpuidTable;
import io.jkvm.x86.XsaveComponent;
import io.jkvm.x86.XsaveLayout;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.PrintStream;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;

/** `jkvm info`: what this host's KVM offers jkvm, as text or JSON. */
@Command(name = "info", mixinStandardHelpOptions = true, versionProvider = Main.Version.class,
        description = "Shows the host's KVM: API version, capabilities, vCPU limits, XSAVE features and layout, APX.")
final class InfoCommand implements Callable<Integer> {
    @CommandLine.ParentCommand
    Main main;

    @Option(names = "--json", description = "print JSON instead of text")
    boolean json;

    @Option(names = "--cpu", paramLabel = "MODEL",
            description = "also show a guest CPU model (e.g. host,+apx): its XSAVE layout and whether this host's KVM can run it")
    String cpuModel;

    @Option(names = "--kvm", paramLabel = "PATH", defaultValue = "/dev/kvm", hidden = true)
    String kvmPath;

    /** A guest CPU model and what this host's KVM lacks to run it. */
    record ModelInfo(String spec, long supportedXcr0, XsaveLayout layout, List<CpuFeature> missing) {
    }

    /** Everything `info` reports, gathered once and printed either way. */
    record HostInfo(String device, int apiVersion, Map<Capability, Integer> capabilities, int recommendedVcpus,
                    int maxVcpus, int maxVcpuId, long supportedXcr0, XsaveLayout layout, boolean apxCpuid,
                    boolean apxXcr0, ModelInfo model) {
        boolean hasApx() {
            return apxCpuid && apxXcr0;
        }
    }

    @Override
    public Integer call() {
        HostInfo info;
        try (Kvm kvm = Kvm.open(kvmPath)) {
            Kvm.permitDynamicXsaveFeatures();
            Map<Capability, Integer> caps = new LinkedHashMap<>();
            for (Capability c : Capability.values()) {
                caps.put(c, kvm.checkExtension(c));
            }
            CpuidTable cpuid = kvm.supportedCpuid();
            long xcr0 = cpuid.supportedXcr0();
            ModelInfo model = null;
            if (cpuModel != null) {
                CpuModel m = CpuModel.parse(cpuModel, cpuid, HostCpu.mxcsrMask());
                model = new ModelInfo(m.spec(), m.cpuid().supportedXcr0(), m.layout(), m.missingOn(cpuid));
            }
            int nr = caps.get(Capability.NR_VCPUS);
            int max = caps.get(Capability.MAX_VCPUS);
            info = new HostInfo(kvmPath, kvm.apiVersion(), caps, nr == 0 ? 4 : nr, max == 0 ? nr : max,
                    caps.get(Capability.MAX_VCPU_ID), xcr0, XsaveLayout.fromCpuid(cpuid), cpuid.hasApx(),
                    (xcr0 & XsaveComponent.APX.mask()) != 0, model);
        }
        if (json) {
            printJson(info, main.out);
        } else {
            printText(info, main.out);
        }
        main.out.flush();
        return 0;
    }

    static List<String> xcr0Names(long xcr0) {
        List<String> names = new ArrayList<>();
        for (int i = 0; i < 64; i++) {
            if ((xcr0 & (1L << i)) != 0) {
                names.add(XsaveComponent.nameOf(i));
            }
        }
        return names;
    }

    private static void printText(HostInfo info, PrintStream out) {
        out.printf("KVM device:        %s%n", info.device());
        out.printf("KVM API version:   %d%n", info.apiVersion());
        out.printf("vCPUs:             %d recommended, %d at most, ids below %d%n",
                info.recommendedVcpus(), info.maxVcpus(), info.maxVcpuId());
        out.println("Capabilities:");
        info.capabilities().forEach((c, v) -> out.printf("  %-24s %s%n", c.uapiName(),
                v == 0 ? "no" : v == 1 ? "yes" : "yes (" + v + ")"));
        out.printf("Supported XCR0:    0x%x = %s%n", info.supportedXcr0(), String.join(", ", xcr0Names(info.supportedXcr0())));
        printLayout("XSAVE layout", info.layout(), out);
        out.printf("APX:               %s (CPUID.(7,1):EDX[21] %s, XCR0 bit 19 %s)%n", info.hasApx() ? "yes" : "no",
                info.apxCpuid() ? "set" : "clear", info.apxXcr0() ? "supported" : "not supported");
        ModelInfo m = info.model();
        if (m != null) {
            out.printf("%nGuest CPU model:   %s%n", m.spec());
            out.printf("Guest XCR0:        0x%x = %s%n", m.supportedXcr0(), String.join(", ", xcr0Names(m.supportedXcr0())));
            printLayout("Guest XSAVE layout", m.layout(), out);
            out.printf("Runs on KVM here:  %s%n", m.missing().isEmpty() ? "yes"
                    : "no, this host's KVM lacks " + m.missing().stream().map(f -> f.qemuName() + " (" + f.cpuidBit() + ")")
                            .collect(java.util.stream.Collectors.joining(", ")));
            out.printf("--backend auto:    %s%n", m.missing().isEmpty() ? "KVM"
                    : "the software core, because this host's KVM cannot run the model");
        }
    }

    private static void printLayout(String title, XsaveLayout layout, PrintStream out) {
        out.printf("%s (standard format, from CPUID leaf 0xD; %d bytes):%n", title, layout.standardSize());
        out.printf("  %-9s %-22s %6s %7s%n", "component", "name", "size", "offset");
        for (XsaveLayout.Component c : layout.components()) {
            if (!c.supervisor()) {
                out.printf("  %-9d %-22s %6d %7d%n", c.number(), c.name(), c.size(), c.offset());
            }
        }
    }

    private static void jsonLayout(Json j, XsaveLayout layout) {
        j.open().field("standardSize", layout.standardSize()).key("components").openArray();
        for (XsaveLayout.Component c : layout.components()) {
            if (!c.supervisor()) {
                j.open().field("component", c.number()).field("name", c.name()).field("size", c.size())
                        .field("offset", c.offset()).close();
            }
        }
        j.closeArray().close();
    }

    private static void printJson(HostInfo info, PrintStream out) {
        Json j = new Json();
        j.open();
        j.field("device", info.device());
        j.field("apiVersion", info.apiVersion());
        j.key("capabilities").open();
        info.capabilities().forEach((c, v) -> j.field(c.uapiName(), v));
        j.close();
        j.key("vcpus").open().field("recommended", info.recommendedVcpus()).field("max", info.maxVcpus())
                .field("maxId", info.maxVcpuId()).close();
        j.field("supportedXcr0", info.supportedXcr0());
        j.key("supportedXcr0Features").openArray();
        xcr0Names(info.supportedXcr0()).forEach(j::value);
        j.closeArray();
        j.key("xsaveLayout");
        jsonLayout(j, info.layout());
        j.key("apx").open().field("cpuid", info.apxCpuid()).field("xcr0", info.apxXcr0())
                .field("available", info.hasApx()).close();
        ModelInfo m = info.model();
        if (m != null) {
            j.key("cpuModel").open().field("spec", m.spec()).field("supportedXcr0", m.supportedXcr0()).key("xsaveLayout");
            jsonLayout(j, m.layout());
            j.field("runsOnKvm", m.missing().isEmpty()).field("autoBackend", m.missing().isEmpty() ? "kvm" : "emulator")
                    .key("missingOnHost").openArray();
            m.missing().forEach(f -> j.value(f.qemuName()));
            j.closeArray().close();
        }
        j.close();
        out.println(j);
    }
}

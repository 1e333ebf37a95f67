package io.jkvm.cli;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.jkvm.kvm.Capability;
import io.jkvm.kvm.Kvm;
import io.jkvm.x86.CpuFeature;
import io.jkvm.linux.HostCpu;
import io.jkvm.x86.CpuModel;
import io.jkvm.x86.Vendor;
import io.jkvm.x86.CpuidTable;
import io.jkvm.x86.XsaveComponent;
import io.jkvm.x86.XsaveLayout;
import picocli.CommandLine.Model.CommandSpec;

import java.io.PrintStream;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;

import static io.jkvm.cli.CommandModel.command;
import static io.jkvm.cli.CommandModel.flag;
import static io.jkvm.cli.CommandModel.given;
import static io.jkvm.cli.CommandModel.kvmDevice;
import static io.jkvm.cli.CommandModel.option;
import static io.jkvm.cli.CommandModel.value;

/** `jkvm info`: what this host's KVM offers jkvm, as text or JSON. */
final class InfoCommand implements Callable<Integer> {
    private final Main main;
    /** This command's model, which holds the values the command line gave. */
    final CommandSpec spec;

    private boolean json;
    private String cpuModel;
    private String kvmPath;

    InfoCommand(Main main) {
        this.main = main;
        spec = command(this, "info", "Shows the host's KVM: API version, capabilities, vCPU limits, XSAVE features and layout, APX.");
        spec.addOption(flag("--json", "print JSON instead of text"));
        spec.addOption(option("--cpu", "MODEL", String.class,
                "also show a guest CPU model (e.g. host,+apx): its XSAVE layout and whether this host's KVM can run it").build());
        spec.addOption(kvmDevice());
    }

    /** A guest CPU model and what this host's KVM lacks to run it. */
    record ModelInfo(String spec, long supportedXcr0, XsaveLayout layout, List<CpuFeature> missing) {
    }

    /** The host CPU as the host model takes it: vendor, which manual decides for it, signature, MXCSR_MASK. */
    record CpuInfo(String vendorId, Vendor vendor, int family, int model, int mxcsrMask) {
        static CpuInfo of(CpuidTable cpuid) {
            int signature = cpuid.leaf(1, 0).eax();
            return new CpuInfo(cpuid.vendor(), Vendor.of(cpuid), Vendor.family(signature), Vendor.model(signature), HostCpu.mxcsrMask());
        }
    }

    /** Everything `info` reports, gathered once and printed either way. */
    record HostInfo(String device, int apiVersion, Map<Capability, Integer> capabilities, int recommendedVcpus,
                    int maxVcpus, int maxVcpuId, long supportedXcr0, XsaveLayout layout, boolean apxCpuid,
                    boolean apxXcr0, CpuInfo cpu, ModelInfo model) {
        boolean hasApx() {
            return apxCpuid && apxXcr0;
        }
    }

    @Override
    public Integer call() {
        json = given(spec, "--json");
        cpuModel = value(spec, "--cpu");
        kvmPath = value(spec, "--kvm");
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
                CpuModel m = io.jkvm.machine.CpuModels.parse(cpuModel, cpuid, HostCpu.mxcsrMask());
                model = new ModelInfo(m.spec(), m.cpuid().supportedXcr0(), m.layout(), m.missingOn(cpuid));
            }
            int nr = caps.get(Capability.NR_VCPUS);
            int max = caps.get(Capability.MAX_VCPUS);
            info = new HostInfo(kvmPath, kvm.apiVersion(), caps, nr == 0 ? 4 : nr, max == 0 ? nr : max,
                    caps.get(Capability.MAX_VCPU_ID), xcr0, XsaveLayout.fromCpuid(cpuid), cpuid.hasApx(),
                    (xcr0 & XsaveComponent.APX.mask()) != 0, CpuInfo.of(cpuid), model);
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
        CpuInfo cpu = info.cpu();
        out.printf("CPU:               %s (%s rules), family %d model %d, MXCSR_MASK 0x%X%n", cpu.vendorId().strip(),
                cpu.vendor().manual(), cpu.family(), cpu.model(), cpu.mxcsrMask());
        out.printf("vCPUs:             %d recommended, %d at most, ids below %d%n",
                info.recommendedVcpus(), info.maxVcpus(), info.maxVcpuId());
        out.println("Capabilities:");
        info.capabilities().forEach((c, v) -> out.printf("  %-33s %s%n", c.uapiName(),
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

    private static ObjectNode jsonLayout(XsaveLayout layout) {
        ObjectNode j = JsonNodeFactory.instance.objectNode().put("standardSize", layout.standardSize());
        ArrayNode components = j.putArray("components");
        for (XsaveLayout.Component c : layout.components()) {
            if (!c.supervisor()) {
                components.addObject().put("component", c.number()).put("name", c.name()).put("size", c.size())
                        .put("offset", c.offset());
            }
        }
        return j;
    }

    private static void printJson(HostInfo info, PrintStream out) {
        ObjectNode j = JsonNodeFactory.instance.objectNode();
        j.put("device", info.device());
        j.put("apiVersion", info.apiVersion());
        j.putObject("cpu").put("vendor", info.cpu().vendorId()).put("rules", info.cpu().vendor().manual().name())
                .put("family", info.cpu().family()).put("model", info.cpu().model())
                .put("mxcsrMask", info.cpu().mxcsrMask());
        ObjectNode caps = j.putObject("capabilities");
        info.capabilities().forEach((c, v) -> caps.put(c.uapiName(), v));
        j.putObject("vcpus").put("recommended", info.recommendedVcpus()).put("max", info.maxVcpus())
                .put("maxId", info.maxVcpuId());
        j.put("supportedXcr0", info.supportedXcr0());
        ArrayNode features = j.putArray("supportedXcr0Features");
        xcr0Names(info.supportedXcr0()).forEach(features::add);
        j.set("xsaveLayout", jsonLayout(info.layout()));
        j.putObject("apx").put("cpuid", info.apxCpuid()).put("xcr0", info.apxXcr0()).put("available", info.hasApx());
        ModelInfo m = info.model();
        if (m != null) {
            ObjectNode model = j.putObject("cpuModel").put("spec", m.spec()).put("supportedXcr0", m.supportedXcr0());
            model.set("xsaveLayout", jsonLayout(m.layout()));
            model.put("runsOnKvm", m.missing().isEmpty()).put("autoBackend", m.missing().isEmpty() ? "kvm" : "emulator");
            ArrayNode missing = model.putArray("missingOnHost");
            m.missing().forEach(f -> missing.add(f.qemuName()));
        }
        out.println(j);
    }
}

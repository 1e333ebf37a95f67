package io.jkvm.cli;

import io.jkvm.kvm.Kvm;
import io.jkvm.testing.Cli;
import io.jkvm.testing.RequiresKvm;
import io.jkvm.x86.CpuidTable;
import io.jkvm.x86.XsaveLayout;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class InfoCommandTest {

    @Test
    @RequiresKvm
    void textShowsVersionCapabilitiesXcr0LayoutAndApx() {
        Cli.Result r = Cli.run("info");
        assertEquals(0, r.status(), r.err());
        String out = r.out();
        assertTrue(out.contains("KVM API version:   12"), out);
        assertTrue(out.matches("(?s).*KVM_CAP_XSAVE2 +yes \\(\\d+\\).*"), out);
        assertTrue(out.matches("(?s).*vCPUs: +\\d+ recommended, \\d+ at most.*"), out);
        assertTrue(out.matches("(?s).*Supported XCR0: +0x[0-9a-f]+ = x87, SSE.*"), out);
        try (Kvm kvm = Kvm.open()) {
            CpuidTable cpuid = kvm.supportedCpuid();
            for (XsaveLayout.Component c : XsaveLayout.fromCpuid(cpuid).components()) {
                assertTrue(out.matches("(?s).*\n  " + c.number() + " +\\Q" + c.name() + "\\E +" + c.size() + " +" + c.offset() + "\n.*"),
                        "layout row for component " + c.number() + " in\n" + out);
            }
            assertTrue(out.contains("APX:               " + (cpuid.hasApx() ? "yes" : "no")), out);
            int signature = cpuid.leaf(1, 0).eax();
            assertTrue(out.contains(String.format("CPU:               %s (%s rules), family %d model %d, MXCSR_MASK 0x%X%n",
                    cpuid.vendor().strip(), io.jkvm.x86.Vendor.of(cpuid).manual(), io.jkvm.x86.Vendor.family(signature),
                    io.jkvm.x86.Vendor.model(signature), io.jkvm.linux.HostCpu.mxcsrMask())), out);
        }
    }

    @Test
    @RequiresKvm
    void jsonCarriesTheSameFacts() throws Exception {
        Cli.Result r = Cli.run("info", "--json");
        assertEquals(0, r.status(), r.err());
        var json = new com.fasterxml.jackson.databind.ObjectMapper().readTree(r.out());
        assertEquals(12, json.get("apiVersion").asInt());
        assertEquals(1, json.get("capabilities").get("KVM_CAP_USER_MEMORY").asInt());
        assertEquals("x87", json.get("supportedXcr0Features").get(0).asText());
        assertEquals(0, json.get("xsaveLayout").get("components").get(0).get("component").asInt());
        assertTrue(json.get("apx").has("available"));
        assertTrue(json.get("vcpus").get("max").asInt() >= 1);
        assertEquals(io.jkvm.linux.HostCpu.mxcsrMask(), json.get("cpu").get("mxcsrMask").asInt());
        assertEquals(io.jkvm.x86.Vendor.of(json.get("cpu").get("vendor").asText()).manual().name(), json.get("cpu").get("rules").asText());
    }

    @Test
    void noKvmIsOneLine() {
        Cli.Result r = Cli.run("info", "--kvm", "/nonexistent/kvm");
        assertEquals(2, r.status());
        assertTrue(r.errorLine().startsWith("jkvm: /nonexistent/kvm does not exist"), r.errorLine());
    }

    @Test
    @RequiresKvm
    void aGuestModelShowsComponent19ItsOffsetAndThatThisHostCannotRunItOnKvm() throws Exception {
        Cli.Result r = Cli.run("info", "--cpu", "host,+apx");
        assertEquals(0, r.status(), r.err());
        try (Kvm kvm = Kvm.open()) {
            CpuidTable host = kvm.supportedCpuid();
            int offset = io.jkvm.x86.CpuModel.parse("host,+apx", host, io.jkvm.linux.HostCpu.mxcsrMask()).layout().offset(19);
            assertTrue(r.out().matches("(?s).*Guest XSAVE layout.*\n  19 +APX \\(R16-R31\\) +128 +" + offset + "\n.*"), r.out());
            if (!host.hasApx()) {
                assertTrue(r.out().matches("(?s).*Runs on KVM here:  no, this host's KVM lacks [^\\n]*apx \\(CPUID.\\(7,1\\):EDX\\[21\\]\\).*"), r.out());
                assertTrue(r.out().contains("--backend auto:    the software core"), r.out());
            }
        }
        var json = new com.fasterxml.jackson.databind.ObjectMapper().readTree(Cli.run("info", "--json", "--cpu", "host,+apx").out());
        assertEquals("host,+apx", json.get("cpuModel").get("spec").asText());
        assertTrue((json.get("cpuModel").get("supportedXcr0").asLong() & (1L << 19)) != 0);
    }

    @Test
    @RequiresKvm
    void anUnknownFeatureListsTheKnownOnes() {
        Cli.Result r = Cli.run("info", "--cpu", "host,+teleport");
        assertEquals(2, r.status());
        assertTrue(r.errorLine().startsWith("jkvm: unknown CPU feature 'teleport': known features are abm, adx, aes"), r.errorLine());
    }
}

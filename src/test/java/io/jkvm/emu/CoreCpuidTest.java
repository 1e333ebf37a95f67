package io.jkvm.emu;

import io.jkvm.linux.HostCpu;
import io.jkvm.testing.Cli;
import io.jkvm.testing.TestGuests;
import io.jkvm.x86.CpuFeature;
import io.jkvm.x86.CpuModel;
import io.jkvm.x86.CpuidFixtures;
import io.jkvm.x86.CpuidTable;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The software core's guests see only the CPUID features the core implements (CoreCpuid): every bit it keeps names a
 * test that covers it, narrowing leaves nothing else set on either vendor's model or this host's, and a guest booted
 * by `jkvm run --backend emulator` reads exactly the narrowed model.
 */
class CoreCpuidTest {
    private static CpuModel host() {
        return CpuModel.parse("host", io.jkvm.testing.HostModel.cpuid(), HostCpu.mxcsrMask());
    }

    @Test
    void everyKeptBitNamesATestThatCoversIt() throws IOException {
        Path tests = Path.of(System.getProperty("jkvm.project.dir", "."), "src", "test", "java");
        Map<String, String> sources = new HashMap<>();
        try (Stream<Path> files = Files.walk(tests)) {
            for (Path p : files.filter(f -> f.toString().endsWith(".java")).toList()) {
                String name = p.getFileName().toString();
                sources.put(name.substring(0, name.length() - 5), Files.readString(p).toLowerCase(Locale.ROOT));
            }
        }
        List<String> uncovered = new java.util.ArrayList<>();
        for (CoreCpuid.Bit b : CoreCpuid.BITS) {
            String source = sources.get(b.test());
            if (source == null || !source.contains(b.keyword().toLowerCase(Locale.ROOT))) {
                uncovered.add(b.name() + " (" + b.test() + " should exist and speak of " + b.keyword() + ")");
            }
        }
        assertEquals(List.of(), uncovered);
    }

    @Test
    void narrowingLeavesOnlyImplementedBitsOnEveryModel() {
        for (CpuModel model : List.of(CpuidFixtures.intelModel(), CpuidFixtures.amdModel(), host())) {
            CpuModel narrow = CoreCpuid.narrow(model);
            assertEquals(List.of(), CoreCpuid.removedBits(narrow.cpuid()), model.spec() + ": nothing left to remove");
            List<String> removed = CoreCpuid.removedBits(model.cpuid());
            assertEquals(List.of(false, !removed.isEmpty()),
                    List.of(CoreCpuid.clearsFeatureBits(narrow.cpuid()), CoreCpuid.clearsFeatureBits(model.cpuid())),
                    model.spec() + ": the test before naming the bits says what naming them would");
            for (CpuFeature f : CpuFeature.values()) {
                assertEquals(removed.contains(f.qemuName()), CoreCpuid.clears(model.cpuid(), f),
                        model.spec() + ": " + f.qemuName() + " among the removed bits");
            }
            assertEquals(List.of(), CoreCpuid.lacking(narrow.cpuid()), model.spec() + ": no named feature the core lacks");
            for (CoreCpuid.FeatureRegister r : CoreCpuid.FEATURE_REGISTERS) {
                int before = model.cpuid().find(r.leaf(), r.subleaf()).map(e -> CpuidTable.register(e, r.register())).orElse(0);
                int after = narrow.cpuid().find(r.leaf(), r.subleaf()).map(e -> CpuidTable.register(e, r.register())).orElse(0);
                for (CoreCpuid.Bit b : CoreCpuid.BITS) {
                    if (b.leaf() == r.leaf() && b.subleaf() == r.subleaf() && b.register() == r.register()) {
                        assertEquals(before & (1 << b.bit()), after & (1 << b.bit()), model.spec() + ": " + b.name() + " kept as it was");
                    }
                }
            }
            assertEquals(0, narrow.cpuid().supportedXcr0() & ~(0x3L | 1L << 19),
                    "XCR0 offers only x87, SSE and APX state, whose instructions the core has");
        }
        CpuModel here = CoreCpuid.narrow(host());
        assertFalse(here.has(CpuFeature.AVX) || here.has(CpuFeature.AVX512F), "no AVX on the core");
        assertTrue(here.has(CpuFeature.SSE2) && here.has(CpuFeature.LM), "SSE2 and long mode stay");
        CpuModel hypervisor = CpuidFixtures.amdModel().withCpuid(CpuidFixtures.amdModel().cpuid().withFeature(CpuFeature.HYPERVISOR, true));
        assertTrue(CoreCpuid.narrow(hypervisor).has(CpuFeature.HYPERVISOR), "the hypervisor bit, a flag with no instructions, stays");
    }

    @Test
    void aGuestOnTheCoreReadsTheNarrowedModel() {
        Cli.Result r = Cli.run("run", "--backend", "emulator", "--image", TestGuests.path("cpuid_report.elf").toString());
        assertEquals(1, r.status(), r.err());
        CpuidTable expected = CoreCpuid.withoutLocalApic(CoreCpuid.narrow(host())).cpuid(); // an image boot has no local APIC
        int lines = 0;
        for (String line : r.out().split("\r?\n")) {
            String[] parts = line.split("[. ]");
            int leaf = Integer.parseUnsignedInt(parts[0]), sub = Integer.parseInt(parts[1]);
            CpuFeature.Reg reg = CpuFeature.Reg.valueOf(parts[2]);
            int seen = Integer.parseUnsignedInt(parts[3]);
            int want = expected.find(leaf, sub).map(e -> CpuidTable.register(e, reg)).orElse(0);
            if (leaf == 1 && reg == CpuFeature.Reg.ECX) {
                want |= seen & (1 << 27); // OSXSAVE: CR4.OSXSAVE as the entry contract set it
            }
            assertEquals(Integer.toHexString(want), Integer.toHexString(seen), line + ": the narrowed model's value");
            lines++;
        }
        assertEquals(10, lines, r.out());
    }

    @Test
    void aFeatureAskedForThatTheCoreLacksIsNamed() {
        String feature = "fma"; // added to the host model by +fma, then dropped again for the core
        Cli.Result r = Cli.run("run", "--backend", "emulator", "--cpu", "host,+" + feature,
                "--image", TestGuests.path("cpuid_report.elf").toString());
        assertEquals(1, r.status(), r.err());
        assertTrue(r.err().contains("the software core does not implement " + feature + ": the guest runs without"), r.err());
    }
}

package io.jkvm.machine;

import io.jkvm.machine.HandoffTest.Run;
import io.jkvm.machine.HandoffTest.Running;
import io.jkvm.snapshot.MachineState;
import io.jkvm.snapshot.SnapshotFile;
import io.jkvm.testing.RequiresKvm;
import io.jkvm.x86.VcpuState;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Snapshots: a machine snapshotted mid-run and restored (on KVM or on the software core) ends exactly as the run
 * that was not interrupted; KVM -> file -> core -> file -> KVM is exact at the state-record level; a corrupt or
 * incomplete snapshot is one line; a snapshot that cannot be written (a full disk) leaves the previous one whole.
 */
@RequiresKvm
class SnapshotTest {
    @TempDir
    Path dir;

    record Restored(Outcome outcome, String out, String err, VcpuState last) {
    }

    static Restored runRestored(Path snapshot, Backend backend, String input) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(), err = new ByteArrayOutputStream();
        Console console = new Console(out, new ByteArrayInputStream(input.getBytes(StandardCharsets.UTF_8)),
                new PrintStream(err, true, StandardCharsets.UTF_8));
        try (Machine m = Machine.restore(snapshot, backend, "/dev/kvm", false, console)) {
            assertEquals(backend, m.backend());
            Outcome o = m.run();
            return new Restored(o, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8), m.vcpus().get(0).saveState());
        }
    }

    /** Snapshots a KVM run at round 3 (paused, so the output so far is exactly what precedes the snapshot). */
    private record Taken(Path file, String outputBefore, Run original) {
    }

    private Taken snapshotMidRun(String name) throws InterruptedException {
        return snapshotMidRun(name, Backend.KVM, "core"); // core: a model both backends restore
    }

    private Taken snapshotMidRun(String name, Backend on, String cpu) throws InterruptedException {
        Path file = dir.resolve(name);
        try (Running r = new Running(on, cpu, false, 0)) {
            r.awaitOutput("round 3: ");
            assertTrue(r.machine.pause());
            String before;
            try {
                r.machine.snapshot(file);
                before = r.output();
            } finally {
                r.machine.resume();
            }
            r.sendInput();
            return new Taken(file, before, r.finish());
        }
    }

    @ParameterizedTest
    @EnumSource(value = Backend.class, names = {"KVM", "EMULATOR"})
    void aSnapshotTakenMidRunResumesAndEndsExactlyAsTheRunWithout(Backend restoreOn) throws Exception {
        Taken t = snapshotMidRun("mid.snap");
        Restored x = runRestored(t.file(), restoreOn, "g");
        assertEquals("", x.err());
        assertEquals(t.original().out(), t.outputBefore() + x.out(), "the output goes on from where the snapshot was taken");
        assertEquals(t.original().outcome(), x.outcome());
        assertEquals(Optional.empty(), HandoffTest.withoutClock(t.original().last()).firstDifference(HandoffTest.withoutClock(x.last())),
                "final vCPU state");
    }

    @Test
    void theCliChecksAndRestoresASnapshot() throws Exception {
        Taken t = snapshotMidRun("cli.snap");
        io.jkvm.testing.Cli.Result check = io.jkvm.testing.Cli.run("snapshot", "check", t.file().toString());
        assertEquals(0, check.status(), check.err());
        assertTrue(check.out().contains("guest RAM:         64M in cli.snap.mem-"), check.out());
        assertTrue(check.out().contains("vCPUs:             1 (active)"), check.out());
        assertTrue(check.out().contains("on KVM here:       yes\n--backend auto:    KVM\n"), check.out());
        long kvmRate;
        try (io.jkvm.kvm.Kvm kvm = io.jkvm.kvm.Kvm.open(); io.jkvm.kvm.Vm vm = kvm.createVm()) {
            kvmRate = vm.createVcpu(0).tscKhz();
        }
        String rate = kvmRate == 0 ? "rate unknown" : kvmRate + " kHz";
        assertTrue(check.out().contains("TSC:               " + rate + " when saved; KVM here " + rate
                + (kvmRate == 0 ? "; the software core 1000000 kHz\n" : ", takes it; the software core takes it\n")),
                "the KVM snapshot carries KVM's TSC rate:\n" + check.out());

        io.jkvm.testing.Cli.Result restored = io.jkvm.testing.Cli.runWithInput("g", "restore", t.file().toString(), "--backend", "emulator", "--trace");
        assertEquals(t.original().outcome().exitStatus(), restored.status(), restored.err());
        assertEquals(t.original().out(), t.outputBefore() + restored.out());
        assertTrue(java.util.regex.Pattern.compile("(?m)^jkvm: restored " + java.util.regex.Pattern.quote(t.file().toString())
                + " on emulator in \\d+\\.\\d ms$").matcher(restored.err()).find(), "--trace says how long the restore took:\n" + restored.err());

        Path broken = dir.resolve("broken.snap");
        Files.writeString(broken, "JKVMSNAP");
        io.jkvm.testing.Cli.Result bad = io.jkvm.testing.Cli.run("restore", broken.toString());
        assertEquals(2, bad.status());
        assertEquals("jkvm: " + broken + " is not a jkvm snapshot (it does not start with JKVMSNAP)", bad.errorLine());
        assertEquals(2, io.jkvm.testing.Cli.run("snapshot", "check", broken.toString()).status());
    }

    @Test
    void kvmToFileToCoreToFileToKvmIsExactAtTheStateRecordLevel() throws Exception {
        Path a = dir.resolve("a.snap"), b = dir.resolve("b.snap");
        MachineState onKvm;
        try (Running r = new Running(Backend.KVM, "core", false, 0)) {
            r.awaitOutput("round 2: ");
            assertTrue(r.machine.pause());
            try {
                onKvm = r.machine.capture();
                r.machine.snapshot(a);
            } finally {
                r.machine.resume();
            }
        }
        MachineState onCore;
        try (Machine core = Machine.restore(a, Backend.EMULATOR, "/dev/kvm", false, quiet())) {
            onCore = core.capture();
            assertSame(onKvm, onCore, "KVM -> file -> core");
            assertEquals(onKvm.tscKhz(), onCore.tscKhz(), "the core's TSC counts at the rate KVM's did");
            SnapshotFile.write(b, onCore, core.memory());
        }
        try (Machine kvm = Machine.restore(b, Backend.KVM, "/dev/kvm", false, quiet())) {
            assertSame(onCore, kvm.capture(), "core -> file -> KVM");
        }
    }

    /**
     * restore --cpu: a guest saved with core,-F goes on under core (a model with more) exactly as the run without a
     * snapshot; a guest saved with core is refused by core,-F in one line, by restore and by snapshot check alike.
     * F is a feature the guest does not use that this host's model and the core have ({@link io.jkvm.testing.HostModel}).
     */
    @Test
    void restoreWithAnotherCpuModelGoesOnOrIsRefusedInOneLine() throws Exception {
        String feature = io.jkvm.testing.HostModel.removableCoreFeature();
        String narrowModel = "core,-" + feature;
        Taken narrow = snapshotMidRun("narrow.snap", Backend.EMULATOR, narrowModel);
        io.jkvm.testing.Cli.Result check = io.jkvm.testing.Cli.run("snapshot", "check", narrow.file().toString(), "--cpu", "core");
        assertEquals(0, check.status(), check.err());
        assertTrue(check.out().contains("CPU model:         core: "), check.out());
        io.jkvm.testing.Cli.Result wider = io.jkvm.testing.Cli.runWithInput("g", "restore", narrow.file().toString(),
                "--backend", "emulator", "--cpu", "core");
        assertEquals(narrow.original().outcome().exitStatus(), wider.status(), wider.err());
        assertEquals(narrow.original().out(), narrow.outputBefore() + wider.out(), "the output goes on under the wider model");

        Taken t = snapshotMidRun("wide.snap");
        for (String[] command : List.of(new String[]{"restore", t.file().toString(), "--backend", "emulator", "--cpu", narrowModel},
                new String[]{"snapshot", "check", t.file().toString(), "--cpu", narrowModel})) {
            io.jkvm.testing.Cli.Result refused = io.jkvm.testing.Cli.runWithInput("g", command); // "g" ends a guest not refused
            assertEquals(2, refused.status(), String.join(" ", command) + ": " + refused.err());
            assertTrue(refused.errorLine().startsWith("jkvm: cannot restore with --cpu " + narrowModel + ": the model lacks "
                    + feature + " ("), refused.err());
            assertEquals("", refused.out(), "nothing ran and nothing was reported");
        }
    }

    /**
     * A core snapshot (TSC at 1 GHz) restored on KVM: KVM takes the rate where it can scale the TSC (or the host's TSC
     * is slower, when KVM catches up), else the vCPU keeps the host's rate and one warning line says so.
     */
    @Test
    void aCoreSnapshotOnKvmTakesItsTscRateOrSaysItCannot() throws Exception {
        Path file = snapshotMidRun("core.snap", Backend.EMULATOR, "host").file();
        long hostRate;
        boolean scales;
        try (io.jkvm.kvm.Kvm kvm = io.jkvm.kvm.Kvm.open(); io.jkvm.kvm.Vm vm = kvm.createVm()) {
            hostRate = vm.createVcpu(0).tscKhz();
            scales = vm.checkExtension(io.jkvm.kvm.Capability.TSC_CONTROL) > 0;
        }
        boolean takes = scales || hostRate < 1_000_000;
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        Console console = new Console(new ByteArrayOutputStream(), null, new PrintStream(err, true, StandardCharsets.UTF_8));
        try (Machine m = Machine.restore(file, Backend.KVM, "/dev/kvm", false, console)) {
            assertEquals(takes ? 1_000_000 : hostRate, m.vcpus().get(0).tscKhz());
        }
        assertEquals(takes ? "" : "jkvm: warning: the guest's TSC counted at 1000000 kHz in " + file + "; KVM here cannot "
                + "scale it to that rate (no KVM_CAP_TSC_CONTROL, or out of its range), so it counts at " + hostRate
                + " kHz from now on\n", err.toString(StandardCharsets.UTF_8));
    }

    /**
     * A snapshot whose vCPU has APX on and R16-R31 live: restored with --backend auto it runs where the host can hold
     * APX (KVM when its supported CPUID has APX, else the software core, saying why in one line), registers intact.
     */
    @Test
    void anApxSnapshotRestoresWhereApxCanRunWithItsRegisters() throws Exception {
        Path file = dir.resolve("apx.snap");
        io.jkvm.x86.ApxState egprs = io.jkvm.x86.ApxState.zero();
        for (int r = 16; r < 32; r++) {
            egprs = egprs.withR(r, 0xA9A9_0000_0000_0000L + r);
        }
        long xcr0 = 0x3 | io.jkvm.x86.XsaveComponent.APX.mask();
        MachineConfig d = MachineConfig.defaults();
        MachineConfig config = new MachineConfig(Optional.empty(), d.memorySize(), 1, "host,+apx", Backend.AUTO,
                d.loadAddress(), d.kvmPath(), false);
        try (Machine m = Machine.create(config, quiet())) {
            io.jkvm.x86.VirtualCpu v = m.vcpus().getFirst();
            v.setXcr0(xcr0);
            VcpuState s = v.saveState();
            v.restoreState(s.withXsave(s.xsave().setApx(egprs)));
            SnapshotFile.write(file, m.capture(), m.memory());
        }
        boolean kvmHasApx;
        try (io.jkvm.kvm.Kvm kvm = io.jkvm.kvm.Kvm.open()) {
            kvmHasApx = kvm.supportedCpuid().hasApx();
        }
        ByteArrayOutputStream notices = new ByteArrayOutputStream();
        Console console = new Console(new ByteArrayOutputStream(), null, new PrintStream(notices, true, StandardCharsets.UTF_8));
        try (Machine r = Machine.restore(file, Backend.AUTO, "/dev/kvm", false, console)) {
            assertEquals(kvmHasApx ? Backend.KVM : Backend.EMULATOR, r.backend());
            VcpuState restored = r.vcpus().getFirst().saveState();
            assertEquals(egprs, restored.egprs());
            assertEquals(xcr0, restored.xcr0());
        }
        assertEquals(kvmHasApx ? "" : "jkvm: this host's KVM lacks", notices.toString(StandardCharsets.UTF_8).lines()
                .map(l -> l.startsWith("jkvm: this host's KVM lacks") ? "jkvm: this host's KVM lacks" : l).findFirst().orElse(""));
    }

    private static void assertSame(MachineState expected, MachineState actual, String what) {
        assertEquals(expected.cpu(), actual.cpu(), what + ": CPU model");
        assertEquals(expected.memorySize(), actual.memorySize());
        assertEquals(expected.devices(), actual.devices(), what + ": devices");
        assertEquals(expected.vcpus().size(), actual.vcpus().size());
        for (int i = 0; i < expected.vcpus().size(); i++) {
            assertEquals(Optional.empty(), expected.vcpus().get(i).firstDifference(actual.vcpus().get(i)), what + ": vCPU " + i);
        }
    }

    private static Console quiet() {
        return new Console(new ByteArrayOutputStream(), null, new PrintStream(new ByteArrayOutputStream()));
    }

    private static String restoreError(Path snapshot) {
        MachineException e = assertThrows(MachineException.class,
                () -> Machine.restore(snapshot, Backend.EMULATOR, "/dev/kvm", false, quiet()).close());
        assertEquals(1, e.getMessage().lines().count(), e.getMessage());
        return e.getMessage();
    }

    /** A snapshot of a KVM guest whose model has what the core lacks (`host`) is not restored on the core: one line. */
    @Test
    void aModelTheCoreLacksPartOfIsNotRestoredOnTheCore() throws Exception {
        Path file = snapshotMidRun("host.snap", Backend.KVM, "host").file();
        String why = restoreError(file);
        assertTrue(why.startsWith("cannot restore on the software core: the guest's CPU model has ")
                && why.endsWith("which the core does not implement; restore it where KVM runs that model"
                + " (a VM made with --cpu core runs on both)"), why);
        try (Machine kvm = Machine.restore(file, Backend.AUTO, "/dev/kvm", false, quiet())) {
            assertEquals(Backend.KVM, kvm.backend(), "auto restores it on KVM here");
        }
    }

    @Test
    void corruptTruncatedForeignAndIncompleteSnapshotsAreOneLineEach() throws Exception {
        Path good = snapshotMidRun("good.snap").file();
        byte[] bytes = Files.readAllBytes(good);

        Path flipped = dir.resolve("flipped.snap");
        byte[] f = bytes.clone();
        f[bytes.length / 2] ^= 0x20;
        Files.write(flipped, f);
        assertTrue(restoreError(flipped).matches(".*flipped\\.snap is corrupt: section \\d+ \\(.*\\) fails its CRC32C"));

        Path truncated = dir.resolve("truncated.snap");
        Files.write(truncated, java.util.Arrays.copyOf(bytes, bytes.length - 100));
        assertTrue(restoreError(truncated).contains("truncated.snap is truncated"), restoreError(truncated));

        Path foreign = dir.resolve("foreign.snap");
        Files.writeString(foreign, "not a snapshot at all");
        assertEquals(foreign + " is not a jkvm snapshot (it does not start with JKVMSNAP)", restoreError(foreign));

        Path future = dir.resolve("future.snap");
        byte[] v = bytes.clone();
        v[8] = 9;
        Files.write(future, v);
        assertEquals(future + " is a version 9 snapshot; this jkvm reads version 1: restore it with the jkvm that wrote it",
                restoreError(future));

        assertEquals("snapshot " + dir.resolve("none.snap") + " does not exist: pass the file a snapshot was written to",
                restoreError(dir.resolve("none.snap")));

        Path memory = memoryFileOf(good);
        byte[] ram = Files.readAllBytes(memory);
        ram[0x100000] ^= 1; // the guest's code
        Files.write(memory, ram);
        assertTrue(restoreError(good).endsWith("is corrupt (its checksum differs): take the snapshot again"), restoreError(good));
        Files.delete(memory);
        assertTrue(restoreError(good).contains("is missing or not 67108864 bytes: copy it beside the snapshot with the snapshot"),
                restoreError(good));
    }

    private static Path memoryFileOf(Path snapshot) throws IOException {
        try (Stream<Path> files = Files.list(snapshot.getParent())) {
            List<Path> found = files.filter(p -> p.getFileName().toString().startsWith(snapshot.getFileName() + ".mem-")).toList();
            assertEquals(1, found.size(), "one memory file beside " + snapshot + ": " + found);
            return found.getFirst();
        }
    }

    @Test
    void theMemoryFileIsSparseAndASnapshotOverAnotherReplacesItWhole() throws Exception {
        Taken first = snapshotMidRun("vm.snap");
        Path memory = memoryFileOf(first.file());
        assertEquals(64L << 20, Files.size(memory));
        Process du = new ProcessBuilder("du", "-k", memory.toString()).start();
        long allocated = Long.parseLong(new String(du.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim().split("\\s+")[0]);
        assertTrue(allocated < 4096, "a 64 MiB guest that touched little takes little disk: " + allocated + " KiB");
        Taken second = snapshotMidRun("vm.snap");
        Path replaced = memoryFileOf(second.file());
        assertTrue(!replaced.equals(memory) && !Files.exists(memory), "the old memory file went with the old snapshot");
        assertEquals("", runRestored(second.file(), Backend.EMULATOR, "g").err());
    }

    @Test
    void aFullDiskLeavesThePreviousSnapshotWholeAndTheVmRunning() throws Exception {
        Path small = dir.resolve("small");
        Files.createDirectory(small);
        assertEquals(0, new ProcessBuilder("mount", "-t", "tmpfs", "-o", "size=2M", "tmpfs", small.toString()).inheritIO().start().waitFor(),
                "mount a 2 MiB tmpfs (the tests run as root)");
        try {
            Path file = small.resolve("vm.snap");
            try (Running r = new Running(Backend.KVM, "core", false, 0)) {
                r.awaitOutput("round 2: ");
                r.machine.snapshot(file); // a few hundred KiB of touched RAM: fits
                byte[] before = Files.readAllBytes(file);
                for (long page = 0x800000; page < 0x800000 + (4L << 20); page += 4096) {
                    r.machine.memory().writeLong(page, page | 1); // 4 MiB more in use: no longer fits
                }
                MachineException e = assertThrows(MachineException.class, () -> r.machine.snapshot(file));
                assertTrue(e.getMessage().startsWith("cannot write snapshot " + file + " (No space left on device)"), e.getMessage());
                try (Stream<Path> left = Files.list(small)) {
                    assertEquals(List.of("vm.snap", memoryFileOf(file).getFileName().toString()).stream().sorted().toList(),
                            left.map(p -> p.getFileName().toString()).sorted().toList(), "no temporary file is left");
                }
                assertTrue(java.util.Arrays.equals(before, Files.readAllBytes(file)), "the previous snapshot is as it was");
                r.sendInput();
                assertTrue(r.finish().out().contains("checksum "), "the VM ran on to its end");
            }
            // Restored from a copy on a disk filesystem: mapping a sparse file on a full tmpfs faults on its holes
            Path copy = dir.resolve("vm.snap");
            Files.copy(file, copy);
            Path memory = memoryFileOf(file);
            Files.copy(memory, dir.resolve(memory.getFileName()));
            assertEquals("", runRestored(copy, Backend.EMULATOR, "g").err(), "the previous snapshot still restores");
        } finally {
            new ProcessBuilder("umount", small.toString()).inheritIO().start().waitFor();
        }
    }
}

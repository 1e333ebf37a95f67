package io.jkvm.cli;

import io.jkvm.testing.Cli;
import io.jkvm.testing.RequiresKvm;
import io.jkvm.x86.CpuidTable;
import io.jkvm.x86.Vendor;
import io.jkvm.testing.TestGuests;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.atomic.AtomicReference;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** `jkvm run` end to end on the real /dev/kvm: guests' serial output and exit status, and every bad input. */
class RunCommandTest {

    private static String guest(String name) {
        return TestGuests.path(name).toString();
    }

    @Test
    @RequiresKvm
    void theBundledGuestPrintsItsBannerCpuAndMemoryCheckAndExitsWithStatus1() {
        Cli.Result r = Cli.run("run");
        assertEquals(1, r.status(), r.err());
        assertTrue(r.out().startsWith("jkvm demo guest: hello from 64-bit long mode\r\n"), r.out());
        CpuidTable host;
        try (io.jkvm.kvm.Kvm kvm = io.jkvm.kvm.Kvm.open()) {
            host = kvm.supportedCpuid();
        }
        int signature = host.leaf(1, 0).eax();
        assertTrue(r.out().contains("CPU vendor: " + host.vendor() + "\r\nCPU family " + Vendor.family(signature) + " model "
                + Vendor.model(signature) + "\r\n"), "the host's vendor and signature, decoded as Linux does (any vendor): " + r.out());
        assertTrue(r.out().contains("memory: 16 pages written and read back\r\n"), r.out());
        assertEquals("", r.err());
    }

    @Test
    @RequiresKvm
    void theBundledGuestRunsInTheSmallestMemoryAllowed() {
        Cli.Result r = Cli.run("run", "--mem", "2M");
        assertEquals(1, r.status(), r.err());
        assertTrue(r.out().contains("memory: 16 pages written and read back"), r.out());
    }

    @Test
    @RequiresKvm
    void aFlatBinaryRunsAtTheDefaultAndAnyOtherLoadAddress() {
        for (String[] extra : new String[][]{{}, {"--load-addr", "0x345000"}}) {
            String[] args = java.util.stream.Stream.concat(
                    java.util.stream.Stream.of("run", "--image", guest("hello_flat.bin")), java.util.Arrays.stream(extra))
                    .toArray(String[]::new);
            Cli.Result r = Cli.run(args);
            assertEquals("hello from a flat binary\r\n", r.out());
            assertEquals((0x21 << 1) | 1, r.status());
        }
    }

    @Test
    @RequiresKvm
    void anElfImageExitsWithANonZeroDebugExitCode() {
        Cli.Result r = Cli.run("run", "--image", guest("exit42.elf"), "--mem", "32M");
        assertEquals("exit code 42 coming\r\n", r.out());
        assertEquals(85, r.status());
    }

    @Test
    @RequiresKvm
    void hltWithInterruptsDisabledEndsWithStatus0() {
        Cli.Result r = Cli.run("run", "--image", guest("halt.elf"));
        assertEquals("halting\r\n", r.out());
        assertEquals(0, r.status());
        assertEquals("", r.err());
    }

    @Test
    @RequiresKvm
    void aTripleFaultIsOneLineWithRipAndTheExitReasonAndStatus2() {
        Cli.Result r = Cli.run("run", "--image", guest("triple_fault.elf"));
        assertEquals("about to triple-fault\r\n", r.out());
        assertEquals(2, r.status());
        String line = r.errorLine();
        assertTrue(line.startsWith("jkvm: guest shut down (a triple fault) at RIP 0x10000c (bytes at RIP: 0f 0b"), line);
    }

    @Test
    @RequiresKvm
    void serialInputReachesTheGuest() {
        Cli.Result r = Cli.runWithInput("hello, jkvm\n", "run", "--image", guest("echo.elf"));
        assertEquals("echo> HELLO, JKVM\n", r.out());
        assertEquals(1, r.status());
    }

    @Test
    @RequiresKvm
    void serialInputRaisesIrq4ThroughThePicIntoAGuestWaitingInHlt() {
        for (String backend : new String[]{"emulator", "kvm"}) {
            Cli.Result r = Cli.runWithInput("hello, interrupts\n", "run", "--backend", backend, "--image", guest("irq_echo.elf"));
            assertEquals("irq> HELLO, INTERRUPTS\nISR in the handler: 16, after EOI: 0\r\n", r.out(), backend);
            assertEquals(1, r.status(), backend + ": " + r.err());
        }
    }

    /**
     * --cpus 3 makes three KVM vCPUs, counted where the kernel keeps them: each is an fd of this process whose link
     * reads "anon_inode:kvm-vcpu:ID". The count is taken from the serial input stream, which the machine first reads
     * once it runs (its vCPUs made) and which echo.elf waits for; vCPUs 1 and 2 stay halted while vCPU 0 echoes.
     */
    @Test
    @RequiresKvm
    void cpusMakesThatManyVcpusAndTheExtraOnesWaitWhileVcpu0Runs() throws IOException {
        Map<Integer, String> before = kvmVcpuFds();
        AtomicReference<Map<Integer, String>> whileRunning = new AtomicReference<>();
        InputStream in = new InputStream() {
            private final byte[] line = "three\n".getBytes(StandardCharsets.US_ASCII);
            private int next;

            @Override
            public int read() throws IOException {
                if (whileRunning.get() == null) {
                    whileRunning.set(kvmVcpuFds());
                }
                return next < line.length ? line[next++] : -1;
            }
        };
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int status = Main.execute(new String[]{"run", "--backend", "kvm", "--cpus", "3", "--image", guest("echo.elf")},
                new PrintStream(out, true, StandardCharsets.UTF_8), new PrintStream(err, true, StandardCharsets.UTF_8), in);
        assertEquals(1, status, err.toString(StandardCharsets.UTF_8));
        assertEquals("echo> THREE\n", out.toString(StandardCharsets.UTF_8));
        Map<Integer, String> made = new TreeMap<>(whileRunning.get());
        made.keySet().removeAll(before.keySet());
        assertEquals(List.of("kvm-vcpu:0", "kvm-vcpu:1", "kvm-vcpu:2"), made.values().stream().sorted().toList());
        assertEquals(before, kvmVcpuFds(), "closed again when the run is over");
    }

    /** This process's KVM vCPU fds: fd number to "kvm-vcpu:ID". */
    private static Map<Integer, String> kvmVcpuFds() throws IOException {
        Map<Integer, String> vcpus = new TreeMap<>();
        try (DirectoryStream<Path> fds = Files.newDirectoryStream(Path.of("/proc/self/fd"))) {
            for (Path fd : fds) {
                try {
                    String target = Files.readSymbolicLink(fd).toString();
                    if (target.startsWith("anon_inode:kvm-vcpu:")) {
                        vcpus.put(Integer.parseInt(fd.getFileName().toString()), target.substring("anon_inode:".length()));
                    }
                } catch (IOException closedMeanwhile) {
                    // an fd of another thread that went away between listing and reading: not a vCPU of ours
                }
            }
        }
        return vcpus;
    }

    /**
     * POPCNT with an MMIO operand: KVM's instruction emulator has no POPCNT, so KVM on any host (VMX, SVM, kvm_pvm)
     * stops with an emulation failure there. The default backend is KVM for the host model.
     */
    @Test
    @RequiresKvm
    void anInstructionThisKvmCannotRunIsReportedWithItsBytes() {
        Cli.Result r = Cli.run("run", "--image", guest("popcnt_mmio.elf"));
        assertEquals(2, r.status(), r.out() + r.err());
        assertEquals("jkvm: KVM could not run the guest (KVM_EXIT_INTERNAL_ERROR, suberror 1: emulation failure) at RIP 0x100005 "
                + "(bytes at RIP: f3 48 0f b8 01 48 8d 35 76 00 00 00 e8 18 00): this host's KVM cannot execute that "
                + "instruction; change the guest or run it on another host", r.errorLine());
        assertEquals("", r.out());
    }

    // ---- bad input: one line, naming the thing and the fix, status 2 --------------------------------------------

    @Test
    void aMissingImage() {
        Cli.Result r = Cli.run("run", "--image", "/nonexistent/guest.elf");
        assertEquals(2, r.status());
        assertEquals("jkvm: image /nonexistent/guest.elf does not exist: pass --image with the path of a guest ELF or flat binary",
                r.errorLine());
    }

    @Test
    void anEmptyImage(@TempDir Path dir) throws Exception {
        Path empty = Files.createFile(dir.resolve("empty.bin"));
        Cli.Result r = Cli.run("run", "--image", empty.toString());
        assertEquals(2, r.status());
        assertEquals("jkvm: image " + empty + " is empty: pass a guest ELF or flat binary", r.errorLine());
    }

    @Test
    void anImageLargerThanRam(@TempDir Path dir) throws Exception {
        Path big = dir.resolve("big.bin");
        Files.write(big, new byte[3 << 20]);
        Cli.Result r = Cli.run("run", "--image", big.toString(), "--mem", "2M");
        assertEquals(2, r.status());
        assertEquals("jkvm: image " + big + " is 3145728 bytes, more than the 2M of guest RAM: raise --mem or use a smaller image",
                r.errorLine(), "refused by its size, before it is read");
    }

    @Test
    void aFlatImageThatFitsRamButNotAtItsLoadAddress(@TempDir Path dir) throws Exception {
        Path image = dir.resolve("late.bin");
        Files.write(image, new byte[1 << 20]);
        Cli.Result r = Cli.run("run", "--backend", "emulator", "--image", image.toString(), "--mem", "2M", "--load-addr", "0x180000");
        assertEquals(2, r.status());
        assertEquals("jkvm: image " + image + " (1048576 bytes at 0x180000) does not fit in 2M of guest RAM: raise --mem", r.errorLine());
    }

    @Test
    void anElfForAnotherArchitecture(@TempDir Path dir) throws Exception {
        byte[] elf = Files.readAllBytes(TestGuests.path("exit42.elf"));
        ByteBuffer.wrap(elf).order(ByteOrder.LITTLE_ENDIAN).putShort(18, (short) 183);
        Path arm = dir.resolve("arm.elf");
        Files.write(arm, elf);
        Cli.Result r = Cli.run("run", "--image", arm.toString());
        assertEquals(2, r.status());
        assertEquals("jkvm: image " + arm + " is an ELF for AArch64 (e_machine 183), not x86-64: build the guest for x86-64",
                r.errorLine());
    }

    @Test
    void memoryTooSmallOrUnparsable() {
        Cli.Result small = Cli.run("run", "--mem", "1M");
        assertEquals(2, small.status());
        assertEquals("jkvm: --mem 1M is too small: jkvm needs at least 2M (boot tables below 1M, the image at 0x100000, a stack)",
                small.errorLine());
        Cli.Result garbage = Cli.run("run", "--mem", "lots");
        assertEquals(2, garbage.status());
        assertEquals("jkvm: Invalid value for option '--mem': 'lots' is not a size: write a number with K, M or G, e.g. 64M"
                + " (see jkvm run --help)", garbage.errorLine());
    }

    @Test
    void traceNamesTheInstructionTheSoftwareCoreLacks() {
        Cli.Result r = Cli.run("run", "--backend", "emulator", "--trace", "--image", guest("triple_fault.elf"));
        assertEquals(2, r.status());
        assertTrue(r.err().lines().anyMatch(l -> l.startsWith("jkvm: vCPU 0: #UD at RIP 0x10000c, bytes 0f 0b")), r.err());
        assertTrue(r.err().lines().anyMatch(l -> l.startsWith("jkvm: the software core runs --cpu host without ")),
                "and --trace names the CPUID bits the core's model dropped: " + r.err());
    }

    @Test
    void coreStatsSayWhereEachVcpusInstructionsRan() {
        Cli.Result r = Cli.run("run", "--backend", "emulator", "--cpus", "2", "--core-stats");
        assertEquals(1, r.status(), r.err());
        java.util.List<String> lines = r.err().lines().filter(l -> l.contains(" core: ")).toList();
        assertEquals(2, lines.size(), r.err());
        java.util.regex.Pattern line = java.util.regex.Pattern.compile("jkvm: vcpu (\\d) core: (\\d+) instructions: ([\\d.]+)%"
                + " in compiled regions \\(\\d+ entries\\), ([\\d.]+)% in decoded blocks \\(\\d+ runs\\), ([\\d.]+)% one at a time;"
                + " \\d+ decoded, \\d+ cache flush(es)?, \\d+ regions? compiled");
        long[] instructions = new long[2];
        for (int id = 0; id < 2; id++) {
            java.util.regex.Matcher m = line.matcher(lines.get(id));
            assertTrue(m.matches(), lines.get(id));
            assertEquals(Integer.toString(id), m.group(1));
            double shares = Double.parseDouble(m.group(3)) + Double.parseDouble(m.group(4)) + Double.parseDouble(m.group(5));
            instructions[id] = Long.parseLong(m.group(2));
            assertEquals(instructions[id] == 0 ? 0.0 : 100.0, shares, 0.15, lines.get(id));
        }
        assertTrue(instructions[0] > 1000, "the boot vCPU ran the guest: " + lines.get(0));
        assertEquals(0, instructions[1], "the bundled guest starts no other vCPU: " + lines.get(1));
        assertEquals("", Cli.run("run", "--backend", "emulator").err(), "no statistics without --core-stats");
    }

    @Test
    void anUnknownBackend() {
        Cli.Result bogus = Cli.run("run", "--backend", "xen");
        assertEquals(2, bogus.status());
        assertTrue(bogus.errorLine().contains("'xen' is not a backend: use auto, kvm or emulator"), bogus.errorLine());
        assertEquals("", bogus.out(), "nothing ran");
    }

    @Test
    @RequiresKvm
    void aCpuModelKvmCannotRunFallsBackToTheSoftwareCoreUnderAutoAndIsRefusedUnderKvm() {
        try (io.jkvm.kvm.Kvm kvm = io.jkvm.kvm.Kvm.open()) {
            if (!kvm.supportedCpuid().hasApx()) {
                Cli.Result auto = Cli.run("run", "--cpu", "host,+apx");
                assertEquals(1, auto.status(), auto.err());
                assertTrue(auto.out().contains("memory: 16 pages written and read back"), auto.out());
                String notice = auto.errorLine(); // this KVM's supported CPUID also lacks the XSAVE bit APX brings with it
                assertTrue(notice.startsWith("jkvm: this host's KVM lacks ") && notice.contains("apx (CPUID.(7,1):EDX[21])")
                        && notice.endsWith(": running the vCPUs on the software core"), notice);
                Cli.Result forced = Cli.run("run", "--cpu", "host,+apx", "--backend", "kvm");
                assertEquals(2, forced.status());
                String refusal = forced.errorLine();
                assertTrue(refusal.startsWith("jkvm: --cpu host,+apx needs ") && refusal.contains("apx (CPUID.(7,1):EDX[21])")
                        && refusal.endsWith("which this host's KVM lacks: use --backend auto or emulator to run it on the software core"), refusal);
                assertEquals("", forced.out());
            }
        }
        Cli.Result less = Cli.run("run", "--cpu", "host,-avx512f,-avx2", "--image", guest("exit42.elf"));
        assertEquals(85, less.status(), less.err());
        assertEquals("", less.err(), "a model KVM runs stays on KVM, without a notice");
        Cli.Result bogus = Cli.run("run", "--cpu", "host,+bogus");
        assertEquals(2, bogus.status());
        assertTrue(bogus.errorLine().startsWith("jkvm: --cpu host,+bogus: unknown CPU feature 'bogus': known features are"), bogus.errorLine());
    }

    @Test
    @RequiresKvm
    void anApxGuestRunsThroughTheCli() {
        Cli.Result r = Cli.run("run", "--cpu", "host,+apx", "--image", guest("apx.elf"));
        assertEquals(1, r.status(), r.err());
        assertEquals("APX: R16-R31 written and read back\r\n", r.out());
    }

    @Test
    void noKvmDevice() {
        Cli.Result r = Cli.run("run", "--kvm", "/nonexistent/kvm");
        assertEquals(2, r.status());
        assertEquals("jkvm: /nonexistent/kvm does not exist: enable KVM on the host (modprobe kvm_intel or kvm_amd, "
                + "virtualization on in the firmware) or pass --device /dev/kvm to the container", r.errorLine());
    }

    @Test
    void unknownOptionsAndHelp() {
        Cli.Result r = Cli.run("run", "--frobnicate");
        assertEquals(2, r.status());
        assertTrue(r.errorLine().startsWith("jkvm: Unknown option: '--frobnicate'"), r.errorLine());
        Cli.Result help = Cli.run("run", "--help");
        assertEquals(0, help.status());
        assertTrue(help.out().contains("--image=FILE"), help.out());
        // defaults written into their descriptions (the model interpolates nothing)
        for (String shown : new String[] {"RAM, with K/M/G suffix (default: 64M)", "or auto (default: auto)", "(default: host);", "(default: 1)"}) {
            assertTrue(help.out().replaceAll("\\s+", " ").contains(shown), shown + " in " + help.out());
        }
        assertFalse(help.out().contains("${"), help.out());
        Cli.Result version = Cli.run("--version");
        assertEquals(0, version.status());
        assertTrue(version.out().startsWith("jkvm "), version.out());
    }
}

package io.jkvm.cli;

import io.jkvm.testing.Cli;
import io.jkvm.testing.LinuxGuest;
import io.jkvm.testing.RequiresKvm;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The training run scripts/jkvm makes the JDK's AOT cache from: each start path it means to cover runs to the status
 * a user would see, so the cache holds those paths' classes and not an early error's; the bundled guest also runs
 * with every block compiled, the training guest to the end of its checks, and the sandbox is rehearsed
 * (SandboxRehearsalTest: without confining the JVM). (The container test starts the image's jkvm with -XX:AOTMode=on,
 * which fails when the cache made from this run cannot be used.)
 */
class AotTrainingTest {
    @Test
    @RequiresKvm
    void everyStartPathRunsToItsOrdinaryStatus() {
        Cli.Result r = Cli.run("aot-training");
        assertEquals(0, r.status(), r.err());
        String line = r.out().strip();
        assertTrue(line.startsWith("aot-training: run --backend emulator --sandbox off -> 1;"
                + " run --backend emulator --sandbox off -> 1 (every block compiled);"
                + " run --backend emulator --sandbox off --cpu host,+ssse3 --image training.elf -> 1;"
                + " run --backend auto --sandbox off -> 1;"
                + " snapshot check "), line);
        assertTrue(line.matches(".*snapshot check \\S+bundled\\.snap -> 0; restore \\S+bundled\\.snap --backend emulator --trace"
                + " --sandbox off -> 1; info -> 0; info --json -> 0; started ahead; sandbox rehearsed"),
                "the bundled guest ends through debug-exit (status 1) from its snapshot too: " + line);
        assertEquals("", r.err());
    }

    /** The whole training on any host: it runs through every command's step (those needing KVM end in their error). */
    @Test
    void theWholeTrainingRunsEveryCommandsStep() {
        Cli.Result r = Cli.run("aot-training");
        assertEquals(0, r.status(), r.err());
        String line = r.out().strip();
        assertTrue(line.matches("aot-training: run .* -> [12]; snapshot check \\S+ -> 0; restore \\S+ .* -> 1; info -> [02];"
                + " info --json -> [02]; started ahead; sandbox rehearsed"), line);
    }

    /** The run cache's training: a guest's launch alone, none of the commands that bring the JSON classes. */
    @Test
    void runOnlyRunsAGuestsLaunchAndNothingElse() {
        Cli.Result r = Cli.run("aot-training", "--run-only");
        assertEquals(0, r.status(), r.err());
        String line = r.out().strip();
        assertTrue(line.startsWith("aot-training: run --backend emulator --sandbox off -> 1;"
                + " run --backend emulator --sandbox off -> 1 (every block compiled);"
                + " run --backend emulator --sandbox off --cpu host,+ssse3 --image training.elf -> 1;" // its checks held: v = 0
                + " run --backend auto --sandbox off -> "), line); // 1 where KVM runs the guest, else 2 (no device)
        assertTrue(line.endsWith("; started ahead; sandbox rehearsed"), line);
        assertTrue(!line.contains("snapshot") && !line.contains("restore") && !line.contains("info"), line);
    }

    /**
     * The Linux cache's training: a boot of the kernel on the core with two vCPUs into the training /init's user space,
     * whose eight children must each exit with 0 for it to power the machine off (status 0; else the kernel panics,
     * status 2), and KVM's launch; none of the bundled guest's.
     */
    @Test
    @Timeout(600)
    void linuxBootsTheKernelIntoTheTrainingUserSpaceAndRunsNoBundledGuest() throws Exception {
        String kernel = LinuxGuest.guest().resolve("vmlinux").toString();
        Cli.Result r = Cli.run("aot-training", "--linux", kernel);
        assertEquals(0, r.status(), r.err());
        String line = r.out().strip();
        assertTrue(line.matches("aot-training: run --backend emulator --sandbox off --cpus 2 --mem 256M --kernel "
                + Pattern.quote(kernel) + " --initrd training-init.cpio --append console=ttyS0 panic=-1 -> 0; run --backend auto"
                + " --sandbox off -> [12];"
                + " started ahead; sandbox rehearsed"), line);
    }

    @Test
    void linuxNamesAMissingKernel() {
        Cli.Result r = Cli.run("aot-training", "--linux", "/nonexistent/vmlinux");
        assertEquals(2, r.status());
        assertEquals("jkvm: --linux /nonexistent/vmlinux: no such file (or not a regular file): give the Linux kernel to"
                + " train on", r.err().strip());
        assertEquals("", r.out());
    }

    @Test
    void itIsNotInTheHelp() {
        Cli.Result r = Cli.run("--help");
        assertEquals(0, r.status());
        assertTrue(r.out().contains("restore") && !r.out().contains("aot-training"), r.out());
    }
}

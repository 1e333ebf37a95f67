package io.jkvm.container;

import com.github.dockerjava.api.DockerClient;
import com.github.dockerjava.api.model.Device;
import io.jkvm.testing.KvmDeviceCondition;
import io.jkvm.testing.TestGuests;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.testcontainers.containers.BindMode;
import org.testcontainers.containers.GenericContainer;
import org.testcontainers.containers.output.OutputFrame;
import org.testcontainers.containers.startupcheck.StartupCheckStrategy;
import org.testcontainers.images.builder.ImageFromDockerfile;
import org.testcontainers.junit.jupiter.Testcontainers;

import java.nio.file.Path;
import java.time.Duration;
import java.util.Locale;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Builds the project's Dockerfile and runs jkvm in the container against this host's /dev/kvm (on a host without
 * the device, on the software core). The KVM device
 * goes in with --device /dev/kvm, or --privileged when JKVM_CONTAINER_KVM=privileged (or -Djkvm.container.kvm).
 * Base images come from JKVM_BUILD_IMAGE / JKVM_RUNTIME_IMAGE when set (scripts/docker-bases makes local ones),
 * else the Dockerfile's public defaults. Skipped, saying so, where no Docker engine can be reached.
 */
@Testcontainers(disabledWithoutDocker = true)
class ContainerTest {
    private static final Path PROJECT = Path.of(System.getProperty("jkvm.project.dir", ".")).toAbsolutePath();
    private static String image;

    /** Run to completion, whatever the exit code: jkvm's status is what the tests check. */
    private static final class ExitedStrategy extends StartupCheckStrategy {
        @Override
        public StartupStatus checkStartupState(DockerClient client, String containerId) {
            var state = getCurrentState(client, containerId);
            return Boolean.TRUE.equals(state.getRunning()) ? StartupStatus.NOT_YET_KNOWN : StartupStatus.SUCCESSFUL;
        }
    }

    private record Run(long status, String out, String err) {
    }

    @BeforeAll
    static void buildImage() {
        ImageFromDockerfile build = new ImageFromDockerfile("jkvm-container-test", false)
                .withDockerfile(PROJECT.resolve("Dockerfile"));
        for (String arg : new String[]{"BUILD_IMAGE", "RUNTIME_IMAGE"}) {
            String value = System.getenv("JKVM_" + arg);
            if (value != null && !value.isBlank()) {
                build = build.withBuildArg(arg, value);
            }
        }
        image = build.get();
    }

    private static boolean privileged() {
        String mode = System.getProperty("jkvm.container.kvm", System.getenv().getOrDefault("JKVM_CONTAINER_KVM", "device"));
        return mode.toLowerCase(Locale.ROOT).equals("privileged");
    }

    /**
     * A guest run in the container: with the host's /dev/kvm passed in, or on a host without the device, on the
     * software core ({@code --backend emulator} after the command), so the image, its entry point, its cache and the
     * sandbox inside Docker are checked on either kind of host.
     */
    private static Run runGuest(java.util.Map<String, String> env, Path guest, String... command) {
        if (KvmDeviceCondition.hostHasKvm()) {
            return run(env, true, guest, command);
        }
        String[] onTheCore = java.util.Arrays.copyOf(command, command.length + 2);
        onTheCore[command.length] = "--backend";
        onTheCore[command.length + 1] = "emulator";
        return run(env, false, guest, onTheCore);
    }

    private static Run run(boolean withKvm, Path guest, String... command) {
        return run(java.util.Map.of(), withKvm, guest, command);
    }

    private static Run run(java.util.Map<String, String> env, boolean withKvm, Path guest, String... command) {
        StringBuilder out = new StringBuilder();
        StringBuilder err = new StringBuilder();
        try (GenericContainer<?> c = new GenericContainer<>(image)) {
            c.withCommand(command).withEnv(env)
                    .withStartupCheckStrategy(new ExitedStrategy().withTimeout(Duration.ofMinutes(2)))
                    .withLogConsumer(f -> (f.getType() == OutputFrame.OutputType.STDERR ? err : out).append(f.getUtf8StringWithoutLineEnding()).append('\n'));
            if (withKvm && privileged()) {
                c.withPrivilegedMode(true);
            } else if (withKvm) {
                c.withCreateContainerCmdModifier(cmd -> cmd.getHostConfig().withDevices(Device.parse("/dev/kvm")));
            }
            if (guest != null) {
                c.withFileSystemBind(guest.toString(), "/guests/" + guest.getFileName(), BindMode.READ_ONLY);
            }
            c.start();
            long status = c.getCurrentContainerInfo().getState().getExitCodeLong();
            return new Run(status, out.toString(), err.toString());
        }
    }

    @Test
    void theBundledGuestRunsInTheContainer() {
        Run r = runGuest(java.util.Map.of(), null, "run");
        assertEquals(1, r.status(), r.err());
        assertTrue(r.out().contains("jkvm demo guest: hello from 64-bit long mode"), r.out());
        assertTrue(r.out().contains("memory: 16 pages written and read back"), r.out());
    }

    /**
     * The entry point's own options (scripts/jvm.options, each of the image's two caches: a guest's launch and every
     * command's, no replay of profiles they do not have) with AOTMode=on, which makes a JVM refuse to start when the
     * cache cannot be used (another jar, other options, a bad file).
     */
    @ParameterizedTest
    @ValueSource(strings = {"/opt/jkvm/jkvm-run.aot", "/opt/jkvm/jkvm.aot"})
    void theImageStartsFromItsAheadOfTimeCaches(String cache) {
        Run r = runGuest(java.util.Map.of("JKVM_JAVA_OPTS", "@/opt/jkvm/jvm.options -XX:AOTCache=" + cache
                        + " -XX:+UnlockDiagnosticVMOptions -XX:-AOTReplayTraining -XX:AOTMode=on"),
                null, "run");
        assertEquals(1, r.status(), r.err());
        assertTrue(r.out().contains("jkvm demo guest: hello from 64-bit long mode"), r.out());
    }

    /**
     * The sandbox inside Docker's own filter. Where the host's /dev/kvm lets the image's user in, the entry point made
     * jkvm uid 10001 and the sandbox keeps it; where only root may open it (mode 600), jkvm starts as root and the
     * sandbox makes it nobody once /dev/kvm is open.
     */
    @Test
    void theBundledGuestRunsUnderTheSandboxInTheContainer() {
        Run r = runGuest(java.util.Map.of(), null, "run", "--sandbox", "on", "--trace");
        assertEquals(1, r.status(), r.err());
        assertTrue(r.out().contains("jkvm demo guest: hello from 64-bit long mode"), r.out());
        assertTrue(r.err().matches("(?s).*jkvm: sandbox: running as (jkvm \\(uid 10001\\)|nobody \\(uid 65534\\)), no_new_privs,"
                + " no capabilities, seccomp filter of \\d+ system calls.*"), r.err());
    }

    @Test
    void aGuestMountedFromTheHostRuns() {
        Run r = runGuest(java.util.Map.of(), TestGuests.path("exit42.elf"), "run", "--image", "/guests/exit42.elf");
        assertEquals(85, r.status(), r.err());
        assertEquals("exit code 42 coming", r.out().strip());
    }

    @Test
    void forgettingTheKvmDeviceGivesTheOneLineError() {
        Run r = run(false, null, "run");
        assertEquals(2, r.status());
        assertEquals("jkvm: /dev/kvm does not exist: enable KVM on the host (modprobe kvm_intel or kvm_amd, "
                + "virtualization on in the firmware) or pass --device /dev/kvm to the container", r.err().strip());
        assertEquals("", r.out().strip());
    }
}

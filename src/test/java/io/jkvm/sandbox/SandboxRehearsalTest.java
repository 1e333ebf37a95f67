package io.jkvm.sandbox;

import io.jkvm.linux.Credentials;
import io.jkvm.linux.Seccomp;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

/**
 * The start-up cache's training run rehearses going into the sandbox in its own JVM, which must still write the cache
 * when it exits: the rehearsal confines nothing (it runs here, in the test JVM, which goes on as before).
 */
class SandboxRehearsalTest {
    @Test
    void rehearsingLeavesTheProcessAsItWas() throws Exception {
        int uid = Credentials.effectiveUid();
        Sandbox.rehearse(true);
        assertEquals(uid, Credentials.effectiveUid(), "no user switch");
        assertFalse(Seccomp.noNewPrivileges(), "no no_new_privs");
        assertEquals("0", statusField("Seccomp"), "no seccomp filter on this thread");
        Path file = Files.createTempFile("jkvm-rehearsal", ".txt"); // opening files is what the filter refuses
        Files.writeString(file, "still open");
        assertEquals("still open", Files.readString(file));
        Files.delete(file);
    }

    /** The capability check reads CapEff from each thread's status file, as the kernel writes it; a missing file is 0. */
    @Test
    void effectiveCapabilitiesAreReadFromAThreadsStatus() throws Exception {
        Path dir = Files.createTempDirectory("jkvm-status");
        try {
            Path status = dir.resolve("status");
            Files.writeString(status, "Name:\tjava\nCapInh:\t0000000000000000\nCapPrm:\t000001ffffffffff\n"
                    + "CapEff:\t000001fffeffffff\nCapBnd:\t000001ffffffffff\n");
            assertEquals(0x1fffeffffffL, Sandbox.effectiveCapabilities(status));
            Files.writeString(status, "Name:\tjava\nCapEff:\t0000000000000000");
            assertEquals(0, Sandbox.effectiveCapabilities(status), "the last line, without its newline");
            Files.writeString(status, "Name:\tjava\nCapPrm:\t0000000000000400\n");
            assertEquals(0, Sandbox.effectiveCapabilities(status), "no CapEff line");
            assertEquals(0, Sandbox.effectiveCapabilities(dir.resolve("gone")), "a thread ended since the listing");
            long own = Long.parseUnsignedLong(statusField("CapEff"), 16);
            assertEquals(own, Sandbox.effectiveCapabilities(Path.of("/proc/thread-self/status")));
        } finally {
            try (var files = Files.list(dir)) {
                for (Path f : files.toList()) {
                    Files.delete(f);
                }
            }
            Files.delete(dir);
        }
    }

    private static String statusField(String name) throws Exception {
        return Files.readAllLines(Path.of("/proc/thread-self/status")).stream().filter(l -> l.startsWith(name + ":"))
                .map(l -> l.substring(name.length() + 1).strip()).findFirst().orElseThrow();
    }
}

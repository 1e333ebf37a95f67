package io.jkvm.machine;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HexFormat;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A machine closed while another thread runs it (a caller's failure path) ends the run first: its vCPU threads are
 * gone before its guest memory is, so none stores to unmapped memory (which would end the JVM with SIGSEGV).
 */
class MachineCloseTest {
    @TempDir
    Path dir;

    @Test
    @Timeout(60)
    void closingARunningMachineEndsItsRunBeforeItsMemoryGoes() throws Exception {
        // a guest that never ends and stores at every round: 1: inc qword [rip + 0x1ff9] (load + 0x2000); jmp 1b
        Path image = Files.write(dir.resolve("store-loop.bin"), HexFormat.of().parseHex("48ff05f91f0000ebf7"));
        MachineConfig config = new MachineConfig(Optional.of(image), 16L << 20, 1, "core", Backend.EMULATOR,
                GuestImage.DEFAULT_LOAD_ADDRESS, "/dev/kvm", false);
        Console console = new Console(new ByteArrayOutputStream(), new ByteArrayInputStream(new byte[0]),
                new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8));
        Machine m = Machine.create(config, console);
        CompletableFuture<Outcome> run = CompletableFuture.supplyAsync(m::run, r -> Thread.ofPlatform().start(r));
        long counter = GuestImage.DEFAULT_LOAD_ADDRESS + 0x2000;
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (m.memory().readLong(counter) < 100_000) {
            assertTrue(System.nanoTime() < deadline, "the guest did not store 100000 times in 30 s");
            Thread.sleep(1);
        }
        m.close();
        assertEquals(new Outcome.Exited(0, "the machine was closed while it ran"), run.get(10, TimeUnit.SECONDS));
        MachineException again = assertThrows(MachineException.class, m::run);
        assertTrue(again.getMessage().contains("closed"), again.getMessage());
    }
}

package io.jkvm.machine;

import io.jkvm.snapshot.MachineState;
import io.jkvm.snapshot.SnapshotFile;
import io.jkvm.testing.RequiresKvm;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Optional;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The guest's kvmclock is one VM-wide clock whichever backend runs it: a snapshot records it, a restore sets it
 * (KVM_SET_CLOCK on KVM, the vCPUs' offset on the core), and a handoff carries it across, so it never jumps back to
 * the other backend's own zero. The clock here is two hours and three quarters ahead of both backends' zero, which
 * a restore or handoff that dropped it could not hide.
 */
class VmClockTest {
    private static final long AHEAD = 10_000_000_000_000L; // 10^13 ns
    private static final long SLACK = 2_000_000_000L; // what building, saving and moving may take here

    @TempDir
    Path dir;

    private static Console console() {
        return new Console(new ByteArrayOutputStream(), new ByteArrayInputStream(new byte[0]),
                new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8));
    }

    /** A snapshot of the bundled guest, not yet run, whose kvmclock reads {@link #AHEAD}. */
    private Path snapshotAhead() {
        Path file = dir.resolve("ahead.snap");
        MachineConfig config = new MachineConfig(Optional.empty(), 16L << 20, 2, "core", Backend.EMULATOR,
                GuestImage.DEFAULT_LOAD_ADDRESS, "/dev/kvm", false);
        try (Machine m = Machine.create(config, console())) {
            MachineState s = m.capture();
            assertTrue(s.kvmClock() >= 0 && s.kvmClock() < SLACK, "a fresh machine's clock starts near 0, as KVM's: " + s.kvmClock());
            SnapshotFile.write(file, new MachineState(s.cpu(), s.memorySize(), s.vcpus(), s.devices(), s.tscKhz(), AHEAD), m.memory());
        }
        return file;
    }

    private static void assertAhead(Machine m, String where) {
        long clock = m.capture().kvmClock();
        assertTrue(clock >= AHEAD && clock < AHEAD + SLACK, where + ": the clock reads " + clock + ", not " + AHEAD + " on");
    }

    @Test
    @Timeout(60)
    @RequiresKvm
    void theClockGoesOnAcrossRestoresAndHandoffs() {
        Path file = snapshotAhead();
        assertEquals(AHEAD, SnapshotFile.read(file, Machine.DEVICE_STATES).state().kvmClock(), "the snapshot records it");
        try (Machine onCore = Machine.restore(file, Backend.EMULATOR, "/dev/kvm", false, console())) {
            assertAhead(onCore, "restored on the core");
        }
        try (Machine m = Machine.restore(file, Backend.KVM, "/dev/kvm", false, console())) {
            assertEquals(Backend.KVM, m.backend());
            assertAhead(m, "restored on KVM (KVM_SET_CLOCK)");
            m.switchBackend(Backend.EMULATOR);
            assertAhead(m, "handed to the core");
            m.switchBackend(Backend.KVM);
            assertAhead(m, "handed back to KVM, whose own clock ran on from the restore");
        }
    }
}

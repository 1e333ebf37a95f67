package io.jkvm.devices.virtio;

import io.jkvm.devices.virtio.GuestDriver.Desc;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

import static io.jkvm.devices.virtio.GuestDriver.*;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** virtio-rng as Linux's virtio-rng driver uses it: one writable buffer per request, filled with entropy. */
@Timeout(value = 60, threadMode = Timeout.ThreadMode.SEPARATE_THREAD) // quiesce() ignores interrupts: a hang must still fail
class VirtioRngTest {
    private static final long BUFFER = 0x10000;

    @Test
    void aRequestComesBackFilledWithEntropy() {
        GuestDriver.Ram ram = new GuestDriver.Ram();
        List<Boolean> irq = new CopyOnWriteArrayList<>();
        List<String> trace = new CopyOnWriteArrayList<>();
        VirtioRng rng = new VirtioRng("rng0", ram, irq::add, trace::add);
        rng.start();
        try {
            GuestDriver g = new GuestDriver(rng, ram, irq, trace);
            assertEquals(4, g.read(DEVICE_ID), "an entropy source");
            g.start(F_VERSION_1 | F_EVENT_IDX);
            assertEquals(64, g.submit(new Desc(BUFFER, 64, true)), "64 bytes written");
            byte[] bytes = ram.get(BUFFER, 64);
            boolean allZero = true;
            for (byte b : bytes) {
                allZero &= b == 0;
            }
            assertFalse(allZero, "2^-512 odds of a false failure");
            assertTrue(ram.reportedWritten(BUFFER, 64), "the dirty log sees the bytes");
            assertEquals(0, ram.get(BUFFER + 64, 64)[0] | ram.get(BUFFER - 1, 1)[0], "nothing around the buffer");
            assertTrue(g.line());
            assertEquals(1, g.acknowledge());
            assertFalse(g.line());
            VirtioRng.State saved = rng.save();
            VirtioRng fresh = new VirtioRng("rng0", ram, irq::add, trace::add);
            fresh.start();
            fresh.restore(saved);
            assertEquals(saved, fresh.save(), "save, restore, save");
            fresh.close();
            assertTrue(trace.isEmpty(), trace.toString());
        } finally {
            rng.close();
        }
    }
}

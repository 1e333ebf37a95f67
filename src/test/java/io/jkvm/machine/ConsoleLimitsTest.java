package io.jkvm.machine;

import io.jkvm.devices.Serial16550;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.OutputStream;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The UART's receive FIFO holds 4096 bytes whoever fills it, and the console output is buffered without loss. */
class ConsoleLimitsTest {
    @Test
    void loopbackIntoAFullFifoDropsBytesAndReportsAnOverrun() {
        Serial16550 u = new Serial16550(new ByteArrayOutputStream(), raised -> { });
        u.write(4, 1, 0x10); // MCR.LOOP
        for (int i = 0; i < 100_000; i++) {
            u.write(0, 1, i & 0xFF);
        }
        assertEquals(0x63, u.read(5, 1), "LSR: data ready, overrun, transmitter empty");
        assertEquals(0x61, u.read(5, 1), "reading LSR cleared the overrun");
        int received = 0;
        while ((u.read(5, 1) & 1) != 0) {
            assertEquals(received & 0xFF, u.read(0, 1), "the first 4096 bytes, in order");
            received++;
        }
        assertEquals(4096, received);
    }

    @Test
    void theConsoleFlushesOnItsOwnAndWhenClosedAndWritesInBulk() throws Exception {
        AtomicInteger writes = new AtomicInteger();
        ByteArrayOutputStream terminal = new ByteArrayOutputStream();
        OutputStream counting = new OutputStream() {
            @Override
            public void write(int b) {
                writes.incrementAndGet();
                terminal.write(b);
            }

            @Override
            public void write(byte[] b, int off, int len) {
                writes.incrementAndGet();
                terminal.write(b, off, len);
            }
        };
        ConsoleOutput out = new ConsoleOutput(counting);
        out.start();
        for (int i = 0; i < 1000; i++) {
            out.write('a');
        }
        long deadline = System.nanoTime() + 5_000_000_000L;
        while (terminal.size() < 1000 && System.nanoTime() < deadline) {
            Thread.sleep(1);
        }
        assertEquals(1000, terminal.size(), "flushed by the console's own thread");
        assertTrue(writes.get() < 1000, "in bulk, not a write per byte: " + writes.get());
        for (int i = 0; i < 3 * ConsoleOutput.BUFFER; i++) {
            out.write('b');
        }
        out.close();
        assertEquals(1000 + 3 * ConsoleOutput.BUFFER, terminal.size(), "nothing lost at the end");
    }
}

package io.jkvm.devices;

import java.util.function.IntFunction;

/**
 * QEMU's pc-testdev, which kvm-unit-tests drives: ports 0xE0-0xE3 a scratch register reads give back (string I/O
 * tests), 0xE4 a page flush (nothing to flush here), 0x2000 + n a write raising (1) or lowering (0) ISA IRQ line n,
 * and 64 KiB at 0xFF000000 that behave as RAM.
 */
public final class PcTestDev implements Persist<PcTestDev.State> {
    /** The scratch register and the 64 KiB MMIO buffer. */
    public record State(long scratch, byte[] buffer) {
    }

    public static final int SCRATCH_PORT = 0xE0, SCRATCH_PORTS = 5, IRQ_PORT = 0x2000, IRQ_PORTS = 24;
    public static final long MMIO_BASE = 0xFF000000L, MMIO_SIZE = 0x10000;

    private final byte[] buffer = new byte[(int) MMIO_SIZE];
    private long scratch;
    private final IntFunction<InterruptLine> irq;

    /** {@code irq}: ISA IRQ line n, which port 0x2000 + n drives. */
    public PcTestDev(IntFunction<InterruptLine> irq) {
        this.irq = irq;
    }

    public Device scratchPorts() {
        return new Device() {
            @Override
            public long read(long at, int size) {
                synchronized (PcTestDev.this) {
                    return at < 4 ? (scratch >>> (8 * at)) & mask(size) : 0;
                }
            }

            @Override
            public void write(long at, int size, long value) {
                synchronized (PcTestDev.this) {
                    if (at < 4) {
                        int shift = (int) (8 * at);
                        long m = mask(Math.min(size, 4 - (int) at)) << shift;
                        scratch = (scratch & ~m) | ((value << shift) & m);
                    }
                }
            }
        };
    }

    public Device irqPorts() {
        return Device.writeOnly((at, size, value) -> irq.apply((int) at).set((value & 1) != 0));
    }

    public Device memory() {
        return new Device() {
            @Override
            public long read(long at, int size) {
                synchronized (PcTestDev.this) {
                    long v = 0;
                    for (int i = 0; i < size && at + i < MMIO_SIZE; i++) {
                        v |= (buffer[(int) at + i] & 0xFFL) << (8 * i);
                    }
                    return v;
                }
            }

            @Override
            public void write(long at, int size, long value) {
                synchronized (PcTestDev.this) {
                    for (int i = 0; i < size && at + i < MMIO_SIZE; i++) {
                        buffer[(int) at + i] = (byte) (value >>> (8 * i));
                    }
                }
            }
        };
    }

    @Override
    public synchronized State save() {
        return new State(scratch, buffer.clone());
    }

    @Override
    public synchronized void restore(State s) {
        if (s.buffer() == null || s.buffer().length != buffer.length) {
            throw new IllegalArgumentException("pc-testdev: the record's buffer is not " + MMIO_SIZE + " bytes");
        }
        scratch = s.scratch() & 0xFFFFFFFFL;
        System.arraycopy(s.buffer(), 0, buffer, 0, buffer.length);
    }

    private static long mask(int size) {
        return size >= 8 ? -1L : (1L << (8 * size)) - 1;
    }
}

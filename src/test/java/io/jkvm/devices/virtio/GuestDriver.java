package io.jkvm.devices.virtio;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * What Linux's virtio_mmio and virtio_ring do to a device, through its registers only: reset, status handshake,
 * feature negotiation, one split queue at fixed addresses in a {@link Ram}, chains made available and notified. The
 * interrupt line the device drives is recorded here.
 */
final class GuestDriver {
    // Registers (virtio 1.x, 4.2.2)
    static final int MAGIC = 0x000, VERSION = 0x004, DEVICE_ID = 0x008, DEVICE_FEATURES = 0x010, DEVICE_FEATURES_SEL = 0x014,
            DRIVER_FEATURES = 0x020, DRIVER_FEATURES_SEL = 0x024, QUEUE_SEL = 0x030, QUEUE_NUM_MAX = 0x034, QUEUE_NUM = 0x038,
            QUEUE_READY = 0x044, QUEUE_NOTIFY = 0x050, INTERRUPT_STATUS = 0x060, INTERRUPT_ACK = 0x064, STATUS = 0x070,
            QUEUE_DESC = 0x080, QUEUE_DRIVER = 0x090, QUEUE_DEVICE = 0x0A0, CONFIG = 0x100;
    static final int ACKNOWLEDGE = 1, DRIVER = 2, DRIVER_OK = 4, FEATURES_OK = 8, NEEDS_RESET = 64;
    static final long F_VERSION_1 = 1L << 32, F_EVENT_IDX = 1L << 29;
    static final int NEXT = 1, WRITE = 2;
    /** The queue size the driver picks (below QueueNumMax, as Linux may), and where its rings live. */
    static final int QN = 16;
    static final long DESC = 0x1000, AVAIL = 0x2000, USED = 0x3000;

    /** Guest RAM over a heap buffer; records every range the device reports it stored to. */
    static final class Ram implements DmaMemory {
        final ByteBuffer bytes = ByteBuffer.allocate(1 << 20).order(ByteOrder.LITTLE_ENDIAN);
        final List<long[]> written = new CopyOnWriteArrayList<>();

        @Override
        public boolean contains(long address, long length) {
            return address >= 0 && length >= 0 && address <= bytes.capacity() - length;
        }

        @Override
        public int readIndex(long address) {
            return bytes.getShort((int) address) & 0xFFFF;
        }

        @Override
        public void writeIndex(long address, int value) {
            bytes.putShort((int) address, (short) value);
            written(address, 2);
        }

        @Override
        public short readShort(long address) {
            return bytes.getShort((int) address);
        }

        @Override
        public int readInt(long address) {
            return bytes.getInt((int) address);
        }

        @Override
        public long readLong(long address) {
            return bytes.getLong((int) address);
        }

        @Override
        public void writeInt(long address, int value) {
            bytes.putInt((int) address, value);
            written(address, 4);
        }

        @Override
        public ByteBuffer window(long address, int length) {
            return bytes.slice((int) address, length);
        }

        @Override
        public void written(long address, long length) {
            written.add(new long[]{address, length});
        }

        /** Whether the device reported storing to every byte of the range (in one report or several). */
        boolean reportedWritten(long address, long length) {
            for (long a = address; a < address + length; a++) {
                long at = a;
                if (written.stream().noneMatch(r -> at >= r[0] && at < r[0] + r[1])) {
                    return false;
                }
            }
            return true;
        }

        byte[] get(long address, int length) {
            byte[] b = new byte[length];
            bytes.get((int) address, b);
            return b;
        }

        void put(long address, byte[] b) {
            bytes.put((int) address, b);
        }
    }

    /** One descriptor as the driver writes it. */
    record Desc(long address, int length, boolean writable) {
    }

    final VirtioMmio device;
    final Ram ram;
    /** Every level the device put on its interrupt line, in order. */
    final List<Boolean> irq;
    /** The device's one-line messages. */
    final List<String> trace;
    private int availIdx;

    GuestDriver(VirtioMmio device, Ram ram, List<Boolean> irq, List<String> trace) {
        this.device = device;
        this.ram = ram;
        this.irq = irq;
        this.trace = trace;
    }

    /** The same driver and rings on {@code other} (a device restored from this one's record). */
    GuestDriver continueOn(VirtioMmio other) {
        GuestDriver g = new GuestDriver(other, ram, irq, trace);
        g.availIdx = availIdx;
        return g;
    }

    boolean line() {
        return !irq.isEmpty() && irq.getLast();
    }

    int read(int offset) {
        return (int) device.read(offset, 4);
    }

    void write(int offset, int value) {
        device.write(offset, 4, Integer.toUnsignedLong(value));
    }

    int status() {
        return read(STATUS);
    }

    long deviceFeatures() {
        write(DEVICE_FEATURES_SEL, 0);
        long low = Integer.toUnsignedLong(read(DEVICE_FEATURES));
        write(DEVICE_FEATURES_SEL, 1);
        return low | (long) read(DEVICE_FEATURES) << 32;
    }

    /** Reset, ACKNOWLEDGE|DRIVER, then offers {@code features}: whether the device kept FEATURES_OK. */
    boolean negotiate(long features) {
        write(STATUS, 0);
        assertEquals(0, status(), "a reset reads back 0");
        write(STATUS, ACKNOWLEDGE);
        write(STATUS, ACKNOWLEDGE | DRIVER);
        write(DRIVER_FEATURES_SEL, 0);
        write(DRIVER_FEATURES, (int) features);
        write(DRIVER_FEATURES_SEL, 1);
        write(DRIVER_FEATURES, (int) (features >>> 32));
        write(STATUS, ACKNOWLEDGE | DRIVER | FEATURES_OK);
        return (status() & FEATURES_OK) != 0;
    }

    /** The whole bring-up with {@code features} (of those the device offers), queue 0 of {@link #QN} entries. */
    void start(long features) {
        ram.bytes.put(0, new byte[0x4000]); // fresh rings
        availIdx = 0;
        assertTrue(negotiate(deviceFeatures() & features), "FEATURES_OK");
        write(QUEUE_SEL, 0);
        assertEquals(0, read(QUEUE_READY), "queue 0 is not in use yet");
        assertEquals(Virtqueue.MAX_SIZE, read(QUEUE_NUM_MAX));
        write(QUEUE_NUM, QN);
        setRings(DESC, AVAIL, USED);
        write(QUEUE_READY, 1);
        assertEquals(1, read(QUEUE_READY));
        write(STATUS, ACKNOWLEDGE | DRIVER | FEATURES_OK | DRIVER_OK);
        device.quiesce();
        assertEquals(ACKNOWLEDGE | DRIVER | FEATURES_OK | DRIVER_OK, status());
    }

    void setRings(long desc, long avail, long used) {
        write(QUEUE_DESC, (int) desc);
        write(QUEUE_DESC + 4, (int) (desc >>> 32));
        write(QUEUE_DRIVER, (int) avail);
        write(QUEUE_DRIVER + 4, (int) (avail >>> 32));
        write(QUEUE_DEVICE, (int) used);
        write(QUEUE_DEVICE + 4, (int) (used >>> 32));
    }

    /** Writes descriptor {@code index} with its flags and next field as given. */
    void descriptor(int index, long address, int length, int flags, int next) {
        long at = DESC + 16L * index;
        ram.bytes.putLong((int) at, address);
        ram.bytes.putInt((int) at + 8, length);
        ram.bytes.putShort((int) at + 12, (short) flags);
        ram.bytes.putShort((int) at + 14, (short) next);
    }

    /** Puts {@code head} in the available ring, publishes the new index and notifies queue 0; waits for the device. */
    void publish(int head) {
        ram.bytes.putShort((int) (AVAIL + 4 + 2L * (availIdx % QN)), (short) head);
        availIdx = (availIdx + 1) & 0xFFFF;
        ram.bytes.putShort((int) AVAIL + 2, (short) availIdx);
        write(QUEUE_NOTIFY, 0);
        device.quiesce();
    }

    /** A chain of {@code descs} from descriptor 0 (the device has returned every earlier one); its used length. */
    int submit(Desc... descs) {
        for (int i = 0; i < descs.length; i++) {
            Desc d = descs[i];
            descriptor(i, d.address(), d.length(), (d.writable() ? WRITE : 0) | (i + 1 < descs.length ? NEXT : 0), i + 1);
        }
        int usedBefore = usedIdx();
        publish(0);
        assertEquals((usedBefore + 1) & 0xFFFF, usedIdx(), "the device returned the chain");
        long elem = USED + 4 + 8L * ((usedIdx() - 1) % QN);
        assertEquals(0, ram.bytes.getInt((int) elem), "the used element's id is the chain's head");
        return ram.bytes.getInt((int) elem + 4);
    }

    int usedIdx() {
        return ram.readIndex(USED + 2);
    }

    int availIdx() {
        return availIdx;
    }

    /** The avail_event field the device writes after the used ring (VIRTIO_F_EVENT_IDX). */
    int availEvent() {
        return ram.readIndex(USED + 4 + 8L * QN);
    }

    /** The used_event field the driver writes after the available ring (VIRTIO_F_EVENT_IDX). */
    void usedEvent(int value) {
        ram.bytes.putShort((int) (AVAIL + 4 + 2L * QN), (short) value);
    }

    /** Reads and acknowledges the interrupt status, as vm_interrupt does; the bits it read. */
    int acknowledge() {
        int bits = read(INTERRUPT_STATUS);
        assertNotEquals(0, bits, "an interrupt is pending");
        write(INTERRUPT_ACK, bits);
        return bits;
    }
}

package io.jkvm.devices.virtio;

import java.util.ArrayList;
import java.util.List;

/**
 * A split virtqueue (virtio 1.x, 2.7): the driver's descriptor table and available ring, the device's used ring, and
 * with VIRTIO_F_EVENT_IDX the two event indexes that decide when either side notifies the other. Used by one thread
 * at a time: the device's worker, or the transport while the worker is idle.
 */
public final class Virtqueue {
    /** The largest queue jkvm's devices offer (QueueNumMax). */
    public static final int MAX_SIZE = 256;
    private static final int DESC_NEXT = 1, DESC_WRITE = 2, DESC_INDIRECT = 4, AVAIL_NO_INTERRUPT = 1;

    /** What a snapshot keeps of a queue: its configuration and the device's two positions in the rings. */
    public record State(int size, boolean ready, long desc, long driver, long device, int nextAvail, int nextUsed) {
    }

    /** One buffer of a chain: guest-physical address, length, and whether the device writes it (else reads). */
    public record Buffer(long address, int length, boolean writable) {
    }

    /** A descriptor chain the driver made available: its head (the id the used ring gives back) and its buffers. */
    public record Chain(int head, List<Buffer> buffers) {
        /** The bytes of every buffer the device may write. */
        public long writableBytes() {
            return buffers.stream().filter(Buffer::writable).mapToLong(Buffer::length).sum();
        }
    }

    int size = MAX_SIZE;
    boolean ready;
    long desc, driver, device;
    private int nextAvail, nextUsed;
    private boolean eventIdx;

    void reset() {
        size = MAX_SIZE;
        ready = false;
        desc = driver = device = 0;
        nextAvail = nextUsed = 0;
    }

    /** Whether VIRTIO_F_EVENT_IDX was negotiated: it changes what the rings' trailing fields mean. */
    void useEventIndex(boolean on) {
        eventIdx = on;
    }

    State save() {
        return new State(size, ready, desc, driver, device, nextAvail, nextUsed);
    }

    void restore(State s) {
        size = s.size();
        ready = s.ready();
        desc = s.desc();
        driver = s.driver();
        device = s.device();
        nextAvail = s.nextAvail();
        nextUsed = s.nextUsed();
    }

    /** Why a restored queue record cannot be this queue's, or null. */
    static String invalid(State s) {
        if (s.size() < 1 || s.size() > MAX_SIZE || Integer.bitCount(s.size()) != 1) {
            return "size " + s.size() + " is not a power of 2 up to " + MAX_SIZE;
        }
        if ((s.nextAvail() & ~0xFFFF) != 0 || (s.nextUsed() & ~0xFFFF) != 0) {
            return "ring positions " + s.nextAvail() + "/" + s.nextUsed() + " are not 16-bit";
        }
        return null;
    }

    /** Why this queue cannot be made ready over {@code memory}: its rings must be aligned and inside RAM. */
    String unusable(DmaMemory memory) {
        if (size < 1 || size > MAX_SIZE || Integer.bitCount(size) != 1) {
            return "queue size " + size + " is not a power of 2 up to " + MAX_SIZE;
        }
        if ((desc & 15) != 0 || (driver & 1) != 0 || (device & 3) != 0) {
            return String.format("rings at 0x%x/0x%x/0x%x are not aligned (16, 2, 4)", desc, driver, device);
        }
        if (!memory.contains(desc, 16L * size) || !memory.contains(driver, 6 + 2L * size)
                || !memory.contains(device, 6 + 8L * size)) {
            return String.format("rings at 0x%x/0x%x/0x%x are not all in guest RAM", desc, driver, device);
        }
        return null;
    }

    /** Whether the driver has made a chain available the device has not taken yet. */
    boolean hasAvailable(DmaMemory memory) {
        return memory.readIndex(driver + 2) != nextAvail;
    }

    /**
     * The next available chain, or null when there is none. A chain that points outside the table or RAM, loops, or
     * uses indirect descriptors (not offered) is the driver's error: a {@link VirtioException} naming it.
     */
    Chain next(DmaMemory memory) {
        int availIdx = memory.readIndex(driver + 2);
        if (availIdx == nextAvail) {
            return null;
        }
        if (((availIdx - nextAvail) & 0xFFFF) > size) {
            throw new VirtioException("the available index moved " + ((availIdx - nextAvail) & 0xFFFF)
                    + " entries ahead on a queue of " + size);
        }
        int head = memory.readShort(driver + 4 + 2L * (nextAvail % size)) & 0xFFFF;
        nextAvail = (nextAvail + 1) & 0xFFFF;
        List<Buffer> buffers = new ArrayList<>();
        int index = head;
        for (int n = 0; ; n++) {
            if (index >= size || n >= size) {
                throw new VirtioException(index >= size ? "descriptor " + index + " is past the table of " + size
                        : "descriptor chain from " + head + " loops");
            }
            long at = desc + 16L * index;
            long address = memory.readLong(at);
            int length = memory.readInt(at + 8);
            int flags = memory.readShort(at + 12) & 0xFFFF;
            if ((flags & DESC_INDIRECT) != 0) {
                throw new VirtioException("descriptor " + index + " is indirect, a feature the device did not offer");
            }
            if (length < 0 || !memory.contains(address, length)) {
                throw new VirtioException(String.format("descriptor %d points at 0x%x+%d, outside guest RAM", index,
                        address, Integer.toUnsignedLong(length)));
            }
            buffers.add(new Buffer(address, length, (flags & DESC_WRITE) != 0));
            if ((flags & DESC_NEXT) == 0) {
                return new Chain(head, List.copyOf(buffers));
            }
            index = memory.readShort(at + 14) & 0xFFFF;
        }
    }

    /**
     * Returns {@code chain} to the driver with {@code written} bytes written, and tells whether the driver wants an
     * interrupt for it (its used-event index, or the available ring's NO_INTERRUPT flag).
     */
    boolean complete(DmaMemory memory, Chain chain, int written) {
        long entry = device + 4 + 8L * (nextUsed % size);
        memory.writeInt(entry, chain.head());
        memory.writeInt(entry + 4, written);
        int old = nextUsed;
        nextUsed = (nextUsed + 1) & 0xFFFF;
        memory.writeIndex(device + 2, nextUsed);
        java.lang.invoke.VarHandle.fullFence(); // the index out before the driver's event index is read
        if (eventIdx) {
            int usedEvent = memory.readIndex(driver + 4 + 2L * size);
            return ((nextUsed - usedEvent - 1) & 0xFFFF) < ((nextUsed - old) & 0xFFFF);
        }
        return (memory.readShort(driver) & AVAIL_NO_INTERRUPT) == 0;
    }

    /**
     * With event indexes, asks the driver to notify again once it makes the next chain available; returns whether
     * one already is (so the device looks again instead of waiting for a notification that will not come).
     */
    boolean armNotification(DmaMemory memory) {
        if (eventIdx) {
            memory.writeIndex(device + 4 + 8L * size, nextAvail);
            java.lang.invoke.VarHandle.fullFence();
        }
        return hasAvailable(memory);
    }
}

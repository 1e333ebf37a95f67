package io.jkvm.devices.virtio;

import java.nio.ByteBuffer;

/**
 * Guest RAM as a device sees it when it reads and writes it on its own (DMA): virtqueues and the buffers they point
 * to. What a device writes is reported through {@link #written}, so a migration's dirty log sends it again.
 */
public interface DmaMemory {
    /** Whether the {@code length} bytes at guest-physical {@code address} are all RAM. */
    boolean contains(long address, long length);

    /** The 2 bytes at {@code address} (aligned), read before any later load: an index the driver publishes. */
    int readIndex(long address);

    /** Stores the 2 bytes at {@code address} (aligned) after every store before it: an index the device publishes. */
    void writeIndex(long address, int value);

    short readShort(long address);

    int readInt(long address);

    long readLong(long address);

    void writeInt(long address, int value);

    /** The {@code length} bytes at {@code address} as a buffer, for file and socket I/O straight into or out of RAM. */
    ByteBuffer window(long address, int length);

    /**
     * Records that the device stored to the {@code length} bytes at {@code address} (through {@link #window}), once
     * the bytes are there: a migration's dirty log, and the software core's check of the code it decoded at its next
     * serializing instruction, both go by it.
     */
    void written(long address, long length);
}

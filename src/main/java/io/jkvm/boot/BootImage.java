package io.jkvm.boot;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.List;

/**
 * What a boot loader puts in guest RAM and where the boot processor starts: each chunk's bytes at its address,
 * zeros after them up to its size in memory; the entry point and the boot information's address (EBX).
 */
public record BootImage(List<Chunk> chunks, long entry, long information) {
    /**
     * {@code data}'s bytes at {@code address}, zeros after them up to {@code memorySize}. The data is a read-only view,
     * of a kernel file mapped (no copy of it in the Java heap) or of an array the loader made.
     */
    public record Chunk(long address, ByteBuffer data, long memorySize) {
        public Chunk {
            data = data.slice().asReadOnlyBuffer();
        }

        Chunk(long address, byte[] data, long memorySize) {
            this(address, ByteBuffer.wrap(data), memorySize);
        }

        /** How many bytes the chunk has (its memory size may be more). */
        public int length() {
            return data.limit();
        }

        /** A copy of the chunk's bytes. */
        public byte[] bytes() {
            byte[] copy = new byte[data.limit()];
            data.get(0, copy);
            return copy;
        }
    }

    public BootImage {
        chunks = List.copyOf(chunks);
    }

    /** {@code image} from its start, little-endian, for reading at absolute offsets (the caller's position and order kept). */
    static ByteBuffer littleEndian(ByteBuffer image) {
        return image.slice().order(ByteOrder.LITTLE_ENDIAN);
    }
}

package io.jkvm.boot;

import java.util.List;

/**
 * What a boot loader puts in guest RAM and where the boot processor starts: each chunk's bytes at its address,
 * zeros after them up to its size in memory; the entry point and the boot information's address (EBX).
 */
public record BootImage(List<Chunk> chunks, long entry, long information) {
    public record Chunk(long address, byte[] data, long memorySize) {
    }

    public BootImage {
        chunks = List.copyOf(chunks);
    }
}

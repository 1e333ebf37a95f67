package io.jkvm.snapshot;

import java.io.IOException;
import java.nio.channels.FileChannel;

/** Guest RAM as a snapshot sees it: its size, and its pages written sparsely with their checksum. */
public interface GuestRam {
    long size();

    /** Writes the pages that are not all zero at their own offsets; returns their CRC32C, each with its offset. */
    long writeSparse(FileChannel out) throws IOException;
}

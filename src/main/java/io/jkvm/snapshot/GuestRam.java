package io.jkvm.snapshot;

import java.io.IOException;
import java.nio.channels.FileChannel;

/** Guest RAM as a snapshot sees it: its size, its pages written sparsely, and their checksum. */
public interface GuestRam {
    long size();

    /** Writes the pages that are not all zero at their own offsets; returns {@link #checksum()}. */
    long writeSparse(FileChannel out) throws IOException;

    /** CRC32C of the pages that are not all zero, each with its offset. */
    long checksum();
}

package io.jkvm.linux;

import io.jkvm.linux.uapi.Uapi;

import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** Where a sparse file holds data (lseek SEEK_DATA/SEEK_HOLE): a reader can skip its holes, which read as zeros. */
public final class SparseFile {
    private SparseFile() {
    }

    /** A run of bytes the file holds: [start, end). */
    public record Extent(long start, long end) {
    }

    private static final int ENXIO = 6;

    /**
     * The data extents of the first {@code size} bytes of {@code file}, in order. A file system that does not report
     * holes answers the whole file as data, which is still right, only slower to read.
     */
    public static List<Extent> dataExtents(Path file, long size) {
        List<Extent> out = new ArrayList<>();
        try (Fd fd = Fd.open(file.toString(), 0)) {
            long at = 0;
            while (at < size) {
                long data = seek(fd, at, Uapi.SEEK_DATA());
                if (data < 0 || data >= size) {
                    break; // ENXIO: no data from here to the end
                }
                long hole = seek(fd, data, Uapi.SEEK_HOLE());
                long end = hole < 0 ? size : Math.min(hole, size);
                out.add(new Extent(data, end));
                at = end;
            }
        }
        return out;
    }

    /** lseek(2); -1 for ENXIO (no data or hole past {@code offset}), other errors thrown naming the file. */
    private static long seek(Fd fd, long offset, int whence) {
        MemorySegment state = Libc.callState();
        long r = Libc.syscall(state, Uapi.SYS_lseek(), fd.value(), offset, whence);
        if (r < 0) {
            int errno = Libc.errno(state);
            if (errno == ENXIO) {
                return -1;
            }
            throw new LinuxException("lseek(" + fd.name() + ")", errno);
        }
        return r;
    }
}

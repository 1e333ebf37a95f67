package io.jkvm.linux;

import io.jkvm.linux.uapi.Uapi;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * A region from mmap(2), unmapped on close. Typed little-endian accessors let the layers above read and
 * write it without touching {@link MemorySegment}; {@link #segment()} is for the kvm layer's struct views.
 */
public final class Mapping implements AutoCloseable {
    private static final ValueLayout.OfShort SHORT = ValueLayout.JAVA_SHORT_UNALIGNED;
    private static final ValueLayout.OfInt INT = ValueLayout.JAVA_INT_UNALIGNED;
    private static final ValueLayout.OfLong LONG = ValueLayout.JAVA_LONG_UNALIGNED;

    private final MemorySegment segment;
    private final String name;
    private final AtomicBoolean unmapped = new AtomicBoolean();

    private Mapping(MemorySegment segment, String name) {
        this.segment = segment;
        this.name = name;
    }

    /** Private anonymous memory, zero-filled, with MAP_NORESERVE so a large guest costs only what it touches. */
    public static Mapping anonymous(long size, String name) {
        int flags = Uapi.MAP_PRIVATE() | Uapi.MAP_ANONYMOUS() | Uapi.MAP_NORESERVE();
        return map(size, flags, -1, 0, name);
    }

    /**
     * Private anonymous memory that is also executable: where the test oracle runs instruction bytes natively on
     * the host CPU to compare with the software core.
     */
    public static Mapping anonymousExecutable(long size, String name) {
        return map(size, Uapi.MAP_PRIVATE() | Uapi.MAP_ANONYMOUS(), -1, 0, name,
                Uapi.PROT_READ() | Uapi.PROT_WRITE() | Uapi.PROT_EXEC());
    }

    static Mapping ofFd(Fd fd, long size, long offset) {
        return map(size, Uapi.MAP_SHARED(), fd.value(), offset, "mmap of " + fd.name());
    }

    private static Mapping map(long size, int flags, int fd, long offset, String name) {
        return map(size, flags, fd, offset, name, Uapi.PROT_READ() | Uapi.PROT_WRITE());
    }

    private static Mapping map(long size, int flags, int fd, long offset, String name, int prot) {
        if (size <= 0) {
            throw new IllegalArgumentException("mapping size must be positive: " + size);
        }
        MemorySegment state = Libc.callState();
        MemorySegment address;
        try {
            address = (MemorySegment) Libc.MMAP.invokeExact(state, MemorySegment.NULL, size, prot, flags, fd, offset);
        } catch (Throwable t) {
            throw Libc.linkageBroken(t);
        }
        if (address.address() == -1L) {
            throw new LinuxException("mmap(" + name + ", " + size + " bytes)", Libc.errno(state));
        }
        return new Mapping(address.reinterpret(size), name);
    }

    public long size() {
        return segment.byteSize();
    }

    /** The host virtual address of the first byte (what KVM_SET_USER_MEMORY_REGION takes). */
    public long address() {
        return segment.address();
    }

    public MemorySegment segment() {
        return segment;
    }

    public byte getByte(long offset) {
        return segment.get(ValueLayout.JAVA_BYTE, offset);
    }

    public void putByte(long offset, byte value) {
        segment.set(ValueLayout.JAVA_BYTE, offset, value);
    }

    public short getShort(long offset) {
        return segment.get(SHORT, offset);
    }

    public void putShort(long offset, short value) {
        segment.set(SHORT, offset, value);
    }

    public int getInt(long offset) {
        return segment.get(INT, offset);
    }

    public void putInt(long offset, int value) {
        segment.set(INT, offset, value);
    }

    public long getLong(long offset) {
        return segment.get(LONG, offset);
    }

    public void putLong(long offset, long value) {
        segment.set(LONG, offset, value);
    }

    public void read(long offset, byte[] into, int at, int length) {
        MemorySegment.copy(segment, ValueLayout.JAVA_BYTE, offset, into, at, length);
    }

    public void write(long offset, byte[] from, int at, int length) {
        MemorySegment.copy(from, at, segment, ValueLayout.JAVA_BYTE, offset, length);
    }

    public void fill(long offset, long length, byte value) {
        segment.asSlice(offset, length).fill(value);
    }

    @Override
    public void close() {
        if (unmapped.compareAndSet(false, true)) {
            MemorySegment state = Libc.callState();
            int r;
            try {
                r = (int) Libc.MUNMAP.invokeExact(state, segment, segment.byteSize());
            } catch (Throwable t) {
                throw Libc.linkageBroken(t);
            }
            if (r < 0) {
                throw new LinuxException("munmap(" + name + ")", Libc.errno(state));
            }
        }
    }
}

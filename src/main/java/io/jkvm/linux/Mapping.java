package io.jkvm.linux;

import io.jkvm.linux.uapi.Uapi;

import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.Objects;
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

    /**
     * Every address, in the global scope: the typed accessors go through this constant, which the JIT knows, with
     * their own bounds check against {@link #size}, instead of through each mapping's segment and its scope's checks.
     */
    private static final MemorySegment ALL = MemorySegment.NULL.reinterpret(Long.MAX_VALUE);

    private final MemorySegment segment;
    private final long base;
    private final long size;
    private final String name;
    private final AtomicBoolean unmapped = new AtomicBoolean();

    private Mapping(MemorySegment segment, String name) {
        this.segment = segment;
        this.base = segment.address();
        this.size = segment.byteSize();
        this.name = name;
    }

    /** Private anonymous memory, zero-filled, with MAP_NORESERVE so a large guest costs only what it touches. */
    public static Mapping anonymous(long size, String name) {
        int flags = Uapi.MAP_PRIVATE() | Uapi.MAP_ANONYMOUS() | Uapi.MAP_NORESERVE();
        return map(size, flags, -1, 0, name);
    }

    /**
     * Asks the kernel to back this mapping with transparent huge pages (MADV_HUGEPAGE), as QEMU does guest RAM: where
     * the host's THP mode is "madvise" (Debian's default) nothing else gets them. A 2 MiB page is one fault where 4 KiB
     * pages are 512, and one TLB entry. Advice: a kernel without THP leaves the mapping as it was.
     */
    public void adviseHugePages() {
        Libc.syscall(Libc.callState(), Uapi.SYS_madvise(), base, size, MADV_HUGEPAGE);
    }

    /** madvise(2)'s advice for transparent huge pages (asm-generic/mman-common.h). */
    private static final int MADV_HUGEPAGE = 14;

    /**
     * Private anonymous memory that is also executable: where the test oracle runs instruction bytes natively on
     * the host CPU to compare with the software core.
     */
    public static Mapping anonymousExecutable(long size, String name) {
        return map(size, Uapi.MAP_PRIVATE() | Uapi.MAP_ANONYMOUS(), -1, 0, name,
                Uapi.PROT_READ() | Uapi.PROT_WRITE() | Uapi.PROT_EXEC());
    }

    /**
     * Executable anonymous memory below 4 GiB: code that a 32-bit code segment runs natively, for the test oracle of
     * 16- and 32-bit instruction forms. MAP_32BIT first (the low 2 GiB); where a JVM's heap and class space have
     * filled that, the first free range below 4 GiB that MAP_FIXED_NOREPLACE finds.
     */
    public static Mapping anonymousExecutableLow(long size, String name) {
        int map32Bit = 0x40, fixedNoReplace = 0x100000; // x86-64's MAP_32BIT; MAP_FIXED_NOREPLACE
        int flags = Uapi.MAP_PRIVATE() | Uapi.MAP_ANONYMOUS();
        int prot = Uapi.PROT_READ() | Uapi.PROT_WRITE() | Uapi.PROT_EXEC();
        try {
            return map(size, flags | map32Bit, -1, 0, name, prot);
        } catch (LinuxException full) {
            for (long hint = 0x1000_0000L; hint + size <= 0x1_0000_0000L; hint += 0x100_0000L) {
                long address = mmap(Libc.callState(), hint, size, prot, flags | fixedNoReplace, -1, 0);
                if (address != -1L) {
                    return new Mapping(MemorySegment.ofAddress(address).reinterpret(size), name);
                }
            }
            throw full;
        }
    }

    /** mmap(2): the mapping's address, or -1 with errno in {@code state}. */
    private static long mmap(MemorySegment state, long hint, long size, int prot, int flags, int fd, long offset) {
        return Libc.syscall(state, Uapi.SYS_mmap(), hint, size, prot, flags, fd, offset);
    }

    /**
     * A private (copy-on-write) mapping of the first {@code size} bytes of a file: pages are read from it as they are
     * touched and written to memory of this process only, never to the file (restoring a snapshot's guest RAM).
     */
    public static Mapping privateCopyOf(java.nio.file.Path file, long size, String name) {
        try (Fd fd = Fd.open(file.toString(), 0)) { // O_RDONLY: MAP_PRIVATE needs no write access
            return map(size, Uapi.MAP_PRIVATE(), fd.value(), 0, name, Uapi.PROT_READ() | Uapi.PROT_WRITE());
        }
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
        long address = mmap(state, 0, size, prot, flags, fd, offset);
        if (address == -1L) {
            throw new LinuxException("mmap(" + name + ", " + size + " bytes)", Libc.errno(state));
        }
        return new Mapping(MemorySegment.ofAddress(address).reinterpret(size), name);
    }

    private static final long PAGE = 4096;

    /**
     * Writes each 4 KiB page that is not all zeros to {@code out} at its own offset, so zero pages stay holes in a
     * sparse file; returns the checksum of what was written, as {@link PageChecksum#ofFile} computes it from the file.
     */
    public long writeNonZeroPagesTo(java.nio.channels.FileChannel out) throws java.io.IOException {
        java.util.zip.CRC32C crc = new java.util.zip.CRC32C();
        for (long at = 0; at < segment.byteSize(); at += PAGE) {
            MemorySegment page = segment.asSlice(at, Math.min(PAGE, segment.byteSize() - at));
            if (PageChecksum.isZero(page)) {
                continue;
            }
            java.nio.ByteBuffer bytes = page.asByteBuffer();
            PageChecksum.addPage(crc, at, page);
            while (bytes.hasRemaining()) {
                out.write(bytes, at + bytes.position());
            }
        }
        return crc.getValue();
    }

    private static final java.lang.invoke.VarHandle ALIGNED_LONG = ValueLayout.JAVA_LONG.varHandle();

    /** The aligned 8 bytes at {@code offset}, read as one access another thread's store cannot tear. */
    public long getLongVolatile(long offset) {
        return (long) ALIGNED_LONG.getVolatile(segment, offset);
    }

    private static final java.lang.invoke.VarHandle ALIGNED_SHORT = ValueLayout.JAVA_SHORT.varHandle();

    /** The aligned 2 bytes at {@code offset}, read before any load after it (a virtqueue index another CPU publishes). */
    public short getShortAcquire(long offset) {
        return (short) ALIGNED_SHORT.getAcquire(segment, offset);
    }

    /** Stores the aligned 2 bytes at {@code offset} after every store before it (a virtqueue index this side publishes). */
    public void putShortRelease(long offset, short value) {
        ALIGNED_SHORT.setRelease(segment, offset, value);
    }

    /** The {@code length} bytes at {@code offset} as a buffer over this mapping (file I/O straight into or out of it). */
    public java.nio.ByteBuffer window(long offset, int length) {
        return segment.asSlice(offset, length).asByteBuffer();
    }

    private static final java.lang.invoke.VarHandle ALIGNED_INT = ValueLayout.JAVA_INT.varHandle();

    /** As {@link #getLongVolatile}, at a {@link #pageAddress} plus an offset in that page (8-aligned), unchecked. */
    public long getLongVolatileAt(long address) {
        return (long) ALIGNED_LONG.getVolatile(ALL, address);
    }

    /** The aligned 4 bytes at an address as {@link #getLongVolatileAt} takes it (4-aligned), zero-extended. */
    public long getIntVolatileAt(long address) {
        return (int) ALIGNED_INT.getVolatile(ALL, address) & 0xFFFF_FFFFL;
    }

    /** As {@link #compareAndSetLong}, at an address as {@link #getLongVolatileAt} takes it. */
    public boolean compareAndSetLongAt(long address, long expected, long value) {
        return ALIGNED_LONG.compareAndSet(ALL, address, expected, value);
    }

    /** The same for the aligned 4 bytes at an address (the low halves of {@code expected} and {@code value}). */
    public boolean compareAndSetIntAt(long address, long expected, long value) {
        return ALIGNED_INT.compareAndSet(ALL, address, (int) expected, (int) value);
    }

    /** Stores {@code value} in the aligned 8 bytes at {@code offset} if they still hold {@code expected}, atomically. */
    public boolean compareAndSetLong(long offset, long expected, long value) {
        return ALIGNED_LONG.compareAndSet(segment, offset, expected, value);
    }

    /** Per thread, the four quadwords {@link #compareAndExchange16} hands the host's instruction. */
    private static final ThreadLocal<MemorySegment> CMPXCHG16B_OPERANDS =
            ThreadLocal.withInitial(() -> java.lang.foreign.Arena.ofAuto().allocate(32, 16));

    /**
     * LOCK CMPXCHG16B on the 16 aligned bytes at {@code offset}, run by the host's own instruction, so atomic against
     * every other access to them, plain or locked, from any thread ({@link HostCpu#hasCmpxchg16b} must hold). {@code
     * values}: the expected low and high quadwords, then the new ones; the first two become what the bytes held.
     * True when they held the expected and now hold the new.
     */
    public boolean compareAndExchange16(long offset, long[] values) {
        if ((offset & 15) != 0) {
            throw new IllegalArgumentException("CMPXCHG16B's operand at " + offset + " is not 16-byte aligned");
        }
        long address = segment.asSlice(offset, 16).address(); // in bounds, or an exception
        MemorySegment operands = CMPXCHG16B_OPERANDS.get();
        MemorySegment.copy(values, 0, operands, ValueLayout.JAVA_LONG, 0, 4);
        HostCpu.compareExchange16(address, operands.address());
        long low = operands.get(ValueLayout.JAVA_LONG, 0), high = operands.get(ValueLayout.JAVA_LONG, 8);
        boolean swapped = low == values[0] && high == values[1];
        values[0] = low;
        values[1] = high;
        return swapped;
    }

    /** Whether the {@code length} bytes at {@code offset} are all zero (compared a word at a time, not byte by byte). */
    public boolean isZero(long offset, long length) {
        for (long at = 0; at < length; at += PAGE) {
            if (!PageChecksum.isZero(segment.asSlice(offset + at, Math.min(PAGE, length - at)))) {
                return false;
            }
        }
        return true;
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

    /**
     * The host address of the page at {@code offset} (4096 bytes, inside the mapping), for the {@code ...At} accessors:
     * they take such an address plus an offset in its page and check nothing, for the software core's hottest path,
     * which keeps these addresses only for RAM pages and only while the mapping is open.
     */
    public long pageAddress(long offset) {
        return base + Objects.checkFromIndexSize(offset, 4096, size);
    }

    /** {@code bytes} (1, 2, 4 or 8) at {@code offset}, zero-extended. */
    public long get(long offset, int bytes) {
        return getAt(base + Objects.checkFromIndexSize(offset, bytes, size), bytes);
    }

    /** Stores the low {@code bytes} (1, 2, 4 or 8) of {@code value} at {@code offset}. */
    public void put(long offset, int bytes, long value) {
        putAt(base + Objects.checkFromIndexSize(offset, bytes, size), bytes, value);
    }

    /** As {@link #get}, at a {@link #pageAddress} plus an offset in that page, unchecked. */
    public long getAt(long address, int size) {
        return switch (size) {
            case 1 -> byteAt(address);
            case 2 -> shortAt(address);
            case 4 -> intAt(address);
            default -> longAt(address);
        };
    }

    /** As {@link #put}, at a {@link #pageAddress} plus an offset in that page, unchecked. */
    public void putAt(long address, int size, long value) {
        switch (size) {
            case 1 -> putByteAt(address, value);
            case 2 -> putShortAt(address, value);
            case 4 -> putIntAt(address, value);
            default -> putLongAt(address, value);
        }
    }

    // One accessor per size as well: each compiles to a few instructions, so the JIT inlines it at any hot call.

    /** The byte at a {@link #pageAddress}-based address, zero-extended, unchecked. */
    public long byteAt(long address) {
        return ALL.get(ValueLayout.JAVA_BYTE, address) & 0xFFL;
    }

    public long shortAt(long address) {
        return ALL.get(SHORT, address) & 0xFFFFL;
    }

    public long intAt(long address) {
        return ALL.get(INT, address) & 0xFFFFFFFFL;
    }

    public long longAt(long address) {
        return ALL.get(LONG, address);
    }

    /** Stores the low byte of {@code value} at a {@link #pageAddress}-based address, unchecked. */
    public void putByteAt(long address, long value) {
        ALL.set(ValueLayout.JAVA_BYTE, address, (byte) value);
    }

    public void putShortAt(long address, long value) {
        ALL.set(SHORT, address, (short) value);
    }

    public void putIntAt(long address, long value) {
        ALL.set(INT, address, (int) value);
    }

    public void putLongAt(long address, long value) {
        ALL.set(LONG, address, value);
    }

    /** Copies {@code bytes} from one {@link #pageAddress}-based address to another, unchecked, as memmove. */
    public void copyAt(long from, long to, long bytes) {
        MemorySegment.copy(ALL, from, ALL, to, bytes);
    }

    /** Stores {@code count} copies of the low {@code size} bytes of {@code value} from {@code address} on, unchecked. */
    public void fillAt(long address, long count, int size, long value) {
        long bytes = count * size;
        if (size == 1 || value == (byte) value * 0x0101010101010101L) {
            ALL.asSlice(address, bytes).fill((byte) value); // every byte of the element the same
            return;
        }
        for (long at = address; at < address + bytes; at += size) {
            putAt(at, size, value);
        }
    }

    public byte getByte(long offset) {
        return ALL.get(ValueLayout.JAVA_BYTE, base + Objects.checkFromIndexSize(offset, 1, size));
    }

    public void putByte(long offset, byte value) {
        ALL.set(ValueLayout.JAVA_BYTE, base + Objects.checkFromIndexSize(offset, 1, size), value);
    }

    public short getShort(long offset) {
        return ALL.get(SHORT, base + Objects.checkFromIndexSize(offset, 2, size));
    }

    public void putShort(long offset, short value) {
        ALL.set(SHORT, base + Objects.checkFromIndexSize(offset, 2, size), value);
    }

    public int getInt(long offset) {
        return ALL.get(INT, base + Objects.checkFromIndexSize(offset, 4, size));
    }

    public void putInt(long offset, int value) {
        ALL.set(INT, base + Objects.checkFromIndexSize(offset, 4, size), value);
    }

    public long getLong(long offset) {
        return ALL.get(LONG, base + Objects.checkFromIndexSize(offset, 8, size));
    }

    public void putLong(long offset, long value) {
        ALL.set(LONG, base + Objects.checkFromIndexSize(offset, 8, size), value);
    }

    /** {@code byte[]} read eight bytes at a time, in the byte order guest RAM's longs are read in (the host's). */
    private static final java.lang.invoke.VarHandle BYTES_AS_LONGS =
            java.lang.invoke.MethodHandles.byteArrayViewVarHandle(long[].class, java.nio.ByteOrder.nativeOrder());

    /**
     * Whether the bytes at {@code offset} are {@code bytes}: a word at a time, as the arrays compared (a decoded
     * block's bytes, tens of them) are too short for the bulk compare to repay its set-up.
     */
    public boolean holds(long offset, byte[] bytes) {
        return holds(offset, bytes, 0, bytes.length);
    }

    /** Whether the {@code length} bytes at {@code offset} are {@code bytes[from]} on. */
    public boolean holds(long offset, byte[] bytes, int from, int length) {
        Objects.checkFromIndexSize(from, length, bytes.length);
        int n = from + length, i = from;
        long at = base + Objects.checkFromIndexSize(offset, length, size) - from;
        for (; i <= n - 8; i += 8) {
            if (ALL.get(LONG, at + i) != (long) BYTES_AS_LONGS.get(bytes, i)) {
                return false;
            }
        }
        for (; i < n; i++) {
            if (ALL.get(ValueLayout.JAVA_BYTE, at + i) != bytes[i]) {
                return false;
            }
        }
        return true;
    }

    public void read(long offset, byte[] into, int at, int length) {
        MemorySegment.copy(segment, ValueLayout.JAVA_BYTE, offset, into, at, length);
    }

    public void write(long offset, byte[] from, int at, int length) {
        MemorySegment.copy(from, at, segment, ValueLayout.JAVA_BYTE, offset, length);
    }

    /** Writes {@code from}'s remaining bytes at {@code offset} (an array's, or a direct buffer's such as a mapped file). */
    public void write(long offset, java.nio.ByteBuffer from) {
        MemorySegment.copy(MemorySegment.ofBuffer(from), 0, segment, offset, from.remaining());
    }

    public void fill(long offset, long length, byte value) {
        segment.asSlice(offset, length).fill(value);
    }

    @Override
    public void close() {
        if (unmapped.compareAndSet(false, true)) {
            MemorySegment state = Libc.callState();
            long r = Libc.syscall(state, Uapi.SYS_munmap(), segment.address(), segment.byteSize(), 0);
            if (r < 0) {
                throw new LinuxException("munmap(" + name + ")", Libc.errno(state));
            }
        }
    }
}

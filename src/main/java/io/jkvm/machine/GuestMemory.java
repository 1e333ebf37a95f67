package io.jkvm.machine;

import io.jkvm.devices.virtio.DmaMemory;
import io.jkvm.emu.DirtyPages;
import io.jkvm.linux.Mapping;
import io.jkvm.linux.PageChecksum;
import io.jkvm.migration.MigrationTarget;
import io.jkvm.snapshot.GuestRam;
import io.jkvm.x86.PageWalker;
import io.jkvm.x86.RamLayout;

/**
 * Guest RAM: one anonymous mapping whose offsets are guest-physical addresses, laid out by a {@link RamLayout}
 * (a PC's hole below 4 GiB is part of the mapping, never touched, and never RAM to the guest).
 */
public final class GuestMemory implements AutoCloseable, PageWalker.PhysicalReader, GuestRam, MigrationTarget.Memory,
        DmaMemory {
    private final Mapping ram;
    private final RamLayout layout;
    /** Where devices' stores to RAM are logged while a migration tracks dirty pages; null otherwise. */
    private volatile DirtyPages deviceWrites;

    private GuestMemory(Mapping ram, RamLayout layout) {
        this.ram = ram;
        this.layout = layout;
    }

    /** {@code size} bytes of RAM from guest-physical 0. */
    public static GuestMemory allocate(long size) {
        return allocate(RamLayout.flat(size));
    }

    /** RAM as {@code layout} lays it out, zero, on transparent huge pages where the host gives them. */
    public static GuestMemory allocate(RamLayout layout) {
        Mapping ram = Mapping.anonymous(layout.span(), "guest RAM");
        ram.adviseHugePages();
        return new GuestMemory(ram, layout);
    }

    /** Guest RAM mapped copy-on-write from a snapshot's memory file (its span's bytes): restored without reading it first. */
    public static GuestMemory mapSnapshot(java.nio.file.Path file, RamLayout layout) {
        return new GuestMemory(Mapping.privateCopyOf(file, layout.span(), "guest RAM from " + file), layout);
    }

    /**
     * This memory seen through {@code other}, a layout of the same span (a migration's memory, allocated before the
     * state said which layout it has): the one mapping, which the returned memory owns from here on.
     */
    public GuestMemory laidOut(RamLayout other) {
        if (other.span() != layout.span()) {
            throw new IllegalArgumentException("a layout of " + other.span() + " bytes over " + layout.span());
        }
        return other.equals(layout) ? this : new GuestMemory(ram, other);
    }

    /** Where the guest's RAM is in guest-physical space. */
    public RamLayout layout() {
        return layout;
    }

    /**
     * Checks a snapshot's memory file against its checksum (a corrupt or unreadable file is one line). It reads the
     * file, not a mapping of it, so it can run beside the rest of a restore.
     */
    public static void checkSnapshot(io.jkvm.snapshot.SnapshotFile.Snapshot s) {
        long size = s.state().memorySize();
        long sum;
        // Only the file's data extents are read: its holes are zero pages, which the checksum leaves out anyway
        try (java.nio.channels.FileChannel file = java.nio.channels.FileChannel.open(s.memoryFile())) {
            sum = PageChecksum.ofFile(file, io.jkvm.linux.SparseFile.dataExtents(s.memoryFile(), size), size);
        } catch (java.io.IOException e) {
            throw new io.jkvm.snapshot.SnapshotException("cannot read the guest memory file " + s.memoryFile() + ": " + e.getMessage());
        }
        io.jkvm.snapshot.SnapshotFile.requireMemoryIntact(s, sum);
    }

    /** Stores to RAM from outside the vCPUs (devices' DMA, the machine): see {@link #hostWrites}. */
    private final java.util.concurrent.atomic.AtomicLong hostWrites = new java.util.concurrent.atomic.AtomicLong();

    /**
     * How many times RAM was written from outside the vCPUs so far: each write method here counts, and so does
     * {@link #written}, which a device calls after storing through a {@link #window}. The software core compares it at
     * a serializing instruction to know whether code it decoded may have changed under it.
     */
    public long hostWrites() {
        return hostWrites.get();
    }

    @Override
    public long writeSparse(java.nio.channels.FileChannel out) throws java.io.IOException {
        return ram.writeNonZeroPagesTo(out);
    }

    /** Copies the 4 KiB page at {@code offset} into {@code into} at {@code at}. */
    public void readPage(long offset, byte[] into, int at) {
        ram.read(offset, into, at, 4096);
    }

    /** Whether the 4 KiB page at {@code offset} is all zero. */
    public boolean isZeroPage(long offset) {
        return ram.isZero(offset, 4096);
    }

    @Override
    public void writePage(long offset, byte[] bytes, int at) {
        ram.write(offset, bytes, at, 4096);
        hostWrites.incrementAndGet();
    }

    /** Bytes of the mapping: guest-physical 0 to the end of RAM, a PC's hole included. */
    @Override
    public long size() {
        return ram.size();
    }

    /** Host virtual address of guest-physical 0, for the KVM memory slot. */
    public long hostAddress() {
        return ram.address();
    }

    /** The mapping itself, for the software core's direct loads and stores. */
    public io.jkvm.linux.Mapping mapping() {
        return ram;
    }

    /** Whether {@code length} bytes at {@code physical} are all guest RAM. */
    public boolean contains(long physical, long length) {
        return layout.contains(physical, length);
    }

    public byte readByte(long physical) {
        return ram.getByte(physical);
    }

    public void writeByte(long physical, byte value) {
        ram.putByte(physical, value);
        hostWrites.incrementAndGet();
    }

    @Override
    public int readInt(long physical) {
        return ram.getInt(physical);
    }

    @Override
    public void writeInt(long physical, int value) {
        ram.putInt(physical, value);
        written(physical, 4);
    }

    @Override
    public long readLong(long physical) {
        return contains(physical, 8) ? ram.getLong(physical) : 0;
    }

    public void writeLong(long physical, long value) {
        ram.putLong(physical, value);
        hostWrites.incrementAndGet();
    }

    public void read(long physical, byte[] into) {
        ram.read(physical, into, 0, into.length);
    }

    public void write(long physical, byte[] from, int at, int length) {
        ram.write(physical, from, at, length);
        hostWrites.incrementAndGet();
    }

    /** Writes {@code from}'s remaining bytes at {@code physical}, its position kept. */
    public void write(long physical, java.nio.ByteBuffer from) {
        ram.write(physical, from);
        hostWrites.incrementAndGet();
    }

    public void zero(long physical, long length) {
        ram.fill(physical, length, (byte) 0);
        hostWrites.incrementAndGet();
    }

    /** Logs devices' stores to RAM in {@code pages} from now on (null: no more). */
    void trackDeviceWrites(DirtyPages pages) {
        deviceWrites = pages;
    }

    @Override
    public int readIndex(long physical) {
        return ram.getShortAcquire(physical) & 0xFFFF;
    }

    @Override
    public void writeIndex(long physical, int value) {
        ram.putShortRelease(physical, (short) value);
        written(physical, 2);
    }

    @Override
    public short readShort(long physical) {
        return ram.getShort(physical);
    }

    @Override
    public java.nio.ByteBuffer window(long physical, int length) {
        return ram.window(physical, length);
    }

    @Override
    public void written(long physical, long length) {
        hostWrites.incrementAndGet();
        DirtyPages log = deviceWrites;
        if (log != null && length > 0) {
            for (long page = physical & ~4095L; page < physical + length; page += 4096) {
                log.mark(page);
            }
        }
    }

    /** Up to {@code max} bytes at a linear address, read through the guest's page tables; stops at an unmapped page. */
    public byte[] readLinear(long cr3, long linear, int max) {
        java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
        for (int i = 0; i < max; i++) {
            long physical = PageWalker.translate(cr3, linear + i, this);
            if (physical < 0 || !contains(physical, 1)) {
                break;
            }
            out.write(readByte(physical));
        }
        return out.toByteArray();
    }

    @Override
    public void close() {
        ram.close();
    }
}

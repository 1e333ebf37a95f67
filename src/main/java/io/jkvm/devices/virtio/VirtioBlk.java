package io.jkvm.devices.virtio;

import io.jkvm.devices.InterruptLine;
import io.jkvm.devices.Persist;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.function.Consumer;

/**
 * virtio-blk (spec 5.2) on a raw image file: read, write, flush, discard and the device id, one request queue. A
 * write is in the file (the host's page cache) when its request completes, and on the disk once a flush completes;
 * a read-only disk offers VIRTIO_BLK_F_RO and answers writes with VIRTIO_BLK_S_IOERR. The image's size, rounded
 * down to 512-byte sectors, is the capacity.
 */
public final class VirtioBlk extends VirtioMmio implements Persist<VirtioBlk.State> {
    /** The record: the transport's, the image (a restore opens the same file) and the capacity it had. */
    public record State(Transport transport, String path, boolean readOnly, long sectors) {
    }

    static final int TYPE_IN = 0, TYPE_OUT = 1, TYPE_FLUSH = 4, TYPE_GET_ID = 8, TYPE_DISCARD = 11;
    static final int S_OK = 0, S_IOERR = 1, S_UNSUPP = 2;
    static final long F_SEG_MAX = 1 << 2, F_RO = 1 << 5, F_BLK_SIZE = 1 << 6, F_FLUSH = 1 << 9, F_DISCARD = 1 << 13;
    static final int SECTOR = 512, MAX_DISCARD_SECTORS = 1 << 15;
    private static final int ID_BYTES = 20;

    private final Path path;
    private final boolean readOnly;
    private final FileChannel file;
    private final long sectors;
    private final byte[] configSpace;

    /** Another process (or machine) holds the image's lock: it is that one's disk. */
    public static final class ImageLockedException extends IOException {
        ImageLockedException(Path path) {
            super(path + " is in use by another jkvm, which holds its lock");
        }
    }

    /** The image's advisory lock (shared for a read-only disk, else exclusive); null while released. */
    private java.nio.channels.FileLock lock;

    /**
     * The disk {@code name} on the image at {@code path} (opened and locked here; read-only with {@code readOnly}). A
     * missing or unreadable image is an {@link IOException} naming it; one another process has locked, an
     * {@link ImageLockedException}.
     */
    public VirtioBlk(String name, Path path, boolean readOnly, DmaMemory memory, InterruptLine irq, Consumer<String> trace)
            throws IOException {
        super(name, 2, F_SEG_MAX | F_BLK_SIZE | F_FLUSH | (readOnly ? F_RO : F_DISCARD), 1, memory, irq, trace);
        this.path = path;
        this.readOnly = readOnly;
        this.file = readOnly ? FileChannel.open(path, StandardOpenOption.READ)
                : FileChannel.open(path, StandardOpenOption.READ, StandardOpenOption.WRITE);
        try {
            this.sectors = file.size() / SECTOR;
            lockImage();
        } catch (IOException e) {
            file.close();
            throw e;
        }
        this.configSpace = config(sectors);
    }

    private void lockImage() throws IOException {
        try {
            lock = file.tryLock(0, Long.MAX_VALUE, readOnly);
        } catch (java.nio.channels.OverlappingFileLockException e) {
            lock = null; // a machine of this same process has it
        }
        if (lock == null) {
            throw new ImageLockedException(path);
        }
    }

    /** Lets go of the image's lock while the machine stays paused: a migration's destination takes the disk over. */
    @Override
    public void handOver() {
        quiesce();
        try {
            if (lock != null) {
                lock.release();
            }
        } catch (IOException e) {
            // the channel closed: no lock is held either way
        }
        lock = null;
    }

    /** Takes the image's lock again after {@link #handOver()} (the migration failed); false when another has it. */
    @Override
    public boolean takeBack() {
        try {
            if (lock == null) {
                lockImage();
            }
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    /** The configuration space (struct virtio_blk_config): capacity, seg_max, blk_size and the discard limits. */
    static byte[] config(long sectors) {
        ByteBuffer c = ByteBuffer.allocate(CONFIG_SIZE).order(ByteOrder.LITTLE_ENDIAN);
        c.putLong(CAPACITY, sectors);
        c.putInt(SEG_MAX, Virtqueue.MAX_SIZE - 2); // the header and the status take two descriptors
        c.putInt(BLK_SIZE, SECTOR);
        c.putInt(MAX_DISCARD_SECTORS_AT, MAX_DISCARD_SECTORS);
        c.putInt(MAX_DISCARD_SEG, 1);
        c.putInt(DISCARD_SECTOR_ALIGNMENT, 1);
        return c.array();
    }

    /** Field offsets in struct virtio_blk_config (linux/virtio_blk.h; VirtioBlkTest checks them with gcc). */
    static final int CAPACITY = 0, SEG_MAX = 12, BLK_SIZE = 20, MAX_DISCARD_SECTORS_AT = 36, MAX_DISCARD_SEG = 40,
            DISCARD_SECTOR_ALIGNMENT = 44, CONFIG_SIZE = 60;

    @Override
    protected byte[] config() {
        return configSpace;
    }

    @Override
    protected void serve(int index, Virtqueue queue) {
        drain(queue, this::request);
    }

    /** Carries out one request (header, data, status byte); returns the bytes written into the chain. */
    private int request(Virtqueue.Chain chain) {
        List<Virtqueue.Buffer> buffers = chain.buffers();
        Virtqueue.Buffer last = buffers.getLast();
        if (buffers.getFirst().writable() || buffers.getFirst().length() < 16 || !last.writable() || last.length() < 1) {
            throw new VirtioException("request " + chain.head() + " has no 16-byte header first or no status byte last");
        }
        long header = buffers.getFirst().address();
        int type = memory.readInt(header);
        long sector = memory.readLong(header + 8);
        // The data: every buffer between the header and the status byte (the status may share the last buffer)
        List<Virtqueue.Buffer> data = new java.util.ArrayList<>(buffers.subList(1, buffers.size() - 1));
        if (last.length() > 1) {
            data.add(new Virtqueue.Buffer(last.address(), last.length() - 1, true));
        }
        int status;
        int written = 0;
        try {
            switch (type) {
                case TYPE_IN -> {
                    written = transfer(sector, data, true);
                    status = written < 0 ? S_IOERR : S_OK;
                    written = Math.max(written, 0);
                }
                case TYPE_OUT -> status = readOnly || transfer(sector, data, false) < 0 ? S_IOERR : S_OK;
                case TYPE_FLUSH -> {
                    file.force(false);
                    status = S_OK;
                }
                case TYPE_GET_ID -> {
                    written = deviceId(data);
                    status = S_OK;
                }
                case TYPE_DISCARD -> status = readOnly ? S_IOERR : discard(data);
                default -> status = S_UNSUPP;
            }
        } catch (IOException e) {
            status = S_IOERR;
        }
        long statusAt = last.address() + last.length() - 1;
        memory.window(statusAt, 1).put(0, (byte) status);
        memory.written(statusAt, 1);
        return written + 1;
    }

    /**
     * Moves the data buffers to ({@code in}: from) the image at {@code sector}; the bytes moved, or -1 when the request
     * reaches past the disk or a buffer's direction is wrong for it.
     */
    private int transfer(long sector, List<Virtqueue.Buffer> data, boolean in) throws IOException {
        long bytes = data.stream().mapToLong(Virtqueue.Buffer::length).sum();
        if (sector < 0 || sector > sectors || bytes > (sectors - sector) * SECTOR
                || data.stream().anyMatch(b -> b.writable() != in)) {
            return -1;
        }
        long position = sector * SECTOR;
        for (Virtqueue.Buffer b : data) {
            ByteBuffer window = memory.window(b.address(), b.length());
            while (window.hasRemaining()) {
                int n = in ? file.read(window, position + window.position()) : file.write(window, position + window.position());
                if (n < 0) { // the image shrank under the guest: what is past its end reads as zero
                    while (window.hasRemaining()) {
                        window.put((byte) 0);
                    }
                }
            }
            if (in) {
                memory.written(b.address(), b.length());
            }
            position += b.length();
        }
        return (int) bytes;
    }

    /** VIRTIO_BLK_T_GET_ID: the device's name, NUL-padded to 20 bytes (as much as the buffer takes). */
    private int deviceId(List<Virtqueue.Buffer> data) {
        if (data.isEmpty() || !data.getFirst().writable()) {
            return 0;
        }
        byte[] id = java.util.Arrays.copyOf(name().getBytes(StandardCharsets.US_ASCII), ID_BYTES);
        Virtqueue.Buffer b = data.getFirst();
        int n = Math.min(ID_BYTES, b.length());
        memory.window(b.address(), n).put(id, 0, n);
        memory.written(b.address(), n);
        return n;
    }

    /** VIRTIO_BLK_T_DISCARD: each 16-byte segment's sectors are written with zeros (what they read as from then on). */
    private int discard(List<Virtqueue.Buffer> data) throws IOException {
        for (Virtqueue.Buffer b : data) {
            if (b.writable() || b.length() % 16 != 0) {
                return S_IOERR;
            }
            for (int at = 0; at < b.length(); at += 16) {
                long sector = memory.readLong(b.address() + at);
                long count = Integer.toUnsignedLong(memory.readInt(b.address() + at + 8));
                if (sector < 0 || count > MAX_DISCARD_SECTORS || sector > sectors || count > sectors - sector) {
                    return S_IOERR;
                }
                ByteBuffer zeros = ByteBuffer.allocate((int) (count * SECTOR));
                while (zeros.hasRemaining()) {
                    file.write(zeros, sector * SECTOR + zeros.position());
                }
            }
        }
        return S_OK;
    }

    @Override
    public State save() {
        return new State(saveTransport(), path.toString(), readOnly, sectors);
    }

    @Override
    public void restore(State s) {
        if (s.sectors() != sectors) {
            throw new IllegalArgumentException(name() + ": the snapshot's disk " + s.path() + " had " + s.sectors()
                    + " sectors, the image now has " + sectors + ": restore it with the image as it was");
        }
        String why = invalid(s.transport());
        if (why != null) {
            throw new IllegalArgumentException(name() + ": " + why);
        }
        restoreTransport(s.transport());
    }

    @Override
    protected void release() {
        try {
            file.close();
        } catch (IOException e) {
            // nothing is pending: every write went out through the channel already
        }
    }
}

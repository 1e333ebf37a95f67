package io.jkvm.devices.virtio;

import io.jkvm.devices.virtio.GuestDriver.Desc;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;

import static io.jkvm.devices.virtio.GuestDriver.*;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * virtio-blk driven through its virtio-mmio registers as Linux's virtio_mmio/virtio_blk drive it: the handshake and
 * feature negotiation, requests as descriptor chains in guest RAM against a raw image file, the used ring, status
 * bytes and interrupt line, event indexes, a driver's broken chains, save/restore; and the configuration layout
 * against the kernel's own header, compiled by gcc.
 */
@Timeout(value = 60, threadMode = Timeout.ThreadMode.SEPARATE_THREAD) // quiesce() ignores interrupts: a hang must still fail
class VirtioBlkTest {
    private static final int SECTORS = 16, SECTOR = 512;
    private static final long HEADER = 0x8000, STATUS_BYTE = 0x9000, SEGMENTS = 0xA000, DATA = 0x10000;
    private static final int T_IN = 0, T_OUT = 1, T_FLUSH = 4, T_GET_ID = 8, T_DISCARD = 11;
    private static final long F_SEG_MAX = 1 << 2, F_RO = 1 << 5, F_BLK_SIZE = 1 << 6, F_FLUSH = 1 << 9, F_DISCARD = 1 << 13;

    @TempDir
    Path dir;

    private Path image;
    private byte[] original;
    private final GuestDriver.Ram ram = new GuestDriver.Ram();
    private final List<Boolean> irq = new CopyOnWriteArrayList<>();
    private final List<String> trace = new CopyOnWriteArrayList<>();
    private final List<VirtioMmio> opened = new ArrayList<>();

    @BeforeEach
    void image() throws IOException {
        original = new byte[SECTORS * SECTOR];
        for (int i = 0; i < original.length; i++) {
            original[i] = (byte) (i % 251 + 1); // never 0: a zeroed sector shows
        }
        image = dir.resolve("disk.img");
        Files.write(image, original);
    }

    @AfterEach
    void close() {
        opened.forEach(VirtioMmio::close);
    }

    private VirtioBlk disk(boolean readOnly) throws IOException {
        VirtioBlk d = new VirtioBlk("disk0", image, readOnly, ram, irq::add, trace::add);
        opened.add(d);
        d.start();
        return d;
    }

    private GuestDriver driver(boolean readOnly) throws IOException {
        return new GuestDriver(disk(readOnly), ram, irq, trace);
    }

    /** Closes the device {@code g} drives, as a machine restored in its place would not have it open. */
    private void closeFirst(GuestDriver g) {
        g.device.close();
        opened.remove(g.device);
    }

    private record Result(int status, int used) {
    }

    /** A request: the 16-byte header (type, sector), {@code data}, and a status byte; the status and used length. */
    private static Result request(GuestDriver g, int type, long sector, Desc... data) {
        g.ram.bytes.putInt((int) HEADER, type).putInt((int) HEADER + 4, 0).putLong((int) HEADER + 8, sector);
        g.ram.bytes.put((int) STATUS_BYTE, (byte) 0xFF);
        List<Desc> chain = new ArrayList<>();
        chain.add(new Desc(HEADER, 16, false));
        chain.addAll(List.of(data));
        chain.add(new Desc(STATUS_BYTE, 1, true));
        int used = g.submit(chain.toArray(Desc[]::new));
        return new Result(g.ram.bytes.get((int) STATUS_BYTE) & 0xFF, used);
    }

    private byte[] imageBytes() throws IOException {
        return Files.readAllBytes(image);
    }

    private static byte[] sectors(byte[] disk, int from, int count) {
        return Arrays.copyOfRange(disk, from * SECTOR, (from + count) * SECTOR);
    }

    @Test
    void identifiesItselfAndDescribesTheDisk() throws IOException {
        GuestDriver g = driver(false);
        assertEquals(0x74726976, g.read(MAGIC), "\"virt\"");
        assertEquals(2, g.read(VERSION), "virtio-mmio version 2 (virtio 1.x)");
        assertEquals(2, g.read(DEVICE_ID), "a block device");
        long features = g.deviceFeatures();
        for (long f : new long[]{F_VERSION_1, F_EVENT_IDX, F_SEG_MAX, F_BLK_SIZE, F_FLUSH, F_DISCARD}) {
            assertEquals(f, features & f, Long.toHexString(features));
        }
        assertEquals(0, features & F_RO, "a writable disk");
        // Linux reads an 8-byte field as two 4-byte loads (vm_get)
        assertEquals(SECTORS, g.read(CONFIG + VirtioBlk.CAPACITY));
        assertEquals(0, g.read(CONFIG + VirtioBlk.CAPACITY + 4));
        assertEquals(SECTORS, g.device.read(CONFIG + VirtioBlk.CAPACITY, 8));
        assertEquals(Virtqueue.MAX_SIZE - 2, g.read(CONFIG + VirtioBlk.SEG_MAX));
        assertEquals(SECTOR, g.read(CONFIG + VirtioBlk.BLK_SIZE));
        assertEquals(1 << 15, g.read(CONFIG + VirtioBlk.MAX_DISCARD_SECTORS_AT));
        assertEquals(1, g.read(CONFIG + VirtioBlk.MAX_DISCARD_SEG));
        assertEquals(1, g.read(CONFIG + VirtioBlk.DISCARD_SECTOR_ALIGNMENT));
        assertEquals(0, g.read(CONFIG + 0x80), "past the configuration space");
    }

    @Test
    void featuresOkNeedsVersion1AndOnlyOfferedBits() throws IOException {
        GuestDriver g = driver(false);
        assertFalse(g.negotiate(F_FLUSH), "a legacy driver (no VERSION_1) is refused");
        assertFalse(g.negotiate(F_VERSION_1 | 1), "bit 0 (BARRIER) is not offered");
        assertTrue(g.negotiate(F_VERSION_1 | F_FLUSH));
        assertEquals(ACKNOWLEDGE | DRIVER | FEATURES_OK, g.status());
    }

    @Test
    void inReadsTheImageIntoGuestMemoryAndRaisesTheLine() throws IOException {
        GuestDriver g = driver(false);
        g.start(F_VERSION_1);
        assertFalse(g.line());
        long second = DATA + 0x3000; // two buffers apart: the data is scattered
        Result r = request(g, T_IN, 2, new Desc(DATA, SECTOR, true), new Desc(second, SECTOR, true));
        assertEquals(new Result(0, 2 * SECTOR + 1), r, "OK, with the data and status written");
        assertArrayEquals(sectors(original, 2, 1), ram.get(DATA, SECTOR));
        assertArrayEquals(sectors(original, 3, 1), ram.get(second, SECTOR));
        assertTrue(ram.reportedWritten(DATA, SECTOR) && ram.reportedWritten(second, SECTOR), "the dirty log sees the data");
        assertTrue(ram.reportedWritten(STATUS_BYTE, 1) && ram.reportedWritten(USED + 2, 2), "and the status and used index");
        assertTrue(g.line(), "the used buffer interrupt");
        assertEquals(1, g.read(INTERRUPT_STATUS));
        g.write(INTERRUPT_ACK, 1);
        assertFalse(g.line(), "InterruptACK lowers the line");
        assertEquals(0, g.read(INTERRUPT_STATUS));
    }

    @Test
    void outWritesTheImageAndFlushSucceeds() throws IOException {
        GuestDriver g = driver(false);
        g.start(F_VERSION_1);
        byte[] data = new byte[2 * SECTOR];
        Arrays.fill(data, (byte) 0xA5);
        ram.put(DATA, data);
        assertEquals(new Result(0, 1), request(g, T_OUT, 5, new Desc(DATA, data.length, false)), "only the status written");
        byte[] expected = original.clone();
        System.arraycopy(data, 0, expected, 5 * SECTOR, data.length);
        assertArrayEquals(expected, imageBytes());
        assertEquals(new Result(0, 1), request(g, T_FLUSH, 0));
    }

    @Test
    void getIdReturnsTheDeviceName() throws IOException {
        GuestDriver g = driver(false);
        g.start(F_VERSION_1);
        Arrays.fill(ram.bytes.array(), (int) DATA, (int) DATA + 20, (byte) 0x55); // the padding must be written too
        assertEquals(new Result(0, 21), request(g, T_GET_ID, 0, new Desc(DATA, 20, true)));
        assertArrayEquals(Arrays.copyOf("disk0".getBytes(StandardCharsets.US_ASCII), 20), ram.get(DATA, 20), "NUL-padded");
        assertTrue(ram.reportedWritten(DATA, 20));
    }

    @Test
    void discardZeroesItsSectorsOnly() throws IOException {
        GuestDriver g = driver(false);
        g.start(F_VERSION_1 | F_DISCARD);
        ram.bytes.putLong((int) SEGMENTS, 3).putInt((int) SEGMENTS + 8, 2).putInt((int) SEGMENTS + 12, 0); // sectors 3-4
        assertEquals(0, request(g, T_DISCARD, 0, new Desc(SEGMENTS, 16, false)).status());
        byte[] expected = original.clone();
        Arrays.fill(expected, 3 * SECTOR, 5 * SECTOR, (byte) 0);
        assertArrayEquals(expected, imageBytes());
        ram.bytes.putLong((int) SEGMENTS, SECTORS - 1).putInt((int) SEGMENTS + 8, 2);
        assertEquals(1, request(g, T_DISCARD, 0, new Desc(SEGMENTS, 16, false)).status(), "past the end");
        assertArrayEquals(expected, imageBytes());
    }

    /** While the machine is paused the device is held: a request made available then waits, untouched, for proceed(). */
    @Test
    void aHeldDeviceServesNothingUntilItProceeds() throws Exception {
        GuestDriver g = driver(false);
        g.start(F_VERSION_1);
        assertEquals(0, request(g, T_FLUSH, 0).status());
        g.device.hold();
        g.ram.bytes.putInt((int) HEADER, T_FLUSH).putInt((int) HEADER + 4, 0).putLong((int) HEADER + 8, 0);
        g.ram.bytes.put((int) STATUS_BYTE, (byte) 0xFF);
        g.descriptor(0, HEADER, 16, NEXT, 1);
        g.descriptor(1, STATUS_BYTE, 1, WRITE, 0);
        int used = g.usedIdx();
        g.publish(0); // its quiesce() returns at once: a held device has nothing to finish
        Thread.sleep(200);
        assertEquals(used, g.usedIdx(), "nothing served while held");
        assertEquals(0xFF, g.ram.bytes.get((int) STATUS_BYTE) & 0xFF);
        g.device.proceed();
        g.device.quiesce();
        assertEquals((used + 1) & 0xFFFF, g.usedIdx(), "served once the device proceeds");
        assertEquals(0, g.ram.bytes.get((int) STATUS_BYTE));
    }

    @Test
    void anUnknownTypeIsUnsupported() throws IOException {
        GuestDriver g = driver(false);
        g.start(F_VERSION_1);
        assertEquals(2, request(g, 2, 0, new Desc(DATA, SECTOR, true)).status(), "SCSI_CMD");
        assertEquals(2, request(g, 99, 0).status());
        assertEquals(0, request(g, T_FLUSH, 0).status(), "and the device still serves");
    }

    @Test
    void aRequestPastTheEndIsAnIoError() throws IOException {
        GuestDriver g = driver(false);
        g.start(F_VERSION_1);
        assertEquals(new Result(0, SECTOR + 1), request(g, T_IN, SECTORS - 1, new Desc(DATA, SECTOR, true)), "the last sector");
        assertEquals(new Result(1, 1), request(g, T_IN, SECTORS - 1, new Desc(DATA, 2 * SECTOR, true)));
        assertEquals(1, request(g, T_IN, SECTORS, new Desc(DATA, SECTOR, true)).status());
        assertEquals(1, request(g, T_IN, -1, new Desc(DATA, SECTOR, true)).status(), "sector 2^64-1");
        assertEquals(1, request(g, T_OUT, SECTORS - 1, new Desc(DATA, 2 * SECTOR, false)).status());
        assertEquals(1, request(g, T_IN, 0, new Desc(DATA, SECTOR, false)).status(), "an IN into a buffer it may not write");
        assertArrayEquals(original, imageBytes());
    }

    @Test
    void aReadOnlyDiskSaysSoAndRefusesWrites() throws IOException {
        GuestDriver g = driver(true);
        long features = g.deviceFeatures();
        assertEquals(F_RO, features & F_RO, "VIRTIO_BLK_F_RO");
        assertEquals(0, features & F_DISCARD, "no discard on a read-only disk");
        g.start(F_VERSION_1 | F_RO);
        ram.put(DATA, new byte[SECTOR]);
        assertEquals(1, request(g, T_OUT, 0, new Desc(DATA, SECTOR, false)).status());
        ram.bytes.putLong((int) SEGMENTS, 0).putInt((int) SEGMENTS + 8, 1).putInt((int) SEGMENTS + 12, 0);
        assertEquals(1, request(g, T_DISCARD, 0, new Desc(SEGMENTS, 16, false)).status());
        assertEquals(0, request(g, T_IN, 1, new Desc(DATA, SECTOR, true)).status(), "reads still work");
        assertArrayEquals(sectors(original, 1, 1), ram.get(DATA, SECTOR));
        assertArrayEquals(original, imageBytes());
    }

    /** A chain no device could follow stops the device until a reset, with the config-change interrupt. */
    @ParameterizedTest
    @ValueSource(strings = {"next past the table", "head past the table", "loop"})
    void aMalformedChainNeedsAReset(String how) throws IOException {
        GuestDriver g = driver(false);
        g.start(F_VERSION_1);
        int used = g.usedIdx();
        switch (how) {
            case "next past the table" -> {
                g.descriptor(0, HEADER, 16, NEXT, QN + 3);
                g.publish(0);
            }
            case "head past the table" -> g.publish(QN + 40);
            default -> {
                g.descriptor(0, HEADER, 16, NEXT, 1);
                g.descriptor(1, DATA, SECTOR, NEXT | WRITE, 0);
                g.publish(0);
            }
        }
        assertEquals(NEEDS_RESET, g.status() & NEEDS_RESET, how);
        assertEquals(2, g.read(INTERRUPT_STATUS) & 2, "the configuration change interrupt");
        assertTrue(g.line());
        assertEquals(used, g.usedIdx(), "nothing returned");
        assertTrue(trace.stream().anyMatch(l -> l.contains("disk0") && l.contains("reset")), trace.toString());
        g.descriptor(0, HEADER, 16, 0, 0);
        g.publish(0);
        assertEquals(used, g.usedIdx(), "a stopped device serves nothing");
        g.write(STATUS, 0);
        assertEquals(0, g.status(), "a reset clears DEVICE_NEEDS_RESET");
        assertFalse(g.line());
        g.start(F_VERSION_1);
        assertEquals(new Result(0, SECTOR + 1), request(g, T_IN, 0, new Desc(DATA, SECTOR, true)), "the device is back");
    }

    @Test
    void eventIndexesDecideNotificationsAndInterrupts() throws IOException {
        GuestDriver g = driver(false);
        g.start(F_VERSION_1 | F_EVENT_IDX);
        assertEquals(0, g.availEvent());
        assertTrue(ram.reportedWritten(USED + 4 + 8L * QN, 2), "DRIVER_OK had the device look once and publish avail_event");
        g.usedEvent(0); // interrupt when the used index passes 0
        assertEquals(0, request(g, T_FLUSH, 0).status());
        assertEquals(1, g.availEvent(), "notify me when the next chain (1) is there");
        assertTrue(g.line());
        assertEquals(1, g.acknowledge());
        g.usedEvent(7); // not before entry 7 is used
        assertEquals(0, request(g, T_FLUSH, 0).status());
        assertEquals(2, g.usedIdx());
        assertEquals(2, g.availEvent());
        assertFalse(g.line(), "used_event said not yet");
        assertEquals(0, g.read(INTERRUPT_STATUS));
        g.usedEvent(2);
        assertEquals(0, request(g, T_FLUSH, 0).status());
        assertTrue(g.line(), "used_event 2 reached");
        assertEquals(1, g.read(INTERRUPT_STATUS));
    }

    @Test
    void withoutEventIndexesTheNoInterruptFlagCounts() throws IOException {
        GuestDriver g = driver(false);
        g.start(F_VERSION_1);
        ram.bytes.putShort((int) AVAIL, (short) 1); // VRING_AVAIL_F_NO_INTERRUPT
        assertEquals(0, request(g, T_FLUSH, 0).status());
        assertFalse(g.line());
        assertFalse(ram.reportedWritten(USED + 4 + 8L * QN, 2), "no avail_event without VIRTIO_F_EVENT_IDX");
        ram.bytes.putShort((int) AVAIL, (short) 0);
        assertEquals(0, request(g, T_FLUSH, 0).status());
        assertTrue(g.line());
    }

    /** Registers of a queue the device has not, or values it cannot take, change nothing and throw nothing. */
    @Test
    void aQueueTheDeviceCannotUseIsRefused() throws IOException {
        GuestDriver g = driver(false);
        assertTrue(g.negotiate(F_VERSION_1));
        g.write(QUEUE_SEL, 1);
        assertEquals(0, g.read(QUEUE_NUM_MAX), "virtio-blk has one queue");
        g.write(QUEUE_NUM, QN);
        g.setRings(DESC, AVAIL, USED);
        g.write(QUEUE_READY, 1);
        assertEquals(0, g.read(QUEUE_READY));
        assertEquals(0, g.status() & NEEDS_RESET);
        g.write(QUEUE_SEL, -1); // QueueSel 0xFFFFFFFF: no queue either
        assertEquals(0, g.read(QUEUE_NUM_MAX));
        g.setRings(DESC, AVAIL, USED);
        g.write(QUEUE_READY, 1);
        assertEquals(0, g.read(QUEUE_READY));
        g.write(QUEUE_SEL, 0);
        g.write(QUEUE_NUM, 2 * Virtqueue.MAX_SIZE); // a power of 2, but above QueueNumMax
        g.setRings(DESC, AVAIL, USED);
        g.write(QUEUE_READY, 1);
        assertEquals(0, g.read(QUEUE_READY), "QueueNum above QueueNumMax");
        assertEquals(NEEDS_RESET, g.status() & NEEDS_RESET);
        g.write(STATUS, 0);
        assertTrue(g.negotiate(F_VERSION_1));
        g.write(QUEUE_NUM, QN);
        g.setRings(DESC + 8, AVAIL, USED);
        g.write(QUEUE_READY, 1);
        assertEquals(0, g.read(QUEUE_READY), "a descriptor table not 16-byte aligned");
        assertEquals(NEEDS_RESET, g.status() & NEEDS_RESET);
    }

    @Test
    void saveThenRestoreOnAFreshDeviceGivesTheSameRecord() throws IOException {
        GuestDriver g = driver(false);
        g.start(F_VERSION_1 | F_EVENT_IDX);
        g.usedEvent(0);
        assertEquals(0, request(g, T_IN, 4, new Desc(DATA, SECTOR, true)).status());
        VirtioBlk.State saved = ((VirtioBlk) g.device).save();
        assertEquals(new VirtioBlk.State(saved.transport(), image.toString(), false, SECTORS), saved);
        Virtqueue.State q = saved.transport().queues().getFirst();
        assertEquals(new Virtqueue.State(QN, true, DESC, AVAIL, USED, 1, 1), q);
        assertEquals(1, saved.transport().interruptStatus());

        closeFirst(g);
        irq.clear();
        VirtioBlk fresh = disk(false);
        fresh.restore(saved);
        assertEquals(saved, fresh.save());
        assertTrue(irq.getLast(), "the pending interrupt is on the line again");
        // The restored device carries on where the saved one was in the rings
        GuestDriver after = g.continueOn(fresh);
        after.write(INTERRUPT_ACK, 1);
        g.usedEvent(1);
        assertEquals(new Result(0, SECTOR + 1), request(after, T_IN, 6, new Desc(DATA, SECTOR, true)));
        assertArrayEquals(sectors(original, 6, 1), ram.get(DATA, SECTOR));
        assertEquals(2, after.usedIdx());
        assertTrue(after.line());
    }

    @Test
    void restoreRefusesARecordThatIsNotThisDisks() throws IOException {
        GuestDriver g = driver(false);
        g.start(F_VERSION_1);
        VirtioBlk.State saved = ((VirtioBlk) g.device).save();
        closeFirst(g);
        VirtioBlk fresh = disk(false);
        VirtioBlk.State otherDisk = new VirtioBlk.State(saved.transport(), saved.path(), false, SECTORS + 1);
        assertTrue(assertThrows(IllegalArgumentException.class, () -> fresh.restore(otherDisk)).getMessage().contains("sectors"));
        Virtqueue.State q = saved.transport().queues().getFirst();
        for (Virtqueue.State bad : List.of(
                new Virtqueue.State(12, q.ready(), q.desc(), q.driver(), q.device(), q.nextAvail(), q.nextUsed()),
                new Virtqueue.State(0, q.ready(), q.desc(), q.driver(), q.device(), q.nextAvail(), q.nextUsed()),
                new Virtqueue.State(2 * Virtqueue.MAX_SIZE, q.ready(), q.desc(), q.driver(), q.device(), 0, 0),
                new Virtqueue.State(q.size(), q.ready(), q.desc(), q.driver(), q.device(), 0x10000, 0),
                // a ready queue whose rings are not in RAM: the worker would fault on them
                new Virtqueue.State(q.size(), true, 1L << 40, q.driver(), q.device(), q.nextAvail(), q.nextUsed()))) {
            VirtioMmio.Transport t = saved.transport();
            VirtioBlk.State s = new VirtioBlk.State(new VirtioMmio.Transport(t.status(), t.driverFeatures(),
                    t.deviceFeaturesSel(), t.driverFeaturesSel(), t.queueSel(), t.interruptStatus(), List.of(bad)),
                    saved.path(), false, SECTORS);
            assertThrows(IllegalArgumentException.class, () -> fresh.restore(s), bad.toString());
        }
        assertEquals(0, fresh.save().transport().status(), "nothing of a refused record was loaded");
        fresh.restore(saved);
        assertEquals(saved, fresh.save());
    }

    /** Every configuration offset and protocol constant, compiled by gcc from the kernel's UAPI header. */
    @Test
    void theConfigurationLayoutIsTheKernelHeadersOwn() throws Exception {
        Map<String, Long> ours = new LinkedHashMap<>();
        ours.put("offsetof(struct virtio_blk_config, capacity)", (long) VirtioBlk.CAPACITY);
        ours.put("offsetof(struct virtio_blk_config, seg_max)", (long) VirtioBlk.SEG_MAX);
        ours.put("offsetof(struct virtio_blk_config, blk_size)", (long) VirtioBlk.BLK_SIZE);
        ours.put("offsetof(struct virtio_blk_config, max_discard_sectors)", (long) VirtioBlk.MAX_DISCARD_SECTORS_AT);
        ours.put("offsetof(struct virtio_blk_config, max_discard_seg)", (long) VirtioBlk.MAX_DISCARD_SEG);
        ours.put("offsetof(struct virtio_blk_config, discard_sector_alignment)", (long) VirtioBlk.DISCARD_SECTOR_ALIGNMENT);
        // The configuration space ends where the secure-erase fields (a feature not offered) begin
        ours.put("offsetof(struct virtio_blk_config, max_secure_erase_sectors)", (long) VirtioBlk.CONFIG_SIZE);
        ours.put("VIRTIO_BLK_T_IN", (long) VirtioBlk.TYPE_IN);
        ours.put("VIRTIO_BLK_T_OUT", (long) VirtioBlk.TYPE_OUT);
        ours.put("VIRTIO_BLK_T_FLUSH", (long) VirtioBlk.TYPE_FLUSH);
        ours.put("VIRTIO_BLK_T_GET_ID", (long) VirtioBlk.TYPE_GET_ID);
        ours.put("VIRTIO_BLK_T_DISCARD", (long) VirtioBlk.TYPE_DISCARD);
        ours.put("VIRTIO_BLK_S_IOERR", (long) VirtioBlk.S_IOERR);
        ours.put("VIRTIO_BLK_S_UNSUPP", (long) VirtioBlk.S_UNSUPP);
        ours.put("VIRTIO_BLK_ID_BYTES", 20L);
        ours.put("1ULL << VIRTIO_BLK_F_SEG_MAX", VirtioBlk.F_SEG_MAX);
        ours.put("1ULL << VIRTIO_BLK_F_RO", VirtioBlk.F_RO);
        ours.put("1ULL << VIRTIO_BLK_F_BLK_SIZE", VirtioBlk.F_BLK_SIZE);
        ours.put("1ULL << VIRTIO_BLK_F_FLUSH", VirtioBlk.F_FLUSH);
        ours.put("1ULL << VIRTIO_BLK_F_DISCARD", VirtioBlk.F_DISCARD);
        ours.put("1ULL << VIRTIO_F_VERSION_1", VirtioMmio.F_VERSION_1);
        ours.put("1ULL << VIRTIO_RING_F_EVENT_IDX", VirtioMmio.F_EVENT_IDX);
        Map<String, Long> theirs = io.jkvm.testing.CHeaders.evaluate(dir, List.of("linux/virtio_blk.h", "linux/virtio_config.h",
                "linux/virtio_ring.h"), ours.keySet());
        assertEquals(ours, theirs, "struct virtio_blk_config as gcc lays it out from linux/virtio_blk.h");
        // And the bytes the device serves sit at those offsets
        ByteBuffer config = ByteBuffer.wrap(VirtioBlk.config(1234)).order(ByteOrder.LITTLE_ENDIAN);
        assertEquals(VirtioBlk.CONFIG_SIZE, config.capacity());
        assertEquals(1234, config.getLong(VirtioBlk.CAPACITY));
        assertEquals(SECTOR, config.getInt(VirtioBlk.BLK_SIZE));
    }
}

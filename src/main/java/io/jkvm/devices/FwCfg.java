package io.jkvm.devices;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;

/**
 * QEMU's firmware configuration device, its legacy port interface: a 16-bit write of a key to the selector (0x510),
 * then the item's bytes, one per 8-bit read of the data port (0x511); past the end, zeros. Items: the signature
 * "QEMU", the interface ID (traditional), the RAM size, the number of CPUs and the maximum, and an empty file
 * directory. Unknown keys read as zeros.
 */
public final class FwCfg implements Device, Persist<FwCfg.State> {
    public static final int PORT = 0x510, PORTS = 2;
    /** An offset past every item's end; reading on stays there (a count of reads could overflow). */
    private static final int PAST_EVERY_ITEM = 0x10000;
    static final int SIGNATURE = 0x00, ID = 0x01, RAM_SIZE = 0x03, NB_CPUS = 0x05, MAX_CPUS = 0x0F, FILE_DIR = 0x19;

    /** The selected key and how far its item has been read. */
    public record State(int selector, int offset) {
    }

    private final long ramSize;
    private final int cpus;
    private int selector;
    private int offset;

    public FwCfg(long ramSize, int cpus) {
        this.ramSize = ramSize;
        this.cpus = cpus;
    }

    private byte[] item(int key) {
        ByteBuffer b = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
        return switch (key) {
            case SIGNATURE -> "QEMU".getBytes(StandardCharsets.US_ASCII);
            case ID -> b.putInt(0, 1).array();
            case RAM_SIZE -> b.putLong(0, ramSize).array();
            case NB_CPUS, MAX_CPUS -> b.putShort(0, (short) cpus).array();
            case FILE_DIR -> new byte[4]; // a big-endian count of 0 files
            default -> new byte[0];
        };
    }

    @Override
    public synchronized long read(long at, int size) {
        if (at != 1) {
            return 0;
        }
        long v = 0;
        byte[] item = item(selector);
        for (int i = 0; i < size; i++) { // wider reads take the next bytes, as QEMU's port does
            v |= (offset < item.length ? item[offset] & 0xFFL : 0) << (8 * i);
            offset = Math.min(offset + 1, PAST_EVERY_ITEM); // past the end every read is 0: the offset need not count on
        }
        return v;
    }

    @Override
    public synchronized void write(long at, int size, long value) {
        if (at == 0) {
            selector = (int) value & 0x3FFF; // bits 14-15 (write, architecture-specific) select nothing more here
            offset = 0;
        }
    }

    @Override
    public synchronized State save() {
        return new State(selector, offset);
    }

    @Override
    public synchronized void restore(State s) {
        if (s.selector() < 0 || s.selector() > 0x3FFF || s.offset() < 0) {
            throw new IllegalArgumentException("fw_cfg: selector 0x" + Integer.toHexString(s.selector()) + " at offset "
                    + s.offset() + " is not one the device can hold");
        }
        selector = s.selector();
        offset = s.offset();
    }
}

package io.jkvm.devices;

import java.util.Map;
import java.util.TreeMap;

/**
 * Routes port or MMIO accesses to the device mapped at that address. Reads of unmapped addresses return all
 * ones and writes are dropped, as on a PC with nothing decoding the address.
 */
public final class Bus {
    private record Range(long base, long length, Device device) {
    }

    private final String name;
    private final TreeMap<Long, Range> ranges = new TreeMap<>();

    public Bus(String name) {
        this.name = name;
    }

    public void map(long base, long length, Device device) {
        Map.Entry<Long, Range> below = ranges.floorEntry(base + length - 1);
        if (below != null && below.getValue().base() + below.getValue().length() > base) {
            throw new IllegalArgumentException(String.format("%s range 0x%x+0x%x overlaps one already mapped at 0x%x",
                    name, base, length, below.getKey()));
        }
        ranges.put(base, new Range(base, length, device));
    }

    private Range find(long address) {
        Map.Entry<Long, Range> e = ranges.floorEntry(address);
        if (e == null) {
            return null;
        }
        Range r = e.getValue();
        return address < r.base() + r.length() ? r : null;
    }

    public long read(long address, int size) {
        Range r = find(address);
        if (r == null) {
            return size >= 8 ? -1L : (1L << (8 * size)) - 1;
        }
        return r.device().read(address - r.base(), size);
    }

    public void write(long address, int size, long value) {
        Range r = find(address);
        if (r != null) {
            r.device().write(address - r.base(), size, value);
        }
    }
}

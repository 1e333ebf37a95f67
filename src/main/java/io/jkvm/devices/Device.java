package io.jkvm.devices;

/** A device register block on the port or MMIO bus; offsets are relative to where it is mapped. */
public interface Device {
    long read(long offset, int size);

    void write(long offset, int size, long value);
}

package io.jkvm.devices;

/** A device register block on the port or MMIO bus; offsets are relative to where it is mapped. */
public interface Device {
    long read(long offset, int size);

    void write(long offset, int size, long value);

    /** What a write-only block does with a store. */
    @FunctionalInterface
    interface Store {
        void write(long offset, int size, long value);
    }

    /** A block whose registers are only written: stores go to {@code store}, loads read 0. */
    static Device writeOnly(Store store) {
        return new Device() {
            @Override
            public long read(long offset, int size) {
                return 0;
            }

            @Override
            public void write(long offset, int size, long value) {
                store.write(offset, size, value);
            }
        };
    }
}

package io.jkvm.devices;

import java.util.function.LongConsumer;

/** QEMU's isa-debug-exit: writing v ends the VM, and jkvm exits with status (v << 1) | 1. */
public final class DebugExit implements Device {
    public static final int PORT = 0xF4;

    private final LongConsumer exit;

    public DebugExit(LongConsumer exit) {
        this.exit = exit;
    }

    @Override
    public long read(long offset, int size) {
        return 0;
    }

    @Override
    public void write(long offset, int size, long value) {
        long v = size >= 8 ? value : value & ((1L << (8 * size)) - 1);
        exit.accept((v << 1) | 1);
    }
}

package io.jkvm.devices;

/**
 * The 8042 keyboard controller as far as kernels use it without a keyboard: the status port (0x64) reads as empty
 * buffers, the data port (0x60) as nothing pending, and command 0xFE (pulse the reset line) resets the machine,
 * which for jkvm ends the run as a guest-requested reset. Commands 0xD1 with a data byte whose bit 0 is clear (the
 * output port's reset line) do the same. The FADT does not describe it (AcpiTables), so a kernel reading ACPI never
 * probes it for a keyboard.
 */
public final class I8042 implements Persist<I8042.State> {
    /** Whether the next data byte is the output port's (command 0xD1 came before it). */
    public record State(boolean writingOutputPort) {
    }

    public static final int DATA_PORT = 0x60, COMMAND_PORT = 0x64;

    private final Runnable reset;
    private boolean writingOutputPort;

    /** {@code reset}: what a reset through the controller does. */
    public I8042(Runnable reset) {
        this.reset = reset;
    }

    /** Reads as nothing pending; a write after command 0xD1 is the output port, whose bit 0 clear resets. */
    public Device dataPort() {
        return Device.writeOnly((at, size, value) -> {
            boolean resetNow;
            synchronized (I8042.this) {
                resetNow = writingOutputPort && (value & 1) == 0;
                writingOutputPort = false;
            }
            if (resetNow) {
                reset.run();
            }
        });
    }

    public Device commandPort() {
        return new Device() {
            @Override
            public long read(long at, int size) {
                return 0x1C; // input and output buffers empty, system flag, the last write a command
            }

            @Override
            public void write(long at, int size, long value) {
                int command = (int) value & 0xFF;
                synchronized (I8042.this) {
                    writingOutputPort = command == 0xD1;
                }
                if (command == 0xFE) {
                    reset.run();
                }
            }
        };
    }

    @Override
    public synchronized State save() {
        return new State(writingOutputPort);
    }

    @Override
    public synchronized void restore(State s) {
        writingOutputPort = s.writingOutputPort();
    }
}

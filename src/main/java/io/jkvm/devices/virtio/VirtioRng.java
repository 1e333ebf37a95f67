package io.jkvm.devices.virtio;

import io.jkvm.devices.InterruptLine;
import io.jkvm.devices.Persist;
import io.jkvm.linux.HostRandom;

import java.util.function.Consumer;

/** virtio-rng (spec 5.4): one queue, whose writable buffers it fills from the host's entropy (/dev/urandom). */
public final class VirtioRng extends VirtioMmio implements Persist<VirtioRng.State> {
    /** The record: the transport's alone (entropy has no state). */
    public record State(Transport transport) {
    }

    public VirtioRng(String name, DmaMemory memory, InterruptLine irq, Consumer<String> trace) {
        super(name, 4, 0, 1, memory, irq, trace);
    }

    private static final byte[] NO_CONFIG = new byte[0];

    @Override
    protected byte[] config() {
        return NO_CONFIG;
    }

    @Override
    protected void serve(int index, Virtqueue queue) {
        drain(queue, chain -> {
            int written = 0;
            for (Virtqueue.Buffer b : chain.buffers()) {
                if (b.writable()) {
                    byte[] bytes = new byte[Math.min(b.length(), 4096)]; // a driver asks for small amounts; this caps one
                    HostRandom.fill(bytes); // the kernel's CSPRNG
                    memory.window(b.address(), bytes.length).put(bytes);
                    memory.written(b.address(), bytes.length);
                    written += bytes.length;
                    break;
                }
            }
            return written;
        });
    }

    @Override
    public State save() {
        return new State(saveTransport());
    }

    @Override
    public void restore(State s) {
        String why = invalid(s.transport());
        if (why != null) {
            throw new IllegalArgumentException(name() + ": " + why);
        }
        restoreTransport(s.transport());
    }
}

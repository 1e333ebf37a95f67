package io.jkvm.devices.virtio;

import io.jkvm.devices.InterruptLine;
import io.jkvm.devices.Device;

import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;

/**
 * A virtio device on the virtio-mmio transport (version 2, virtio 1.x; spec 4.2): its registers on the MMIO bus,
 * feature negotiation, the device status, split virtqueues and a level-triggered interrupt line. The device's work
 * runs on a thread of its own, which a queue notification wakes, off the vCPU threads; {@link #hold()} lets it serve
 * every chain made available so far and then stops it until {@link #proceed()}, so that a paused machine's devices
 * and RAM agree and hold still.
 */
public abstract sealed class VirtioMmio implements Device permits VirtioBlk, VirtioNet, VirtioRng {
    /** The size of a device's register window. */
    public static final long SIZE = 0x200;
    static final int MAGIC = 0x74726976, VERSION = 2, VENDOR = 0x4D564B4A; // "virt", virtio 1.x, "JKVM"
    static final long F_VERSION_1 = 1L << 32, F_EVENT_IDX = 1L << 29;
    static final int ACKNOWLEDGE = 1, DRIVER = 2, DRIVER_OK = 4, FEATURES_OK = 8, NEEDS_RESET = 64, FAILED = 128;
    static final int USED_BUFFER = 1, CONFIG_CHANGE = 2;

    /** The transport's part of a device's snapshot record: registers the driver set and each queue's state. */
    public record Transport(int status, long driverFeatures, int deviceFeaturesSel, int driverFeaturesSel, int queueSel,
                            int interruptStatus, List<Virtqueue.State> queues) {
    }

    private final String name;
    private final int deviceId;
    private final long features;
    protected final DmaMemory memory;
    private final InterruptLine irq;
    private final Consumer<String> trace;
    private final Virtqueue[] queues;
    private final Thread worker;

    // Guarded by this
    private int status, deviceFeaturesSel, driverFeaturesSel, queueSel, interruptStatus, pending;
    private long driverFeatures;
    private boolean busy, closed, held;

    /**
     * A device called {@code name} (its id, in messages) of virtio type {@code deviceId} offering {@code features}
     * (VERSION_1 and EVENT_IDX are added) with {@code queueCount} queues, its interrupt line {@code irq}.
     */
    protected VirtioMmio(String name, int deviceId, long features, int queueCount, DmaMemory memory, InterruptLine irq,
                         Consumer<String> trace) {
        this.name = name;
        this.deviceId = deviceId;
        this.features = features | F_VERSION_1 | F_EVENT_IDX;
        this.memory = memory;
        this.irq = irq;
        this.trace = trace;
        this.queues = new Virtqueue[queueCount];
        for (int i = 0; i < queueCount; i++) {
            queues[i] = new Virtqueue();
        }
        this.worker = Thread.ofPlatform().daemon().name(name).unstarted(this::work);
    }

    /** Starts the device's worker; once, after the machine has wired it. */
    public final void start() {
        worker.start();
    }

    public final String name() {
        return name;
    }

    /** Serves every chain the driver has made available on queue {@code index}, calling {@link #complete} for each. */
    protected abstract void serve(int index, Virtqueue queue);

    /** The device's configuration space, as the driver reads it from offset 0x100 (little-endian fields). */
    protected abstract byte[] config();

    /** {@code size} bytes of {@code config} at {@code offset}, little-endian; 0 past its end. */
    private static long configBytes(byte[] config, int offset, int size) {
        long v = 0;
        for (int i = size - 1; i >= 0; i--) {
            int at = offset + i;
            v = v << 8 | (at >= 0 && at < config.length ? config[at] & 0xFF : 0);
        }
        return v;
    }

    /** Hands {@code chain} back with {@code written} bytes written; true when the driver asked for an interrupt. */
    protected final boolean complete(Virtqueue queue, Virtqueue.Chain chain, int written) {
        return queue.complete(memory, chain, written);
    }

    /** Serves the available chains of queue {@code index}: takes them, {@code handler} answers each, until none is left. */
    protected final void drain(Virtqueue queue, java.util.function.ToIntFunction<Virtqueue.Chain> handler) {
        boolean interrupt = false;
        do {
            Virtqueue.Chain chain;
            while ((chain = queue.next(memory)) != null) {
                interrupt |= complete(queue, chain, handler.applyAsInt(chain));
            }
        } while (queue.armNotification(memory));
        if (interrupt) {
            raise(USED_BUFFER);
        }
    }

    // ---- the worker ----------------------------------------------------------------------------------------

    private void work() {
        while (true) {
            int work;
            synchronized (this) {
                while ((pending == 0 || held) && !closed) {
                    try {
                        wait();
                    } catch (InterruptedException e) {
                        return;
                    }
                }
                if (closed) {
                    return;
                }
                work = pending;
                pending = 0;
                busy = true;
            }
            try {
                for (int i = 0; i < queues.length; i++) {
                    if ((work & (1 << i)) != 0 && runnable(queues[i])) {
                        serve(i, queues[i]);
                    }
                }
            } catch (VirtioException e) {
                needsReset(e.getMessage());
            } finally {
                synchronized (this) {
                    busy = false;
                    notifyAll();
                }
            }
        }
    }

    private synchronized boolean runnable(Virtqueue q) {
        return (status & (DRIVER_OK | NEEDS_RESET)) == DRIVER_OK && q.ready;
    }

    /** The driver broke the protocol: one line, and the device stops until the driver resets it (spec 2.1.1). */
    private void needsReset(String why) {
        trace.accept("jkvm: " + name + ": " + why + ": the device stops until its driver resets it");
        synchronized (this) {
            status |= NEEDS_RESET;
        }
        raise(CONFIG_CHANGE);
    }

    /**
     * Stops the device's work while the machine is paused: what the driver gave it so far is served first, then
     * nothing (a frame from the TAP, a late notification) touches RAM or the image until {@link #proceed()}.
     */
    public final void hold() {
        quiesce();
        synchronized (this) {
            held = true;
        }
        quiesce(); // a notification that came in between is served before the hold counts
    }

    /** Lets the device work again after {@link #hold()}: what came meanwhile is served now. */
    public final synchronized void proceed() {
        held = false;
        notifyAll();
    }

    /** Waits until the worker has served every queue notification so far (none while held) and is idle. */
    public final synchronized void quiesce() {
        boolean interrupted = false;
        while ((busy || pending != 0 && !held) && !closed) {
            try {
                wait();
            } catch (InterruptedException e) {
                interrupted = true;
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }

    /** Ends the worker and lets the device go of what it holds on the host. */
    public final void close() {
        synchronized (this) {
            closed = true;
            notifyAll();
        }
        release();
    }

    /** What the device holds on the host (an image file, a TAP device), let go when the machine closes. */
    protected void release() {
    }

    /**
     * Lets go of what another machine must hold to take this device over (an image's lock, a TAP), while the machine
     * is paused and its state goes to a migration's destination; the device serves nothing until {@link #takeBack()}.
     */
    public void handOver() {
    }

    /** Holds again what {@link #handOver()} let go (the migration failed); false when another process took it meanwhile. */
    public boolean takeBack() {
        return true;
    }

    /** The offset of QueueNotify, the register a driver writes a queue's index to. */
    public static final int QUEUE_NOTIFY = 0x050;

    /** How many virtqueues the device has (their indexes are what a driver writes to {@link #QUEUE_NOTIFY}). */
    public final int queueCount() {
        return queues.length;
    }

    /** Whether the interrupt status has a bit set: the level the device holds its interrupt line at. */
    public final synchronized boolean interruptPending() {
        return interruptStatus != 0;
    }

    /**
     * Has the worker look at queue {@code index}, as the driver's write to QueueNotify does: a notification that came
     * another way (KVM's ioeventfd), or the device's own reason to look (a frame came in).
     */
    public final void kick(int index) {
        notifyQueue(index);
    }

    /** Raises the used-buffer interrupt (for a device that serves a queue with a loop of its own). */
    protected final void signalUsed() {
        raise(USED_BUFFER);
    }

    private synchronized void raise(int bits) {
        boolean was = interruptStatus != 0;
        interruptStatus |= bits;
        if (!was) {
            irq.raise();
        }
    }

    // ---- registers ------------------------------------------------------------------------------------------

    @Override
    public final synchronized long read(long offset, int size) {
        if (offset >= 0x100) {
            return configBytes(config(), (int) (offset - 0x100), size);
        }
        Virtqueue q = queueSel >= 0 && queueSel < queues.length ? queues[queueSel] : null;
        return switch ((int) offset) {
            case 0x000 -> MAGIC;
            case 0x004 -> VERSION;
            case 0x008 -> deviceId;
            case 0x00C -> VENDOR;
            case 0x010 -> deviceFeaturesSel == 0 ? features & 0xFFFFFFFFL : deviceFeaturesSel == 1 ? features >>> 32 : 0;
            case 0x034 -> q == null ? 0 : Virtqueue.MAX_SIZE;
            case 0x044 -> q != null && q.ready ? 1 : 0;
            case 0x060 -> interruptStatus;
            case 0x070 -> status;
            case 0x0B0, 0x0B4 -> 0xFFFFFFFFL; // no shared memory regions
            case 0x0FC -> 0; // the configuration never changes: generation 0
            default -> 0;
        };
    }

    @Override
    public final void write(long offset, int size, long value) {
        int v = (int) value;
        switch ((int) offset) {
            case QUEUE_NOTIFY -> notifyQueue(v);
            case 0x070 -> writeStatus(v);
            default -> writeRegister((int) offset, v);
        }
    }

    private synchronized void notifyQueue(int index) {
        if (index >= 0 && index < queues.length) {
            pending |= 1 << index;
            notifyAll();
        }
    }

    private synchronized void writeRegister(int offset, int v) {
        Virtqueue q = queueSel >= 0 && queueSel < queues.length ? queues[queueSel] : null;
        boolean configurable = q != null && !q.ready;
        if (q == null && offset >= 0x080 && offset <= 0x0A4) {
            return; // a ring address of a queue the device has not (QueueSel past the last)
        }
        switch (offset) {
            case 0x014 -> deviceFeaturesSel = v;
            case 0x020 -> {
                if ((status & FEATURES_OK) == 0 && driverFeaturesSel < 2) {
                    int shift = 32 * driverFeaturesSel;
                    driverFeatures = driverFeatures & ~(0xFFFFFFFFL << shift) | (Integer.toUnsignedLong(v) << shift);
                }
            }
            case 0x024 -> driverFeaturesSel = v;
            case 0x030 -> queueSel = v;
            case 0x038 -> {
                if (configurable) {
                    q.size = v;
                }
            }
            case 0x044 -> {
                if (q != null) {
                    setReady(q, v == 1);
                }
            }
            case 0x064 -> {
                interruptStatus &= ~v;
                if (interruptStatus == 0) {
                    irq.lower();
                }
            }
            case 0x080 -> q.desc = configurable ? low(q.desc, v) : q.desc;
            case 0x084 -> q.desc = configurable ? high(q.desc, v) : q.desc;
            case 0x090 -> q.driver = configurable ? low(q.driver, v) : q.driver;
            case 0x094 -> q.driver = configurable ? high(q.driver, v) : q.driver;
            case 0x0A0 -> q.device = configurable ? low(q.device, v) : q.device;
            case 0x0A4 -> q.device = configurable ? high(q.device, v) : q.device;
            default -> {
                // read-only registers and the configuration space: writes ignored
            }
        }
    }

    private static long low(long was, int v) {
        return was & ~0xFFFFFFFFL | Integer.toUnsignedLong(v);
    }

    private static long high(long was, int v) {
        return was & 0xFFFFFFFFL | (long) v << 32;
    }

    private void setReady(Virtqueue q, boolean ready) {
        if (!ready) {
            q.ready = false;
            return;
        }
        String why = q.unusable(memory);
        if (why != null) {
            needsReset("queue " + queueSel + ": " + why);
            return;
        }
        q.useEventIndex((driverFeatures & F_EVENT_IDX) != 0);
        q.ready = true;
    }

    /**
     * Called when the driver's features take effect: FEATURES_OK accepted, a reset (0), a restore. A device whose
     * host side works differently by them (a TAP's offloads) sets that up here.
     */
    protected void featuresAccepted(long accepted) {
    }

    private void writeStatus(int v) {
        if (v == 0) {
            quiesce(); // a chain being served finishes before the queues go
            synchronized (this) {
                status = 0;
                driverFeatures = 0;
                deviceFeaturesSel = driverFeaturesSel = queueSel = 0;
                pending = 0;
                for (Virtqueue q : queues) {
                    q.reset();
                }
                if (interruptStatus != 0) {
                    interruptStatus = 0;
                    irq.lower();
                }
            }
            featuresAccepted(0);
            return;
        }
        long accepted = -1;
        synchronized (this) {
            if ((v & FEATURES_OK) != 0 && (status & FEATURES_OK) == 0) {
                boolean acceptable = (driverFeatures & ~features) == 0 && (driverFeatures & F_VERSION_1) != 0;
                if (!acceptable) {
                    v &= ~FEATURES_OK; // the driver reads it back and gives up (spec 3.1.1)
                } else {
                    accepted = driverFeatures;
                }
            }
            status = v & 0xFF | status & NEEDS_RESET;
            if ((status & DRIVER_OK) != 0) {
                pending = (1 << queues.length) - 1; // look at every queue once: chains may be there already
                notifyAll();
            }
        }
        if (accepted >= 0) {
            featuresAccepted(accepted);
        }
    }

    // ---- state ----------------------------------------------------------------------------------------------

    /** The transport's record, once the worker is idle. */
    protected final Transport saveTransport() {
        quiesce();
        synchronized (this) {
            List<Virtqueue.State> qs = new ArrayList<>();
            for (Virtqueue q : queues) {
                qs.add(q.save());
            }
            return new Transport(status, driverFeatures, deviceFeaturesSel, driverFeaturesSel, queueSel, interruptStatus,
                    List.copyOf(qs));
        }
    }

    /** Why {@code t} cannot be this transport's, or null: checked before anything is restored. */
    protected final String invalid(Transport t) {
        if (t.queues() == null || t.queues().size() != queues.length) {
            return "it has " + (t.queues() == null ? 0 : t.queues().size()) + " queues, the device " + queues.length;
        }
        if ((t.driverFeatures() & ~features) != 0) {
            return String.format("its driver features 0x%x are not all offered (0x%x)", t.driverFeatures(), features);
        }
        for (int i = 0; i < queues.length; i++) {
            String why = Virtqueue.invalid(t.queues().get(i));
            if (why == null && t.queues().get(i).ready()) { // the worker reads a ready queue's rings without a check
                Virtqueue q = new Virtqueue();
                q.restore(t.queues().get(i));
                why = q.unusable(memory);
            }
            if (why != null) {
                return "queue " + i + ": " + why;
            }
        }
        return null;
    }

    /** Loads {@code t} (checked by {@link #invalid}) and looks at every ready queue once, as after a notification. */
    protected final void restoreTransport(Transport t) {
        quiesce();
        synchronized (this) {
            status = t.status();
            driverFeatures = t.driverFeatures();
            deviceFeaturesSel = t.deviceFeaturesSel();
            driverFeaturesSel = t.driverFeaturesSel();
            queueSel = t.queueSel();
            for (int i = 0; i < queues.length; i++) {
                queues[i].restore(t.queues().get(i));
                queues[i].useEventIndex((driverFeatures & F_EVENT_IDX) != 0);
            }
            boolean was = interruptStatus != 0;
            interruptStatus = t.interruptStatus();
            if (was != (interruptStatus != 0)) {
                irq.set(interruptStatus != 0);
            }
            if ((status & DRIVER_OK) != 0) {
                pending = (1 << queues.length) - 1;
                notifyAll();
            }
        }
        featuresAccepted((t.status() & FEATURES_OK) != 0 ? t.driverFeatures() : 0);
    }
}

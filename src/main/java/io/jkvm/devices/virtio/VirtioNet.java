package io.jkvm.devices.virtio;

import io.jkvm.devices.InterruptLine;
import io.jkvm.devices.Persist;
import io.jkvm.linux.LinuxException;
import io.jkvm.linux.Tap;

import java.nio.ByteBuffer;
import java.util.HexFormat;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.function.Consumer;
import java.util.function.Function;

/**
 * virtio-net (spec 5.1) on a host TAP device: queue 0 receives, queue 1 transmits; a MAC address and the link status
 * in the configuration space. Checksum and TCP segmentation offloads both ways: the 12-byte virtio_net_hdr_v1 goes
 * to and from the TAP as it is (the TAP speaks the same header), so a guest's unfinished packet (a checksum to fill,
 * a 64 KiB TCP segment to cut) is the host stack's to finish, and the TAP hands the guest unfinished packets as far
 * as the driver took them (TUNSETOFFLOAD from the accepted GUEST_ features). A thread of its own reads the TAP and
 * hands packets to the device's worker, which writes them into the driver's receive buffers; up to {@link #BACKLOG}
 * wait for buffers, and one past that, or larger than the buffer, is dropped (as a full NIC ring drops).
 */
public final class VirtioNet extends VirtioMmio implements Persist<VirtioNet.State> {
    /** The record: the transport's, the TAP's name (a restore attaches to the same one) and the MAC address. */
    public record State(Transport transport, String tap, String mac) {
    }

    static final long F_CSUM = 1, F_GUEST_CSUM = 1 << 1, F_MAC = 1 << 5, F_GUEST_TSO4 = 1 << 7, F_GUEST_TSO6 = 1 << 8,
            F_HOST_TSO4 = 1 << 11, F_HOST_TSO6 = 1 << 12, F_STATUS = 1L << 16;
    static final long OFFLOADS = F_CSUM | F_GUEST_CSUM | F_GUEST_TSO4 | F_GUEST_TSO6 | F_HOST_TSO4 | F_HOST_TSO6;
    static final int HEADER = Tap.VNET_HEADER, RX = 0, TX = 1, BACKLOG = 256;
    /** Field offsets in struct virtio_net_config (linux/virtio_net.h). */
    static final int CONFIG_MAC = 0, CONFIG_STATUS = 6, CONFIG_SIZE = 8, LINK_UP = 1;

    private final String tapName;
    private final byte[] mac;
    private final Function<String, Tap> opener;
    private final ArrayBlockingQueue<byte[]> received = new ArrayBlockingQueue<>(BACKLOG);
    private final byte[] transmitFrame = new byte[Tap.MAX_FRAME];
    private volatile Tap tap;
    /** The driver's accepted features (0 before FEATURES_OK): which offloads the TAP is told of, and the receive header. */
    private volatile long accepted;
    private Thread receiver;

    /**
     * The NIC {@code name} on the TAP {@code tapName}, attached through {@code opener} (here, so a TAP that cannot be
     * had fails the machine before it runs), with {@code mac} (6 bytes).
     */
    public VirtioNet(String name, String tapName, byte[] mac, Function<String, Tap> opener, DmaMemory memory,
                     InterruptLine irq, Consumer<String> trace) {
        super(name, 1, F_MAC | F_STATUS | OFFLOADS, 2, memory, irq, trace);
        this.tapName = tapName;
        this.mac = mac.clone();
        this.opener = opener;
        attach(opener.apply(tapName));
    }

    private void attach(Tap t) {
        t.setOffloads(tapOffloads(accepted));
        tap = t;
        receiver = Thread.ofPlatform().daemon().name(name() + "-rx").start(() -> receive(t));
    }

    /** The receiver: every frame from the TAP goes to the backlog (dropped when it is full), and the worker is woken. */
    private void receive(Tap t) {
        byte[] buffer = new byte[Tap.MAX_FRAME];
        while (true) {
            int n;
            try {
                n = t.receive(buffer);
            } catch (LinuxException e) {
                return; // the TAP went away (its interface was deleted): the NIC receives nothing more
            }
            if (n < 0) {
                return;
            }
            if (n <= HEADER) {
                continue; // no frame after the header: nothing to deliver
            }
            if (received.offer(java.util.Arrays.copyOf(buffer, n))) {
                kick(RX);
            }
        }
    }

    /** The TAP's offloads for the driver's features: what it may hand the guest unfinished. */
    static int tapOffloads(long features) {
        return ((features & F_GUEST_CSUM) != 0 ? Tap.TUN_F_CSUM : 0)
                | ((features & F_GUEST_TSO4) != 0 ? Tap.TUN_F_TSO4 : 0)
                | ((features & F_GUEST_TSO6) != 0 ? Tap.TUN_F_TSO6 : 0);
    }

    @Override
    protected void featuresAccepted(long features) {
        accepted = features;
        Tap t = tap;
        if (t != null) {
            try {
                t.setOffloads(tapOffloads(features));
            } catch (LinuxException e) {
                // the TAP went away: nothing reaches the guest from it any more either
            }
        }
    }

    /** A MAC address as {@code 52:54:00:12:34:56}. */
    public static String format(byte[] mac) {
        return HexFormat.ofDelimiter(":").formatHex(mac);
    }

    /** The MAC address and the link status (always up). */
    @Override
    protected byte[] config() {
        byte[] config = new byte[CONFIG_SIZE];
        System.arraycopy(mac, 0, config, CONFIG_MAC, 6);
        config[CONFIG_STATUS] = LINK_UP;
        return config;
    }

    @Override
    protected void serve(int index, Virtqueue queue) {
        if (index == TX) {
            drain(queue, this::transmit);
        } else {
            deliver(queue);
        }
    }

    /** Sends a transmit chain's packet (its header and frame) to the TAP; writes nothing back. */
    private int transmit(Virtqueue.Chain chain) {
        int length = 0;
        for (Virtqueue.Buffer b : chain.buffers()) {
            if (b.writable()) {
                throw new VirtioException("transmit chain " + chain.head() + " has a writable buffer");
            }
            int n = Math.min(b.length(), transmitFrame.length - length);
            memory.window(b.address(), n).get(transmitFrame, length, n);
            length += n;
        }
        Tap t = tap;
        if (length > HEADER && t != null) {
            try {
                t.send(transmitFrame, 0, length);
            } catch (LinuxException e) {
                // the TAP is down or gone: the frame is lost on the wire, as on a cable pulled out
            }
        }
        return 0;
    }

    /** Moves backlog frames into receive chains while both are there; a frame no chain can hold is dropped. */
    private void deliver(Virtqueue queue) {
        boolean used = false;
        while (!received.isEmpty()) {
            Virtqueue.Chain chain = queue.next(memory);
            if (chain == null) {
                if (queue.armNotification(memory)) {
                    continue; // the driver added buffers meanwhile
                }
                break; // the frames wait until the driver adds buffers and notifies
            }
            byte[] packet = received.poll();
            used |= complete(queue, chain, packet.length <= chain.writableBytes() ? write(chain, packet) : 0);
        }
        if (used) {
            signalUsed();
        }
    }

    /**
     * A packet from the TAP (header and frame) with num_buffers 1, spread over the chain's writable buffers; returns
     * the bytes written. A driver that took no checksum offload gets a zero header, as the spec asks of a device.
     */
    private int write(Virtqueue.Chain chain, byte[] packet) {
        ByteBuffer all = ByteBuffer.wrap(packet).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        if ((accepted & F_GUEST_CSUM) == 0) {
            java.util.Arrays.fill(packet, 0, HEADER, (byte) 0);
        }
        all.putShort(10, (short) 1);
        for (Virtqueue.Buffer b : chain.buffers()) {
            if (!all.hasRemaining()) {
                break;
            }
            if (b.writable()) {
                int n = Math.min(b.length(), all.remaining());
                memory.window(b.address(), n).put(all.array(), all.position(), n);
                memory.written(b.address(), n);
                all.position(all.position() + n);
            }
        }
        return packet.length;
    }

    @Override
    public void handOver() {
        quiesce();
        detach();
    }

    @Override
    public boolean takeBack() {
        if (tap != null) {
            return true;
        }
        try {
            attach(opener.apply(tapName));
            return true;
        } catch (RuntimeException e) {
            return false;
        }
    }

    private void detach() {
        Tap t = tap;
        if (t == null) {
            return;
        }
        tap = null;
        t.stop();
        try {
            receiver.join(2000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        t.close();
        received.clear();
    }

    @Override
    protected void release() {
        detach();
    }

    @Override
    public State save() {
        return new State(saveTransport(), tapName, format(mac));
    }

    @Override
    public void restore(State s) {
        String why = invalid(s.transport());
        if (why != null) {
            throw new IllegalArgumentException(name() + ": " + why);
        }
        if (!format(mac).equals(s.mac()) || !tapName.equals(s.tap())) {
            throw new IllegalArgumentException(name() + ": the record is for TAP " + s.tap() + " with MAC " + s.mac()
                    + ", this NIC is on " + tapName + " with " + format(mac));
        }
        restoreTransport(s.transport());
    }
}

package io.jkvm.linux;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;

/**
 * A TAP network device (linux/if_tun.h): Ethernet frames in and out, each after a virtio_net_hdr_v1 (which says
 * what offloads left for the other side to finish) and without the packet-information prefix. One
 * thread receives, blocking in poll(2) on the TAP and an eventfd that {@link #stop()} signals; one thread sends.
 */
public final class Tap implements AutoCloseable {
    /** struct ifreq (40 bytes): the interface name, then ifr_flags at 16 (TapLayoutTest checks both with gcc). */
    static final int IFREQ_SIZE = 40, IFR_FLAGS = 16, IFNAMSIZ = 16;
    /** TUNSETIFF = _IOW('T', 202, int); IFF_TAP, IFF_NO_PI and IFF_VNET_HDR. */
    static final long TUNSETIFF = 0x400454CAL;
    static final short IFF_TAP = 0x0002, IFF_NO_PI = 0x1000, IFF_VNET_HDR = 0x4000;
    /** TUNSETOFFLOAD = _IOW('T', 208, unsigned int), TUNSETVNETHDRSZ = _IOW('T', 216, int). */
    static final long TUNSETOFFLOAD = 0x400454D0L, TUNSETVNETHDRSZ = 0x400454D8L;
    /** What the TAP may hand this side unfinished (TUNSETOFFLOAD): a checksum to fill, TCP segments to cut. */
    public static final int TUN_F_CSUM = 0x01, TUN_F_TSO4 = 0x02, TUN_F_TSO6 = 0x04;
    /** The virtio_net_hdr_v1 that leads every frame both ways (flags, GSO type and sizes, checksum place, num_buffers). */
    public static final int VNET_HEADER = 12;
    private static final short POLLIN = 1;

    private final Fd fd;
    private final EventFd stop;
    private final String name;
    private final Arena arena = Arena.ofShared();
    private final MemorySegment receiveBuffer, sendBuffer, pollFds;

    private Tap(Fd fd, EventFd stop, String name) {
        this.fd = fd;
        this.stop = stop;
        this.name = name;
        this.receiveBuffer = arena.allocate(MAX_FRAME);
        this.sendBuffer = arena.allocate(MAX_FRAME);
        this.pollFds = arena.allocate(16, 8); // two struct pollfd: int fd, short events, short revents
    }

    /** The largest packet this side moves: the header and a 64 KiB frame (a TCP segment a guest or the host's stack left whole). */
    public static final int MAX_FRAME = VNET_HEADER + 65536 + 14;

    /** Whether a network interface called {@code name} exists on this host (in this network namespace). */
    public static boolean exists(String name) {
        return java.nio.file.Files.exists(java.nio.file.Path.of("/sys/class/net", name));
    }

    /** The ioctl an attached TAP still gets: the offloads the guest's driver negotiates. */
    public static java.util.List<Ioctl> ioctlsOnceAttached() {
        return java.util.List.of(new Ioctl("TUNSETOFFLOAD", TUNSETOFFLOAD));
    }

    /**
     * Attaches to the TAP device {@code name}: open /dev/net/tun, TUNSETIFF with IFF_TAP | IFF_NO_PI | IFF_VNET_HDR,
     * and a {@link #VNET_HEADER}-byte header before every frame (TUNSETVNETHDRSZ); no offloads until
     * {@link #setOffloads}. Throws a
     * {@link LinuxException} naming the call when it fails (EPERM without CAP_NET_ADMIN or the TAP's owner, EBUSY
     * when another process has it).
     */
    public static Tap open(String name) {
        byte[] bytes = name.getBytes(StandardCharsets.US_ASCII);
        if (bytes.length == 0 || bytes.length >= IFNAMSIZ) {
            throw new IllegalArgumentException("a network interface name has 1 to 15 characters: " + name);
        }
        Fd fd = Fd.open("/dev/net/tun", io.jkvm.linux.uapi.Uapi.O_RDWR());
        try (Arena a = Arena.ofConfined()) {
            MemorySegment ifreq = a.allocate(IFREQ_SIZE);
            MemorySegment.copy(bytes, 0, ifreq, ValueLayout.JAVA_BYTE, 0, bytes.length);
            ifreq.set(ValueLayout.JAVA_SHORT, IFR_FLAGS, (short) (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR));
            fd.ioctl(new Ioctl("TUNSETIFF " + name, TUNSETIFF), ifreq);
            MemorySegment size = a.allocate(ValueLayout.JAVA_INT);
            size.set(ValueLayout.JAVA_INT, 0, VNET_HEADER);
            fd.ioctl(new Ioctl("TUNSETVNETHDRSZ " + name, TUNSETVNETHDRSZ), size);
            fd.ioctl(new Ioctl("TUNSETOFFLOAD " + name, TUNSETOFFLOAD), 0L);
            return new Tap(fd, EventFd.create("TAP " + name + " stop"), name);
        } catch (RuntimeException e) {
            fd.close();
            throw e;
        }
    }

    public String name() {
        return name;
    }

    /**
     * TUNSETOFFLOAD: which unfinished packets ({@code TUN_F_*}) the TAP may hand this side, as the driver behind it
     * said it takes them; 0: only whole frames with their checksums, the host's stack finishing the rest.
     */
    public void setOffloads(int flags) {
        fd.ioctl(new Ioctl("TUNSETOFFLOAD " + name, TUNSETOFFLOAD), flags);
    }

    /**
     * Waits for the next frame and copies it into {@code into}; returns its length, or -1 once the TAP is closed.
     * Called by one thread at a time.
     */
    public int receive(byte[] into) {
        while (true) {
            pollFds.set(ValueLayout.JAVA_INT, 0, fd.value());
            pollFds.set(ValueLayout.JAVA_SHORT, 4, POLLIN);
            pollFds.set(ValueLayout.JAVA_SHORT, 6, (short) 0);
            pollFds.set(ValueLayout.JAVA_INT, 8, stop.fd().value());
            pollFds.set(ValueLayout.JAVA_SHORT, 12, POLLIN);
            pollFds.set(ValueLayout.JAVA_SHORT, 14, (short) 0);
            long r = Libc.syscallOrErrno(io.jkvm.linux.uapi.Uapi.SYS_poll(), pollFds.address(), 2, -1);
            if (r == -4) { // EINTR
                continue;
            }
            check(r, "poll");
            if (pollFds.get(ValueLayout.JAVA_SHORT, 14) != 0) {
                return -1; // closed
            }
            if (pollFds.get(ValueLayout.JAVA_SHORT, 6) == 0) {
                continue;
            }
            long n = readWrite(io.jkvm.linux.uapi.Uapi.SYS_read(), receiveBuffer, Math.min(into.length, MAX_FRAME));
            if (n == -11 || n == -4) { // EAGAIN, EINTR
                continue;
            }
            check(n, "read");
            MemorySegment.copy(receiveBuffer, ValueLayout.JAVA_BYTE, 0, into, 0, (int) n);
            return (int) n;
        }
    }

    /** Sends one frame: the {@code length} bytes of {@code frame} from {@code offset}. Called by one thread at a time. */
    public void send(byte[] frame, int offset, int length) {
        MemorySegment.copy(frame, offset, sendBuffer, ValueLayout.JAVA_BYTE, 0, length);
        long n;
        do {
            n = readWrite(io.jkvm.linux.uapi.Uapi.SYS_write(), sendBuffer, length);
        } while (n == -4);
        check(n, "write");
    }

    private long readWrite(int call, MemorySegment buffer, long length) {
        return Libc.syscallOrErrno(call, fd.value(), buffer.address(), length);
    }

    private void check(long r, String call) {
        if (r < 0) {
            throw new LinuxException(call + "(TAP " + name + ")", (int) -r);
        }
    }

    /** Wakes the receiving thread: its receive returns -1 from now on. */
    public void stop() {
        stop.signal();
    }

    /** Lets the TAP go (another process may attach to it); once no thread receives or sends any more. */
    @Override
    public void close() {
        fd.close();
        stop.close();
        arena.close();
    }
}

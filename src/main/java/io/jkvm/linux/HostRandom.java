package io.jkvm.linux;

import io.jkvm.linux.uapi.Uapi;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Random bytes from the kernel's pool, as /dev/urandom reads them (getrandom(2) with no flags: blocks only before the
 * pool is first seeded, at boot). Through syscall(2)'s shape: the JDK's SecureRandom initializes its security
 * providers first (some 14 ms of CPU at every launch) and opens /dev/urandom, which the sandbox then had to open ahead.
 */
public final class HostRandom {
    private HostRandom() {
    }

    /** Fills {@code into} with random bytes. */
    public static void fill(byte[] into) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment buffer = a.allocate(Math.max(1, into.length));
            long done = 0;
            while (done < into.length) {
                long r = Libc.syscallOrErrno(Uapi.SYS_getrandom(), buffer.address() + done, into.length - done, 0);
                if (r == -Uapi.EINTR()) {
                    continue;
                }
                if (r < 0) {
                    throw new LinuxException("getrandom", (int) -r);
                }
                done += r;
            }
            MemorySegment.copy(buffer, ValueLayout.JAVA_BYTE, 0, into, 0, into.length);
        }
    }

    /** Eight random bytes as a long. */
    public static long nextLong() {
        byte[] b = new byte[8];
        fill(b);
        return java.nio.ByteBuffer.wrap(b).getLong();
    }

    /** Four random bytes as an int. */
    public static int nextInt() {
        return (int) nextLong();
    }
}

package io.jkvm.linux;

import io.jkvm.linux.uapi.Uapi;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class LinuxLayerTest {

    @Test
    void openFailureNamesTheCallThePathAndStrerror() {
        LinuxException e = assertThrows(LinuxException.class, () -> Fd.open("/nonexistent/jkvm", Uapi.O_RDWR()));
        assertEquals(Uapi.ENOENT(), e.errno());
        assertEquals("open(/nonexistent/jkvm)", e.call());
        assertEquals("open(/nonexistent/jkvm): No such file or directory (errno 2)", e.getMessage());
    }

    @Test
    void ioctlFailureNamesTheIoctlAndTheDescriptor() throws Exception {
        Path file = Files.createTempFile("jkvm", ".txt");
        try (Fd fd = Fd.open(file.toString(), Uapi.O_RDWR())) {
            Ioctl request = new Ioctl("KVM_GET_API_VERSION", Uapi.KVM_GET_API_VERSION());
            LinuxException e = assertThrows(LinuxException.class, () -> fd.ioctl(request, 0L));
            assertTrue(e.getMessage().startsWith("ioctl(KVM_GET_API_VERSION) on " + file + ": Inappropriate ioctl for device"),
                    e.getMessage());
            assertEquals(-25, fd.ioctlOrErrno(request, 0L)); // ENOTTY
        } finally {
            Files.delete(file);
        }
    }

    /** An ioctl (a system call through syscall(2)'s shape) whose result the kernel writes where a pointer says. */
    @Test
    void anIoctlFillsTheMemoryItsPointerArgumentNames() throws Exception {
        Path file = Files.createTempFile("jkvm", ".bin");
        try (Fd fd = Fd.open(file.toString(), Uapi.O_RDWR()); java.lang.foreign.Arena arena = java.lang.foreign.Arena.ofConfined()) {
            Files.write(file, new byte[1234]);
            java.lang.foreign.MemorySegment available = arena.allocate(4);
            Ioctl fionread = new Ioctl("FIONREAD", 0x541B); // asm-generic/ioctls.h: the bytes left to read
            assertEquals(0, fd.ioctl(fionread, available));
            assertEquals(1234, available.get(java.lang.foreign.ValueLayout.JAVA_INT, 0));
        } finally {
            Files.delete(file);
        }
    }

    @Test
    void closeReleasesTheDescriptorAndAFailedCloseNamesIt() {
        Fd fd = Fd.open("/dev/null", Uapi.O_RDWR());
        Path link = Path.of("/proc/self/fd/" + fd.value());
        assertTrue(Files.exists(link, java.nio.file.LinkOption.NOFOLLOW_LINKS));
        fd.close();
        assertFalse(Files.exists(link, java.nio.file.LinkOption.NOFOLLOW_LINKS), "the descriptor is gone");
        LinuxException e = assertThrows(LinuxException.class, () -> Fd.adopt(fd.value(), "the closed one").close());
        assertTrue(e.getMessage().startsWith("close(the closed one): Bad file descriptor"), e.getMessage());
    }

    /** The host's CPUID and FXSAVE, run from their page of code, see what the kernel reports of this CPU. */
    @Test
    void hostCpuidAndFxsaveRunOnThisCpu() throws Exception {
        int[] leaf0 = HostCpu.cpuid(0, 0);
        String vendor = new String(java.nio.ByteBuffer.allocate(12).order(java.nio.ByteOrder.LITTLE_ENDIAN)
                .putInt(leaf0[1]).putInt(leaf0[3]).putInt(leaf0[2]).array(), java.nio.charset.StandardCharsets.US_ASCII);
        String cpuinfo = Files.readString(Path.of("/proc/cpuinfo"));
        assertTrue(cpuinfo.contains("vendor_id\t: " + vendor + "\n"), "CPUID.0 says " + vendor);
        assertTrue(leaf0[0] >= 0xD, "a CPU with XSAVE's leaf 0xD: " + leaf0[0]);
        assertEquals(leaf0[1], HostCpu.cpuid(0, 7)[1], "leaf 0 ignores the subleaf");
        byte[] image = HostCpu.fxsave();
        int mxcsr = java.nio.ByteBuffer.wrap(image, 24, 4).order(java.nio.ByteOrder.LITTLE_ENDIAN).getInt();
        assertEquals(0x1F80, mxcsr & 0xFFC0, "a Java thread's MXCSR: every exception masked, round to nearest");
        assertTrue((HostCpu.mxcsrMask() & 0xFFBF) == 0xFFBF, "MXCSR_MASK has at least the architectural default's bits");
    }

    @Test
    void closeIsIdempotent() throws Exception {
        Fd fd = Fd.open("/dev/null", Uapi.O_RDWR());
        fd.close();
        fd.close();
        assertTrue(fd.isClosed());
    }

    @Test
    void anonymousMappingIsZeroedReadableAndWritable() {
        try (Mapping m = Mapping.anonymous(3 * 4096, "test")) {
            assertEquals(3 * 4096, m.size());
            assertEquals(0, m.getLong(8192));
            m.putLong(4095, 0x1122334455667788L); // unaligned, across a page boundary
            assertEquals(0x1122334455667788L, m.getLong(4095));
            assertEquals((byte) 0x88, m.getByte(4095));
            m.putInt(100, -2);
            assertEquals(-2, m.getInt(100));
            m.putShort(200, (short) 0xBEEF);
            assertEquals((short) 0xBEEF, m.getShort(200));
            byte[] bytes = {1, 2, 3};
            m.write(300, bytes, 0, 3);
            byte[] back = new byte[3];
            m.read(300, back, 0, 3);
            assertEquals(3, back[2]);
            m.fill(300, 3, (byte) 9);
            assertEquals(9, m.getByte(302));
            assertTrue(m.address() != 0);
            assertThrows(IndexOutOfBoundsException.class, () -> m.getLong(3 * 4096 - 4));
        }
    }

    @Test
    void aPagesHostAddressReachesItsBytesWithTheUncheckedAccessors() {
        try (Mapping m = Mapping.anonymous(3 * 4096, "test")) {
            long page = m.pageAddress(4096);
            assertEquals(m.address() + 4096, page);
            m.putLong(4096 + 8, 0x1122334455667788L);
            assertEquals(List.of(0x88L, 0x7788L, 0x55667788L, 0x1122334455667788L),
                    List.of(m.getAt(page + 8, 1), m.getAt(page + 8, 2), m.getAt(page + 8, 4), m.getAt(page + 8, 8)));
            m.putAt(page + 100, 2, 0xFFFF_BEEF);
            m.putAt(page + 200, 8, -2);
            assertEquals(List.of((short) 0xBEEF, 0L, -2L), List.of(m.getShort(4096 + 100), (long) m.getByte(4096 + 102),
                    m.getLong(4096 + 200)), "a 2-byte store wrote two bytes");
            assertThrows(IndexOutOfBoundsException.class, () -> m.pageAddress(2 * 4096 + 1), "a page past the end");
        }
    }

    @Test
    void holdsComparesEveryByteOfArraysOfEachLength() {
        try (Mapping m = Mapping.anonymous(2 * 4096, "test")) {
            byte[] code = new byte[40];
            for (int i = 0; i < code.length; i++) {
                code[i] = (byte) (0x90 + i * 7);
            }
            m.write(4096 - 20, code, 0, code.length); // across a page boundary, at an offset no word is aligned to
            for (int n = 0; n <= code.length; n++) {
                byte[] expected = java.util.Arrays.copyOf(code, n);
                assertTrue(m.holds(4096 - 20, expected), n + " bytes");
                for (int at = 0; at < n; at++) { // a difference in any byte, in the words or the tail
                    expected[at] ^= 0x40;
                    assertFalse(m.holds(4096 - 20, expected), n + " bytes, byte " + at + " differs");
                    expected[at] ^= 0x40;
                }
            }
            assertThrows(IndexOutOfBoundsException.class, () -> m.holds(2 * 4096 - 4, new byte[8]), "past the end");
        }
    }

    @Test
    void hugeMappingFailsWithMmapNamed() {
        LinuxException e = assertThrows(LinuxException.class, () -> Mapping.anonymous(1L << 62, "too big"));
        assertTrue(e.getMessage().startsWith("mmap(too big, "), e.getMessage());
    }

    @Test
    void eventFdOpensAndCloses() {
        EventFd e = EventFd.create("test eventfd");
        assertTrue(e.fd().value() >= 0);
        e.close();
        assertTrue(e.fd().isClosed());
    }

    @Test
    void kickingAThreadOutsideABlockingCallIsHarmless() throws Exception {
        NativeThread self = NativeThread.current();
        assertDoesNotThrow(self::kick); // SIGPIPE: the JVM's handler ignores it
        AtomicReference<Throwable> failure = new AtomicReference<>();
        AtomicBoolean ranOn = new AtomicBoolean();
        Thread t = Thread.ofPlatform().start(() -> {
            try {
                NativeThread.current().kick();
                ranOn.set(true);
            } catch (Throwable e) {
                failure.set(e);
            }
        });
        t.join();
        assertNull(failure.get(), "kicking itself");
        assertTrue(ranOn.get(), "the kicked thread went on after the signal");
    }

    /** The kernel's entropy: every byte of a buffer written (two 64 KiB draws differ), and an empty one asks nothing. */
    @Test
    void hostRandomFillsWholeBuffers() {
        byte[] a = new byte[65536];
        byte[] b = new byte[65536];
        HostRandom.fill(a);
        HostRandom.fill(b);
        assertFalse(java.util.Arrays.equals(a, b));
        int zeros = 0;
        for (int i = 32768; i < a.length; i++) {
            zeros += a[i] == 0 ? 1 : 0;
        }
        assertTrue(zeros < 300, zeros + " zero bytes in the buffer's second half: not written"); // 128 expected
        assertDoesNotThrow(() -> HostRandom.fill(new byte[0]));
        assertTrue(HostRandom.nextLong() != HostRandom.nextLong() || HostRandom.nextLong() != HostRandom.nextLong());
    }

    /** A vCPU thread kicked as the machine stops may have ended: nothing to interrupt, no error (as pthread_kill). */
    @Test
    void kickingAThreadThatHasEndedIsANoOp() throws Exception {
        AtomicReference<NativeThread> ended = new AtomicReference<>();
        Thread t = Thread.ofPlatform().start(() -> ended.set(NativeThread.current()));
        t.join();
        for (int i = 0; i < 100 && taskAlive(ended.get()); i++) {
            Thread.sleep(10); // join returns as the Java thread ends; its kernel thread may linger a moment
        }
        assertDoesNotThrow(ended.get()::kick);
    }

    private static boolean taskAlive(NativeThread t) {
        return java.nio.file.Files.exists(java.nio.file.Path.of("/proc/self/task", Long.toString(t.tid())));
    }

    @Test
    void guestXsavePermissionIncludesTheLegacyComponents() {
        long mask = ArchPrctl.guestPermission();
        assertEquals(0x3, mask & 0x3, "x87 and SSE are always permitted");
    }
}

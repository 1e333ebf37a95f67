package io.jkvm.linux;

import io.jkvm.linux.uapi.Uapi;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Libc's own descriptors (it links without initializing jextract's holders) are the generated bindings', and what goes
 * through syscall(2)'s shape works.
 */
class LibcTest {
    @Test
    void eachDescriptorIsJextractsAndEachSymbolJextractsAddress() {
        // the default lookup, which Libc takes its addresses from, finds libc's functions where jextract's lookup does
        assertEquals(Uapi.mmap$address(), Linker.nativeLinker().defaultLookup().findOrThrow("mmap"));
        assertEquals(Uapi.getpwnam$address(), Linker.nativeLinker().defaultLookup().findOrThrow("getpwnam"));
    }

    /**
     * glibc's functions through syscall(2)'s shape: getpwnam's string argument and pointer result (an absent user, a
     * null one), and the user ids as system calls, against this process's /proc status.
     */
    @Test
    void glibcsFunctionsAndTheUserIdsGoThroughTheSyscallShape() throws Exception {
        assertEquals(Optional.of(new Credentials.User("root", 0, 0)), Credentials.lookup("root"));
        assertEquals(Optional.empty(), Credentials.lookup("no-such-user-of-jkvm"));
        String uids = Files.readAllLines(Path.of("/proc/self/status")).stream().filter(l -> l.startsWith("Uid:"))
                .findFirst().orElseThrow(); // Uid: real effective saved filesystem
        String[] ids = uids.substring(4).strip().split("\\s+");
        assertEquals(Integer.parseInt(ids[0]), Credentials.realUid());
        assertEquals(Integer.parseInt(ids[1]), Credentials.effectiveUid());
    }

    /** The one system-call shape: a result, -1 with errno, and a buffer passed as its address that the kernel fills. */
    @Test
    void theSyscallShapeReturnsResultsErrnoAndFillsBuffersByAddress() {
        MemorySegment state = Libc.callState();
        assertEquals(ProcessHandle.current().pid(), Libc.syscall(state, Uapi.SYS_getpid(), 0, 0, 0));
        assertEquals(-1, Libc.syscall(state, Uapi.SYS_close(), -1, 0, 0));
        assertEquals(9, Libc.errno(state), "EBADF");
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment utsname = arena.allocate(6 * 65); // struct utsname: six 65-byte strings, sysname first
            assertEquals(0, Libc.syscall(state, Uapi.SYS_uname(), utsname.address(), 0, 0));
            assertEquals("Linux", utsname.getString(0));
        }
    }

    /**
     * Once a launch declines the critical ioctl's link, a quick ioctl goes through syscall(2)'s shape without linking
     * it, and answers as the critical downcall does (FIONREAD on a regular file: the bytes to its end; TCGETS on it:
     * ENOTTY).
     */
    @Test
    void aQuickIoctlAnswersAlikeWhenTheCriticalDowncallIsDeclined() throws Throwable {
        Path file = Files.createTempFile("jkvm-libc", ".bin");
        try {
            Files.write(file, new byte[5]);
            Ioctl fionread = Ioctl.quick("FIONREAD", 0x541B), tcgets = Ioctl.quick("TCGETS", 0x5401);
            try (Fd fd = Fd.open(file.toString(), 0); Arena arena = Arena.ofConfined()) {
                MemorySegment bytes = arena.allocate(256);
                boolean linkedBefore = Libc.criticalIoctlLinked();
                Libc.CriticalLink.decline();
                assertEquals(0, fd.ioctlOrErrno(fionread, bytes));
                assertEquals(5, bytes.get(java.lang.foreign.ValueLayout.JAVA_INT, 0));
                assertEquals(-25, fd.ioctlOrErrno(tcgets, bytes), "ENOTTY");
                assertEquals(linkedBefore, Libc.criticalIoctlLinked(), "declined, the shape is not linked by its use");

                bytes.fill((byte) 0);
                MemorySegment state = Libc.callState();
                assertEquals(0, (int) Libc.IoctlLongCritical.HANDLE.invokeExact(state, fd.value(), fionread.number(), bytes.address()));
                assertEquals(5, bytes.get(java.lang.foreign.ValueLayout.JAVA_INT, 0));
                assertEquals(-1, (int) Libc.IoctlLongCritical.HANDLE.invokeExact(state, fd.value(), tcgets.number(), bytes.address()));
                assertEquals(25, Libc.errno(state), "ENOTTY");
            }
        } finally {
            Files.deleteIfExists(file);
        }
    }
}

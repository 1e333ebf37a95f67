package io.jkvm.linux;

import io.jkvm.linux.uapi.Uapi;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** Libc's own descriptors (it links without initializing jextract's holders) are the generated bindings'. */
class LibcTest {
    @Test
    void eachDescriptorIsJextractsAndEachSymbolJextractsAddress() {
        assertEquals(Uapi.setuid$descriptor(), Libc.Setuid.DESCRIPTOR);
        assertEquals(Uapi.setgid$descriptor(), Libc.Setgid.DESCRIPTOR);
        assertEquals(Uapi.setgroups$descriptor(), Libc.Setgroups.DESCRIPTOR);
        assertEquals(Uapi.getpwnam$descriptor(), Libc.Getpwnam.DESCRIPTOR);
        assertEquals(Uapi.pthread_self$descriptor(), Libc.PthreadSelf.DESCRIPTOR);
        assertEquals(Uapi.pthread_kill$descriptor(), Libc.PthreadKill.DESCRIPTOR);
        // the default lookup, which Libc takes its addresses from, finds libc's functions where jextract's lookup does
        assertEquals(Uapi.mmap$address(), Linker.nativeLinker().defaultLookup().findOrThrow("mmap"));
        assertEquals(Uapi.getpwnam$address(), Linker.nativeLinker().defaultLookup().findOrThrow("getpwnam"));
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
}

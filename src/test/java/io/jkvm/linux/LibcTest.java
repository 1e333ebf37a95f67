package io.jkvm.linux;

import io.jkvm.linux.uapi.Uapi;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Linker;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** Libc's own descriptors (it links without initializing jextract's holders) are the generated bindings'. */
class LibcTest {
    @Test
    void eachDescriptorIsJextractsAndEachSymbolJextractsAddress() {
        assertEquals(Uapi.close$descriptor(), Libc.Close.DESCRIPTOR);
        assertEquals(Uapi.mmap$descriptor(), Libc.Mmap.DESCRIPTOR);
        assertEquals(Uapi.munmap$descriptor(), Libc.Munmap.DESCRIPTOR);
        assertEquals(Uapi.eventfd$descriptor(), Libc.Eventfd.DESCRIPTOR);
        assertEquals(Uapi.lseek$descriptor(), Libc.Lseek.DESCRIPTOR);
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
}

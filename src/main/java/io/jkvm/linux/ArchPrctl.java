package io.jkvm.linux;

import io.jkvm.linux.uapi.Uapi;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/** arch_prctl(2) requests for dynamically enabled XSAVE features (AMX tile data for guests). */
public final class ArchPrctl {
    private ArchPrctl() {
    }

    /** ARCH_REQ_XCOMP_GUEST_PERM: lets this process's guests use an XSAVE feature such as XTILEDATA (18). */
    public static void requestGuestPermission(int xfeature) {
        MemorySegment state = Libc.callState();
        long r = Libc.syscall(state, Uapi.SYS_arch_prctl(), Uapi.ARCH_REQ_XCOMP_GUEST_PERM(), xfeature, 0);
        if (r < 0) {
            throw new LinuxException("arch_prctl(ARCH_REQ_XCOMP_GUEST_PERM, " + xfeature + ")", Libc.errno(state));
        }
    }

    /** ARCH_GET_XCOMP_GUEST_PERM: the XSAVE feature mask guests of this process may use. */
    public static long guestPermission() {
        return getMask(Uapi.ARCH_GET_XCOMP_GUEST_PERM(), "ARCH_GET_XCOMP_GUEST_PERM");
    }

    /** ARCH_GET_XCOMP_SUPP: the XSAVE features the kernel supports on this CPU, dynamic ones (AMX) included. */
    public static long supportedFeatures() {
        return getMask(Uapi.ARCH_GET_XCOMP_SUPP(), "ARCH_GET_XCOMP_SUPP");
    }

    private static long getMask(int code, String name) {
        MemorySegment state = Libc.callState();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment mask = arena.allocate(ValueLayout.JAVA_LONG);
            long r = Libc.syscall(state, Uapi.SYS_arch_prctl(), code, mask.address(), 0);
            if (r < 0) {
                throw new LinuxException("arch_prctl(" + name + ")", Libc.errno(state));
            }
            return mask.get(ValueLayout.JAVA_LONG, 0);
        } catch (LinuxException e) {
            throw e;
        } catch (Throwable t) {
            throw Libc.linkageBroken(t);
        }
    }
}

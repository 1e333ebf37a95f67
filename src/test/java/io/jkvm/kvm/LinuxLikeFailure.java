package io.jkvm.kvm;

import io.jkvm.linux.LinuxException;
import org.junit.jupiter.api.function.Executable;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Asserts a call fails with a {@link LinuxException} that names the ioctl. */
final class LinuxLikeFailure {
    private LinuxLikeFailure() {
    }

    static void assertNamesIoctl(Executable call, String ioctl) {
        LinuxException e = assertThrows(LinuxException.class, call);
        assertTrue(e.getMessage().startsWith("ioctl(" + ioctl + ")"), e.getMessage());
    }
}

package io.jkvm.linux;

/** A failed system call: names the call (and the ioctl, when it is one) and carries errno with its strerror text. */
public final class LinuxException extends RuntimeException {
    private final String call;
    private final int errno;

    public LinuxException(String call, int errno) {
        super(call + ": " + Libc.strerror(errno) + " (errno " + errno + ")");
        this.call = call;
        this.errno = errno;
    }

    /** The call that failed, e.g. {@code open(/dev/kvm)} or {@code ioctl(KVM_RUN)}. */
    public String call() {
        return call;
    }

    public int errno() {
        return errno;
    }
}

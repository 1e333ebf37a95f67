package io.jkvm.bench;

import com.sun.jna.Memory;
import com.sun.jna.Native;
import com.sun.jna.Pointer;

/** The peer: the same KVM calls through JNA direct mapping, with its own /dev/kvm, VM and vCPU fds. */
final class JnaKvm implements AutoCloseable {
    static {
        Native.register("c");
    }

    static native int open(String path, int flags);

    static native int close(int fd);

    static native int ioctl(int fd, long request, long arg);

    static native int ioctl(int fd, long request, Pointer arg);

    private static final int O_RDWR = 2;
    static final long KVM_CHECK_EXTENSION = 0xAE03;
    static final long KVM_CREATE_VM = 0xAE01;
    static final long KVM_CREATE_VCPU = 0xAE41;
    static final long KVM_GET_REGS = 0x8090AE81L;
    static final int KVM_CAP_XSAVE2 = 208;

    final int kvm;
    final int vm;
    final int vcpu;
    final Memory regs = new Memory(144); // struct kvm_regs

    JnaKvm() {
        kvm = open("/dev/kvm", O_RDWR);
        vm = ioctl(kvm, KVM_CREATE_VM, 0L);
        vcpu = ioctl(vm, KVM_CREATE_VCPU, 0L);
        if (kvm < 0 || vm < 0 || vcpu < 0) {
            throw new IllegalStateException("JNA could not set up a vCPU: " + Native.getLastError());
        }
    }

    int checkExtension() {
        return ioctl(kvm, KVM_CHECK_EXTENSION, KVM_CAP_XSAVE2);
    }

    /** KVM_GET_REGS and RIP out of the struct (offset 128), as jkvm reads every field. */
    long getRegsRip() {
        if (ioctl(vcpu, KVM_GET_REGS, regs) < 0) {
            throw new IllegalStateException("KVM_GET_REGS failed: " + Native.getLastError());
        }
        long sum = 0;
        for (int i = 0; i < 18; i++) {
            sum += regs.getLong(i * 8L);
        }
        return sum;
    }

    @Override
    public void close() {
        close(vcpu);
        close(vm);
        close(kvm);
    }
}

package io.jkvm.kvm;

import io.jkvm.linux.ArchPrctl;
import io.jkvm.linux.Fd;
import io.jkvm.linux.LinuxException;
import io.jkvm.linux.uapi.Uapi;
import io.jkvm.linux.uapi.kvm_msr_list;
import io.jkvm.x86.CpuFeature;
import io.jkvm.x86.CpuidEntry;
import io.jkvm.x86.CpuidTable;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.function.ToIntFunction;

/** The KVM system fd (/dev/kvm): API version, capabilities, what the host supports, and VM creation. */
public final class Kvm implements AutoCloseable {
    public static final String DEFAULT_PATH = "/dev/kvm";
    /** The only KVM API version there has ever been; anything else is not a KVM we know. */
    public static final int API_VERSION = 12;
    private static final int MAX_CPUID_ENTRIES = 4096;
    private static final int EBUSY = 16;

    private final Fd fd;

    private Kvm(Fd fd) {
        this.fd = fd;
    }

    /** The KVM ioctls jkvm issues on the system, VM and vCPU fds, KVM_RUN first. */
    public static java.util.List<io.jkvm.linux.Ioctl> ioctlsIssued() {
        java.util.List<io.jkvm.linux.Ioctl> all = new java.util.ArrayList<>(Ioctls.all());
        all.remove(Ioctls.RUN);
        all.addFirst(Ioctls.RUN);
        return all;
    }

    public static Kvm open() {
        return open(DEFAULT_PATH);
    }

    /** Opens the KVM device and checks the API version; failures say what to do. */
    public static Kvm open(String path) {
        Fd fd;
        try {
            fd = Fd.open(path, Uapi.O_RDWR());
        } catch (LinuxException e) {
            throw openFailure(path, e);
        }
        Kvm kvm = new Kvm(fd);
        try {
            int version;
            try {
                version = kvm.apiVersion();
            } catch (LinuxException e) {
                throw new KvmException(path + " is not a KVM device (" + e.getMessage() + "): pass the KVM device, normally /dev/kvm", e);
            }
            verify(path, version, kvm::checkExtension);
            return kvm;
        } catch (RuntimeException e) {
            fd.close();
            throw e;
        }
    }

    /** Refuses a KVM whose API version is not 12 or that lacks a capability jkvm cannot do without. */
    static void verify(String path, int apiVersion, ToIntFunction<Capability> probe) {
        if (apiVersion != API_VERSION) {
            throw new KvmException(path + " speaks KVM API version " + apiVersion + ", jkvm needs " + API_VERSION
                    + ": use a Linux kernel with standard KVM");
        }
        for (Capability c : Capability.values()) {
            if (c.required() && probe.applyAsInt(c) <= 0) {
                throw new KvmException("KVM at " + path + " lacks " + c.uapiName()
                        + ", which jkvm needs: use a newer Linux kernel");
            }
        }
    }

    private static KvmException openFailure(String path, LinuxException e) {
        int errno = e.errno();
        if (errno == Uapi.ENOENT() || errno == Uapi.ENXIO()) {
            return new KvmException(path + " does not exist: enable KVM on the host (modprobe kvm_intel or kvm_amd, "
                    + "virtualization on in the firmware) or pass --device /dev/kvm to the container", e);
        }
        if (errno == Uapi.EACCES() || errno == Uapi.EPERM()) {
            return new KvmException("no permission to open " + path + ": run as root, add the user to the kvm group, "
                    + "or pass --device /dev/kvm to the container", e);
        }
        return new KvmException("cannot open " + path + ": " + e.getMessage(), e);
    }

    public int apiVersion() {
        return fd.ioctl(Ioctls.GET_API_VERSION, 0L);
    }

    /** KVM_CHECK_EXTENSION on the system fd: 0 when absent, else 1 or a capability-specific value. */
    public int checkExtension(Capability capability) {
        return fd.ioctl(Ioctls.CHECK_EXTENSION, capability.number());
    }

    /** Size of the kvm_run region each vCPU fd maps. */
    public int vcpuMmapSize() {
        return fd.ioctl(Ioctls.GET_VCPU_MMAP_SIZE, 0L);
    }

    /** XSAVE component of AMX tile data: the dynamic feature guests need permission for. */
    public static final int XFEATURE_XTILEDATA = 18;

    /**
     * Asks the kernel to let this process's guests use AMX tile data, where the CPU has it (amx_test.c's order:
     * before the VM, its vCPUs and the supported-CPUID read, which only then reports AMX). Returns whether AMX
     * is permitted. The kernel locks guest permissions once the process has created a vCPU (EBUSY): asked that
     * late, AMX stays as it was, without an error.
     */
    public static boolean permitDynamicXsaveFeatures() {
        long xtiledata = 1L << XFEATURE_XTILEDATA;
        if ((ArchPrctl.supportedFeatures() & xtiledata) == 0) {
            return false;
        }
        if ((ArchPrctl.guestPermission() & xtiledata) != 0) {
            return true;
        }
        try {
            ArchPrctl.requestGuestPermission(XFEATURE_XTILEDATA);
        } catch (LinuxException e) {
            if (e.errno() == EBUSY) {
                return false;
            }
            throw e;
        }
        return (ArchPrctl.guestPermission() & xtiledata) != 0;
    }

    /**
     * Initializes jextract's bindings of a vCPU's special registers and run area, as the first KVM vCPU made in a
     * process would: kvm_sregs's descriptor tables and interrupt bitmap are arrays, each an indexed var handle whose
     * first spin is some 20 ms (a start-ahead thread does it while the main thread parses and makes the machine).
     */
    public static void prepareVcpuBindings() {
        io.jkvm.linux.uapi.kvm_sregs.layout(); // a static method's call initializes its class
        io.jkvm.linux.uapi.kvm_run.layout();
    }

    /**
     * What KVM gives a guest on this host: its supported CPUID and the TSC-deadline timer of its in-kernel local APIC,
     * which KVM reports as a capability (KVM_CAP_TSC_DEADLINE_TIMER, on every kernel with KVM_CAP_XSAVE2) rather than a
     * supported-CPUID bit, whatever the CPU has (as QEMU adds it). The host model is made from this.
     */
    public CpuidTable guestCpuid() {
        return supportedCpuid().withFeature(CpuFeature.TSC_DEADLINE, true);
    }

    /** Every CPUID leaf KVM can expose to a guest on this host (KVM_GET_SUPPORTED_CPUID). */
    public CpuidTable supportedCpuid() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment cpuid = CpuidMarshal.allocate(arena, MAX_CPUID_ENTRIES);
            fd.ioctl(Ioctls.GET_SUPPORTED_CPUID, cpuid);
            return CpuidMarshal.read(cpuid);
        }
    }

    /** The MSR indices KVM saves and restores (KVM_GET_MSR_INDEX_LIST), asked twice: once for the count. */
    public int[] msrIndexList() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment probe = arena.allocate(kvm_msr_list.layout());
            int r = fd.ioctlOrErrno(Ioctls.GET_MSR_INDEX_LIST, probe);
            int n = kvm_msr_list.nmsrs(probe);
            if (r < 0 && -r != Uapi.E2BIG()) {
                throw new LinuxException("ioctl(KVM_GET_MSR_INDEX_LIST) on " + fd.name(), -r);
            }
            MemorySegment list = arena.allocate(kvm_msr_list.sizeof() + 4L * n, 8);
            kvm_msr_list.nmsrs(list, n);
            fd.ioctl(Ioctls.GET_MSR_INDEX_LIST, list);
            int count = kvm_msr_list.nmsrs(list);
            int[] out = new int[count];
            MemorySegment.copy(list, ValueLayout.JAVA_INT, kvm_msr_list.indices$offset(), out, 0, count);
            return out;
        }
    }

    /** Creates a VM (machine type 0, the default x86 VM). */
    public Vm createVm() {
        int vmFd = fd.ioctl(Ioctls.CREATE_VM, 0L);
        return new Vm(this, Fd.adopt(vmFd, "KVM VM fd"));
    }

    Fd fd() {
        return fd;
    }

    @Override
    public void close() {
        fd.close();
    }

    static int cpuidCapacity() {
        return MAX_CPUID_ENTRIES;
    }
}

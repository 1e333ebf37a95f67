package io.jkvm.kvm;

import io.jkvm.linux.EventFd;
import io.jkvm.linux.Fd;
import io.jkvm.linux.LinuxException;
import io.jkvm.linux.uapi.Uapi;
import io.jkvm.linux.uapi.kvm_clear_dirty_log;
import io.jkvm.linux.uapi.kvm_clock_data;
import io.jkvm.linux.uapi.kvm_dirty_log;
import io.jkvm.linux.uapi.kvm_enable_cap;
import io.jkvm.linux.uapi.kvm_ioeventfd;
import io.jkvm.linux.uapi.kvm_irq_level;
import io.jkvm.linux.uapi.kvm_irqfd;
import io.jkvm.linux.uapi.kvm_irq_routing;
import io.jkvm.linux.uapi.kvm_irq_routing_entry;
import io.jkvm.linux.uapi.kvm_irq_routing_irqchip;
import io.jkvm.linux.uapi.kvm_pit_config;
import io.jkvm.linux.uapi.kvm_userspace_memory_region;

import io.jkvm.x86.CpuidTable;
import io.jkvm.x86.XsaveLayout;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * A KVM VM fd: memory slots with their dirty page logs, vCPUs, and the in-kernel interrupt controller and timer
 * when asked.
 */
public final class Vm implements AutoCloseable {
    private static final int MEM_READONLY = 2; // KVM_MEM_READONLY

    /** A memory slot as last set with KVM_SET_USER_MEMORY_REGION. */
    private record Region(long guestPhysical, long size, long hostAddress, int flags) {
        boolean logging() {
            return (flags & Uapi.KVM_MEM_LOG_DIRTY_PAGES()) != 0;
        }
    }

    private final Kvm kvm;
    private final Fd fd;
    private final int vcpuMmapSize;
    private final List<KvmVcpu> vcpus = new ArrayList<>();
    private final Map<Integer, Region> regions = new ConcurrentHashMap<>();
    private volatile long manualDirtyLogProtect;
    private volatile boolean irqchip;
    private volatile CpuidTable hostCpuid;
    private volatile XsaveLayout hostLayout;
    private volatile int[] stateMsrs;

    Vm(Kvm kvm, Fd fd) {
        this.kvm = kvm;
        this.fd = fd;
        this.vcpuMmapSize = kvm.vcpuMmapSize();
    }

    public Kvm kvm() {
        return kvm;
    }

    /**
     * What KVM supports on this host, read once per VM. Dynamic XSAVE features (AMX) appear only after the process
     * asked for them ({@link io.jkvm.linux.ArchPrctl#requestGuestPermission}), so ask before creating the VM.
     */
    public CpuidTable hostCpuid() {
        CpuidTable t = hostCpuid;
        if (t == null) {
            t = kvm.supportedCpuid();
            hostCpuid = t;
        }
        return t;
    }

    /** The standard-format XSAVE layout of KVM's buffers on this host (offsets from the host's CPUID leaf 0xD). */
    public XsaveLayout hostLayout() {
        XsaveLayout l = hostLayout;
        if (l == null) {
            l = XsaveLayout.fromCpuid(hostCpuid());
            hostLayout = l;
        }
        return l;
    }

    /** The state MSRs ({@link io.jkvm.x86.Msrs#vcpuState()}) this host's KVM lists, asked once per VM. */
    int[] stateMsrs() {
        int[] m = stateMsrs;
        if (m == null) {
            java.util.Set<Integer> listed = new java.util.HashSet<>();
            for (int i : kvm.msrIndexList()) {
                listed.add(i);
            }
            m = java.util.Arrays.stream(io.jkvm.x86.Msrs.vcpuState()).filter(listed::contains).toArray();
            stateMsrs = m;
        }
        return m;
    }

    /** The state MSRs a vCPU of {@code model} carries here: the model's ({@link io.jkvm.x86.Msrs#vcpuState(CpuidTable)}) that KVM lists. */
    int[] stateMsrs(CpuidTable model) {
        java.util.Set<Integer> listed = new java.util.HashSet<>();
        for (int i : stateMsrs()) {
            listed.add(i);
        }
        return java.util.Arrays.stream(io.jkvm.x86.Msrs.vcpuState(model)).filter(listed::contains).toArray();
    }

    /** KVM_CHECK_EXTENSION on the VM fd: the answer for this VM (KVM_CAP_XSAVE2's buffer size is asked here). */
    public int checkExtension(Capability capability) {
        return fd.ioctl(Ioctls.CHECK_EXTENSION, capability.number());
    }

    /**
     * Maps {@code size} bytes of host memory at {@code hostAddress} into the guest at {@code guestPhysical}.
     * A size of 0 deletes the slot. Dirty logging is off in a slot set here.
     */
    public void setUserMemoryRegion(int slot, long guestPhysical, long size, long hostAddress, boolean readOnly) {
        setRegion(slot, new Region(guestPhysical, size, hostAddress, readOnly ? MEM_READONLY : 0));
    }

    /** KVM_SET_USER_MEMORY_REGION, and the slot as KVM now has it in {@link #regions} (a size of 0: none). */
    private void setRegion(int slot, Region region) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment r = arena.allocate(kvm_userspace_memory_region.layout());
            kvm_userspace_memory_region.slot(r, slot);
            kvm_userspace_memory_region.flags(r, region.flags());
            kvm_userspace_memory_region.guest_phys_addr(r, region.guestPhysical());
            kvm_userspace_memory_region.memory_size(r, region.size());
            kvm_userspace_memory_region.userspace_addr(r, region.hostAddress());
            fd.ioctl(Ioctls.SET_USER_MEMORY_REGION, r);
        }
        if (region.size() == 0) {
            regions.remove(slot);
        } else {
            regions.put(slot, region);
        }
    }

    private Region region(String ioctl, int slot) {
        Region r = regions.get(slot);
        if (r == null) {
            throw new KvmException(ioctl + ": this VM has no memory slot " + slot + " (set it with setUserMemoryRegion first)");
        }
        return r;
    }

    /**
     * Turns dirty page logging on or off for a slot: KVM_SET_USER_MEMORY_REGION again with the slot's range and
     * KVM_MEM_LOG_DIRTY_PAGES set or cleared (a flags-only change, the memory stays mapped). Turned on, the log
     * starts empty (all set with {@link #enableManualDirtyLogProtect}{@code (true)}); turned off, it is dropped.
     */
    public void setDirtyLogging(int slot, boolean on) {
        Region r = region("KVM_SET_USER_MEMORY_REGION", slot);
        int log = (int) Uapi.KVM_MEM_LOG_DIRTY_PAGES();
        Region changed = new Region(r.guestPhysical(), r.size(), r.hostAddress(), on ? r.flags() | log : r.flags() & ~log);
        setRegion(slot, changed);
    }

    public boolean dirtyLogging(int slot) {
        return region("KVM_SET_USER_MEMORY_REGION", slot).logging();
    }

    /**
     * KVM_GET_DIRTY_LOG: the pages of {@code slot} written by the guest since logging was turned on or the log was
     * last cleared. Without manual protect (the default) KVM clears the log as it returns it and write-protects
     * those pages again, so each call returns what the guest wrote since the previous one. With
     * {@link #enableManualDirtyLogProtect} the log stays as it is until {@link #clearDirtyLog}. Pages the VMM
     * writes through its own mapping of guest memory are never in the log: a live migration tracks those itself.
     */
    public DirtyBitmap dirtyLog(int slot) {
        Region r = region("KVM_GET_DIRTY_LOG", slot);
        if (!r.logging()) {
            throw new KvmException("KVM_GET_DIRTY_LOG: dirty logging is off for memory slot " + slot + " (setDirtyLogging first)");
        }
        long pages = r.size() / DirtyBitmap.PAGE_SIZE;
        int words = DirtyBitmap.wordsFor(pages);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment bitmap = arena.allocate(ValueLayout.JAVA_LONG, Math.max(1, words));
            MemorySegment log = arena.allocate(kvm_dirty_log.layout());
            kvm_dirty_log.slot(log, slot);
            kvm_dirty_log.dirty_bitmap(log, bitmap);
            fd.ioctl(Ioctls.GET_DIRTY_LOG, log);
            return new DirtyBitmap(slot, r.guestPhysical(), pages, bitmap.asSlice(0, words * 8L).toArray(ValueLayout.JAVA_LONG));
        }
    }

    /**
     * KVM_CLEAR_DIRTY_LOG over the whole slot of {@code pages}: clears the pages set in it from the log and
     * write-protects them again, so the guest's next write to each is logged. Only needed with manual protect
     * ({@link #enableManualDirtyLogProtect}); clear a page before reading its contents for a copy.
     */
    public void clearDirtyLog(DirtyBitmap pages) {
        Region r = region("KVM_CLEAR_DIRTY_LOG", pages.slot());
        if (r.size() / DirtyBitmap.PAGE_SIZE != pages.pages()) {
            throw new KvmException("KVM_CLEAR_DIRTY_LOG: memory slot " + pages.slot() + " has " + r.size() / DirtyBitmap.PAGE_SIZE
                    + " pages, the bitmap " + pages.pages());
        }
        long[] words = pages.words();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment bitmap = arena.allocate(ValueLayout.JAVA_LONG, Math.max(1, words.length));
            MemorySegment.copy(words, 0, bitmap, ValueLayout.JAVA_LONG, 0, words.length);
            MemorySegment log = arena.allocate(kvm_clear_dirty_log.layout());
            kvm_clear_dirty_log.slot(log, pages.slot());
            kvm_clear_dirty_log.first_page(log, 0);
            kvm_clear_dirty_log.num_pages(log, Math.toIntExact(pages.pages()));
            kvm_clear_dirty_log.dirty_bitmap(log, bitmap);
            fd.ioctl(Ioctls.CLEAR_DIRTY_LOG, log);
        }
    }

    /**
     * KVM_ENABLE_CAP(KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2) with KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE, and
     * KVM_DIRTY_LOG_INITIALLY_SET when {@code initiallySet} (a slot's log then starts with every page set and no
     * page write-protected until cleared). From then on KVM_GET_DIRTY_LOG leaves the log as it is and
     * {@link #clearDirtyLog} clears it. Call before turning logging on.
     */
    public void enableManualDirtyLogProtect(boolean initiallySet) {
        long flags = Uapi.KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE() | (initiallySet ? Uapi.KVM_DIRTY_LOG_INITIALLY_SET() : 0);
        int offered = checkExtension(Capability.MANUAL_DIRTY_LOG_PROTECT2);
        if ((offered & flags) != flags) {
            throw new KvmException("KVM_ENABLE_CAP: this host's KVM offers KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 flags 0x"
                    + Integer.toHexString(offered) + ", not 0x" + Long.toHexString(flags));
        }
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment cap = arena.allocate(kvm_enable_cap.layout());
            kvm_enable_cap.cap(cap, Capability.MANUAL_DIRTY_LOG_PROTECT2.number());
            kvm_enable_cap.args(cap, 0, flags);
            fd.ioctl(Ioctls.ENABLE_CAP, cap);
        }
        manualDirtyLogProtect = flags;
    }

    /** Whether KVM_GET_DIRTY_LOG leaves the log for {@link #clearDirtyLog} (manual protect enabled). */
    public boolean manualDirtyLogProtect() {
        return manualDirtyLogProtect != 0;
    }

    /**
     * KVM_GET_CLOCK: the VM's kvmclock now, in nanoseconds, as the guest's pvclock structures give it (the clock every
     * vCPU's MSR_KVM_SYSTEM_TIME_NEW publishes).
     */
    public long clock() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment data = arena.allocate(kvm_clock_data.layout());
            fd.ioctl(Ioctls.GET_CLOCK, data);
            return kvm_clock_data.clock(data);
        }
    }

    /**
     * KVM_SET_CLOCK: the VM's kvmclock reads {@code nanos} from now on (flags 0: no realtime correction), as a restore
     * sets the clock a snapshot carried; KVM publishes it again to every vCPU that asked for it.
     */
    public void setClock(long nanos) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment data = arena.allocate(kvm_clock_data.layout());
            kvm_clock_data.clock(data, nanos);
            fd.ioctl(Ioctls.SET_CLOCK, data);
        }
    }

    /** Creates vCPU {@code id} and maps its kvm_run region. */
    public KvmVcpu createVcpu(int id) {
        int vcpuFd = fd.ioctl(Ioctls.CREATE_VCPU, id);
        Fd owned = Fd.adopt(vcpuFd, "KVM vCPU " + id + " fd");
        try {
            KvmVcpu vcpu = new KvmVcpu(this, id, owned, owned.map(vcpuMmapSize, 0));
            vcpus.add(vcpu);
            return vcpu;
        } catch (RuntimeException e) {
            owned.close();
            throw e;
        }
    }

    /** In-kernel PIC, IOAPIC and local APICs: must come before any vCPU. */
    public void createIrqchip() {
        fd.ioctl(Ioctls.CREATE_IRQCHIP, 0L);
        irqchip = true;
    }

    /** Whether this VM has the in-kernel irqchip ({@link #createIrqchip}). */
    public boolean hasIrqchip() {
        return irqchip;
    }

    /** In-kernel i8254 PIT (needs the irqchip). */
    public void createPit2() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment config = arena.allocate(kvm_pit_config.layout());
            kvm_pit_config.flags(config, Uapi.KVM_PIT_SPEAKER_DUMMY());
            fd.ioctl(Ioctls.CREATE_PIT2, config);
        }
    }

    /** Three pages of guest-physical space VMX uses for the real-mode TSS; must not overlap RAM that is used. */
    public void setTssAddress(long address) {
        fd.ioctl(Ioctls.SET_TSS_ADDR, address);
    }

    /**
     * KVM_SET_GSI_ROUTING: the in-kernel irqchip's GSIs go where {@code routes} say (all of them: this replaces KVM's
     * default table), as {@link #irqLine} then raises them.
     */
    public void setGsiRouting(List<KernelIrqchip.Route> routes) {
        try (Arena arena = Arena.ofConfined()) {
            long entry = kvm_irq_routing_entry.layout().byteSize();
            MemorySegment table = arena.allocate(kvm_irq_routing.layout().byteSize() + entry * routes.size(), 8);
            kvm_irq_routing.nr(table, routes.size());
            for (int i = 0; i < routes.size(); i++) {
                KernelIrqchip.Route r = routes.get(i);
                MemorySegment e = table.asSlice(kvm_irq_routing.layout().byteSize() + entry * i, entry);
                kvm_irq_routing_entry.gsi(e, r.gsi());
                kvm_irq_routing_entry.type(e, Uapi.KVM_IRQ_ROUTING_IRQCHIP());
                MemorySegment chip = kvm_irq_routing_entry.u.irqchip(kvm_irq_routing_entry.u(e));
                kvm_irq_routing_irqchip.irqchip(chip, r.chip().id);
                kvm_irq_routing_irqchip.pin(chip, r.pin());
            }
            fd.ioctl(Ioctls.SET_GSI_ROUTING, table);
        }
    }

    /** Raises or lowers an interrupt line of the in-kernel irqchip. */
    public void irqLine(int irq, boolean high) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment level = arena.allocate(kvm_irq_level.layout());
            kvm_irq_level.irq(level, irq);
            kvm_irq_level.level(level, high ? 1 : 0);
            fd.ioctl(Ioctls.IRQ_LINE, level);
        }
    }

    /**
     * KVM_IOEVENTFD: a guest write of {@code length} bytes to MMIO address {@code address} (of value {@code datamatch},
     * when not negative) signals {@code event} in the kernel, with no exit to jkvm; {@code assign} false removes the
     * same registration.
     */
    public void ioEventFd(long address, int length, long datamatch, EventFd event, boolean assign) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment s = arena.allocate(kvm_ioeventfd.layout());
            kvm_ioeventfd.addr(s, address);
            kvm_ioeventfd.len(s, length);
            kvm_ioeventfd.fd(s, event.fd().value());
            kvm_ioeventfd.datamatch(s, Math.max(datamatch, 0));
            kvm_ioeventfd.flags(s, (datamatch >= 0 ? Uapi.KVM_IOEVENTFD_FLAG_DATAMATCH() : 0)
                    | (assign ? 0 : Uapi.KVM_IOEVENTFD_FLAG_DEASSIGN()));
            fd.ioctl(Ioctls.IOEVENTFD, s);
        }
    }

    /**
     * KVM_IRQFD with a resampler: a signal of {@code event} raises GSI {@code gsi} of the in-kernel irqchip and holds it
     * until the guest's EOI, which lowers it and signals {@code resample} (the device raises it again if it still
     * wants to): a level-triggered line without an ioctl per change. {@code assign} false removes it.
     */
    public void irqFd(EventFd event, int gsi, EventFd resample, boolean assign) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment s = arena.allocate(kvm_irqfd.layout());
            kvm_irqfd.fd(s, event.fd().value());
            kvm_irqfd.gsi(s, gsi);
            kvm_irqfd.flags(s, assign ? Uapi.KVM_IRQFD_FLAG_RESAMPLE() : Uapi.KVM_IRQFD_FLAG_DEASSIGN());
            kvm_irqfd.resamplefd(s, assign ? resample.fd().value() : 0);
            fd.ioctl(Ioctls.IRQFD, s);
        }
    }

    /** One 8259A of the in-kernel irqchip (KVM_GET_IRQCHIP). */
    public KernelIrqchip.Pic pic(KernelIrqchip.Chip chip) {
        if (chip == KernelIrqchip.Chip.IOAPIC) {
            throw new IllegalArgumentException("the I/O APIC is not a PIC: use ioapic()");
        }
        return readIrqchip(chip, KernelIrqchip::readPic);
    }

    public void setPic(KernelIrqchip.Chip chip, KernelIrqchip.Pic state) {
        if (chip == KernelIrqchip.Chip.IOAPIC) {
            throw new IllegalArgumentException("the I/O APIC is not a PIC: use setIoapic()");
        }
        writeIrqchip(s -> KernelIrqchip.writePic(s, chip, state));
    }

    /** The in-kernel I/O APIC (KVM_GET_IRQCHIP). */
    public KernelIrqchip.Ioapic ioapic() {
        return readIrqchip(KernelIrqchip.Chip.IOAPIC, KernelIrqchip::readIoapic);
    }

    public void setIoapic(KernelIrqchip.Ioapic state) {
        writeIrqchip(s -> KernelIrqchip.writeIoapic(s, state));
    }

    /** The in-kernel PIT (KVM_GET_PIT2; needs {@link #createPit2()}). */
    public KernelIrqchip.Pit pit() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment s = arena.allocate(io.jkvm.linux.uapi.kvm_pit_state2.layout());
            fd.ioctl(Ioctls.GET_PIT2, s);
            return KernelIrqchip.readPit(s);
        }
    }

    public void setPit(KernelIrqchip.Pit state) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment s = arena.allocate(io.jkvm.linux.uapi.kvm_pit_state2.layout());
            KernelIrqchip.writePit(s, state);
            fd.ioctl(Ioctls.SET_PIT2, s);
        }
    }

    private <T> T readIrqchip(KernelIrqchip.Chip chip, java.util.function.Function<MemorySegment, T> decode) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment s = arena.allocate(io.jkvm.linux.uapi.kvm_irqchip.layout());
            io.jkvm.linux.uapi.kvm_irqchip.chip_id(s, chip.id);
            fd.ioctl(Ioctls.GET_IRQCHIP, s);
            return decode.apply(s);
        }
    }

    private void writeIrqchip(java.util.function.Consumer<MemorySegment> encode) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment s = arena.allocate(io.jkvm.linux.uapi.kvm_irqchip.layout());
            encode.accept(s);
            fd.ioctl(Ioctls.SET_IRQCHIP, s);
        }
    }

    @Override
    public void close() {
        RuntimeException first = null;
        for (KvmVcpu v : vcpus) {
            try {
                v.close();
            } catch (LinuxException e) {
                first = first == null ? e : first;
            }
        }
        vcpus.clear();
        fd.close();
        if (first != null) {
            throw first;
        }
    }
}

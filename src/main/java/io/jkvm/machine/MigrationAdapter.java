package io.jkvm.machine;

import io.jkvm.emu.DirtyPages;
import io.jkvm.emu.EmulatedVcpu;
import io.jkvm.api.ControlTarget;
import io.jkvm.migration.MigrationException;
import io.jkvm.migration.MigrationSource;
import io.jkvm.snapshot.MachineShape;
import io.jkvm.snapshot.MachineState;
import io.jkvm.x86.CpuModel;
import io.jkvm.x86.VirtualCpu;

/**
 * A running machine as a migration's source sees it. Dirty pages come from the software core's own store tracking
 * and from KVM's dirty log of guest RAM (memory slot 0), whichever backend the vCPUs are on, and from the log of what
 * devices store to RAM from the host side (virtio), which neither of those sees.
 */
final class MigrationAdapter implements MigrationSource.Vm {
    private final Machine machine;
    private final GuestMemory memory;
    private final CpuModel model;
    private DirtyPages corePages;

    private final VcpuFactory factory;

    /** The machine's devices: their host side (disk images' locks, TAPs) goes to the destination with the state. */
    private final DeviceManager devices;

    MigrationAdapter(Machine machine, GuestMemory memory, CpuModel model, VcpuFactory factory, DeviceManager devices) {
        this.devices = devices;
        this.factory = factory;
        this.machine = machine;
        this.memory = memory;
        this.model = model;
    }

    /**
     * Migrates the machine to {@code target} (tcp:HOST:PORT) with {@code key}: see {@link MigrationSource}. A refusal,
     * a bad target or a failed migration is one line, and the machine runs on.
     */
    ControlTarget.MigrationResult migrate(String target, byte[] key, long maxDowntimeMillis, java.util.function.Consumer<String> progress) {
        if (key == null) {
            throw new MachineException("this VM has no migration key: start it with --migration-key FILE (the destination holds the same)");
        }
        io.jkvm.migration.TcpAddress to = io.jkvm.migration.TcpAddress.parse(target).orElseThrow(
                () -> new MachineException("migrate target '" + target + "' is not tcp:HOST:PORT"));
        try {
            MigrationSource.Report r = MigrationSource.migrate(this, to.host(), to.port(), key, maxDowntimeMillis, progress);
            return new ControlTarget.MigrationResult(target, r.rounds(), r.pagesSent(), r.bytesSent(), r.downtimeMillis(),
                    r.totalMillis());
        } catch (MigrationException e) {
            throw new MachineException(e.getMessage(), e);
        }
    }

    @Override
    public MachineShape shape() {
        return new MachineShape(model, memory.size(), machine.vcpus().size());
    }

    @Override
    public void readPage(long offset, byte[] into, int at) {
        memory.readPage(offset, into, at);
    }

    @Override
    public boolean isZeroPage(long offset) {
        return memory.isZeroPage(offset);
    }

    @Override
    public MigrationSource.DirtyLog trackDirtyPages() {
        DirtyPages pages = new DirtyPages(memory.size());
        machine.whileStopped(() -> {
            trackOnCore(pages);
            memory.trackDeviceWrites(pages); // what virtio devices store, which neither KVM's log nor the core's sees
            kvmLog = factory.startKvmDirtyLog();
        });
        corePages = pages;
        return () -> {
            long[] dirty = pages.take();
            if (kvmLog != null) {
                long[] kvm = kvmLog.get();
                for (int i = 0; i < dirty.length && i < kvm.length; i++) {
                    dirty[i] |= kvm[i];
                }
            }
            return dirty;
        };
    }

    @Override
    public void stopTrackingDirtyPages() {
        if (corePages != null) {
            machine.whileStopped(() -> {
                trackOnCore(null);
                memory.trackDeviceWrites(null);
                factory.stopKvmDirtyLog();
            });
            corePages = null;
        }
    }

    /** KVM's dirty log of guest RAM while it is tracked (null: the vCPUs run on the core, or no tracking). */
    private java.util.function.Supplier<long[]> kvmLog;

    /** Points the software-core vCPUs' store tracking at {@code pages} (null: off); KVM's vCPUs have their own log. */
    private void trackOnCore(DirtyPages pages) {
        for (VirtualCpu v : machine.vcpus()) {
            if (v instanceof EmulatedVcpu e) {
                e.trackDirtyPages(pages);
            }
        }
    }

    /** Whether the migration's stop is its own pause (a VM the user paused before stays paused on failure). */
    private boolean ownPause;

    @Override
    public boolean pause() {
        ownPause = !machine.isPaused();
        return !ownPause || machine.pause();
    }

    @Override
    public void resume() {
        if (devicesHandedOver) {
            devices.takeBack(); // the migration failed after the state went: the disks and TAPs are this machine's again
            devicesHandedOver = false;
        }
        if (ownPause) {
            machine.resume();
        }
    }

    /** Whether the devices' host side (disk images' locks, TAPs) went with the state (taken back if the VM runs on here). */
    private boolean devicesHandedOver;

    /** The state for the destination; the disk images' locks and the TAPs are let go, for the destination to take. */
    @Override
    public MachineState capture() {
        MachineState state = machine.capture();
        devices.handOver();
        devicesHandedOver = true;
        return state;
    }

    @Override
    public String stopReason() {
        return machine.migrationStopReason();
    }

    @Override
    public void connected(java.io.Closeable connection) {
        machine.migrationConnected(connection);
    }

    @Override
    public void migratedTo(String destination, MigrationSource.Report report) {
        machine.endMigrated(destination);
    }
}

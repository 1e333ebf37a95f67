package io.jkvm.machine;

import io.jkvm.emu.DirtyPages;
import io.jkvm.emu.EmulatedVcpu;
import io.jkvm.migration.MigrationSource;
import io.jkvm.snapshot.MachineShape;
import io.jkvm.snapshot.MachineState;
import io.jkvm.x86.CpuModel;
import io.jkvm.x86.VirtualCpu;

/**
 * A running machine as a migration's source sees it. Dirty pages come from the software core's own store tracking;
 * for vCPUs on KVM, which this adapter cannot ask for KVM's dirty log yet, every page counts as dirty in every round,
 * so the migration goes to stop-and-copy at once and sends all of guest RAM with the vCPUs stopped: correct, with a
 * longer downtime.
 */
final class MigrationAdapter implements MigrationSource.Vm {
    private final Machine machine;
    private final GuestMemory memory;
    private final CpuModel model;
    private DirtyPages corePages;

    MigrationAdapter(Machine machine, GuestMemory memory, CpuModel model) {
        this.machine = machine;
        this.memory = memory;
        this.model = model;
    }

    @Override
    public MachineShape shape() {
        return new MachineShape(model, memory.size(), machine.vcpus().size());
    }

    @Override
    public long memorySize() {
        return memory.size();
    }

    @Override
    public boolean readPage(long offset, byte[] page) {
        return memory.readPage(offset, page);
    }

    @Override
    public MigrationSource.DirtyLog trackDirtyPages() {
        DirtyPages pages = new DirtyPages(memory.size());
        boolean[] onKvm = {false};
        machine.whileStopped(() -> {
            for (VirtualCpu v : machine.vcpus()) {
                if (v instanceof EmulatedVcpu e) {
                    e.trackDirtyPages(pages);
                } else {
                    onKvm[0] = true;
                }
            }
        });
        corePages = pages;
        return () -> {
            if (onKvm[0]) {
                DirtyPages all = new DirtyPages(memory.size());
                all.markAll();
                return all.take();
            }
            return pages.take();
        };
    }

    @Override
    public void stopTrackingDirtyPages() {
        if (corePages != null) {
            machine.whileStopped(() -> {
                for (VirtualCpu v : machine.vcpus()) {
                    if (v instanceof EmulatedVcpu e) {
                        e.trackDirtyPages(null);
                    }
                }
            });
            corePages = null;
        }
    }

    @Override
    public boolean pause() {
        return machine.pause();
    }

    @Override
    public void resume() {
        machine.resume();
    }

    @Override
    public MachineState capture() {
        return machine.capture();
    }

    @Override
    public void migratedTo(String destination, MigrationSource.Report report) {
        machine.endMigrated(destination);
    }
}

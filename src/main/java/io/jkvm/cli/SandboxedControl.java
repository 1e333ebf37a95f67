package io.jkvm.cli;

import io.jkvm.api.ControlTarget;
import io.jkvm.api.VmInfo;
import io.jkvm.machine.MachineException;

import java.nio.file.Path;

/**
 * The control socket's view of a machine under --sandbox on: pause, resume, info, stop and cancel as the machine
 * answers them; a snapshot (new files) and a migration (a new socket) refused up front with what to do instead, rather
 * than failing halfway on the system call the filter refuses.
 */
record SandboxedControl(ControlTarget machine) implements ControlTarget {
    @Override
    public boolean pause() {
        return machine.pause();
    }

    @Override
    public void resume() {
        machine.resume();
    }

    @Override
    public VmInfo info() {
        return machine.info();
    }

    @Override
    public SnapshotResult snapshot(Path file) {
        throw new MachineException("cannot snapshot to " + file + ": this jkvm runs under --sandbox on, which forbids creating"
                + " files; run the VM with --sandbox off to take snapshots");
    }

    @Override
    public void stop() {
        machine.stop();
    }

    @Override
    public MigrationResult migrate(String target, long maxDowntimeMillis) {
        throw new MachineException("cannot migrate to " + target + ": this jkvm runs under --sandbox on, which forbids new"
                + " sockets; run the VM with --sandbox off to migrate it");
    }

    @Override
    public boolean cancelMigration() {
        return machine.cancelMigration();
    }

    /** jkvm restore --api-socket: the restore reads its snapshot before the sandbox goes up. */
    @Override
    public RestoreResult restore(Path file, boolean checkMemory) {
        return machine.restore(file, checkMemory);
    }
}

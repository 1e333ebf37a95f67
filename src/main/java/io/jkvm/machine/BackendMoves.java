package io.jkvm.machine;

import io.jkvm.x86.CpuFeature;
import io.jkvm.x86.VcpuState;
import io.jkvm.x86.VirtualCpu;

import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/** Moving a paused machine's vCPUs between KVM and the software core: when it is refused, and the move of each vCPU. */
final class BackendMoves {
    private BackendMoves() {
    }

    static String name(Backend b) {
        return b == Backend.KVM ? "KVM" : "the software core";
    }

    /** Why the vCPUs cannot go to {@code target} now, in one line; null when they can. */
    static String refusal(Backend target, Backend current, boolean migrating, boolean hasKvm, MachineConfig config,
                          List<CpuFeature> missingOnKvm, List<String> otherKvmObstacles, String lackingOnCore) {
        if (migrating) {
            return "cannot hand the vCPUs over during a live migration";
        }
        if (target == Backend.AUTO) {
            return "a handoff goes to kvm or emulator, not auto";
        }
        if (target == current && target == Backend.KVM) {
            return "the vCPUs already run on " + name(target); // KVM cannot destroy a vCPU to remake it
        }
        if (target != Backend.KVM) {
            if (!lackingOnCore.isEmpty()) {
                return "cannot hand the vCPUs to the software core: --cpu " + config.cpuModel() + " has "
                        + lackingOnCore + ", which the core does not implement; the VM stays on "
                        + name(current) + " (a VM made with --cpu core runs on both)";
            }
            return null;
        }
        if (!hasKvm) {
            return "cannot hand the vCPUs to KVM: this VM runs on the software core without KVM (" + config.kvmPath()
                    + " could not be opened); the VM stays on the software core";
        }
        if (!missingOnKvm.isEmpty()) {
            return "cannot hand the vCPUs to KVM: --cpu " + config.cpuModel() + " needs " + CpuFeature.describe(missingOnKvm)
                    + ", which this host's KVM lacks; the VM stays on the software core";
        }
        if (!otherKvmObstacles.isEmpty()) {
            return "cannot hand the vCPUs to KVM: " + String.join("; ", otherKvmObstacles) + "; the VM stays on the software core";
        }
        return null;
    }

    /**
     * Each saved vCPU made anew on {@code target} over the same guest memory, loaded with its record, read back and
     * compared bit for bit; the first field that differs (or a refusal) is one line, and nothing is switched then.
     * Each counts at {@code tscKhz} where the target can scale its TSC to it.
     */
    static List<VirtualCpu> load(List<VcpuState> saved, long tscKhz, Backend from, Backend target, VcpuFactory factory) {
        List<VirtualCpu> moved = new ArrayList<>();
        for (int id = 0; id < saved.size(); id++) {
            String failure = "handoff of vCPU " + id + " from " + name(from) + " to " + name(target) + " failed: ";
            String stays = "; the VM stays on " + name(from);
            try {
                VcpuState s = saved.get(id);
                VirtualCpu next = factory.make(target, id, s.cpuid());
                next.takeTscRate(tscKhz); // false: the target keeps its own rate
                next.restoreState(s);
                Optional<String> difference = s.firstDifference(next.saveState());
                if (difference.isPresent()) {
                    throw new MachineException(failure + "the state read back differs at " + difference.get() + stays);
                }
                moved.add(next);
            } catch (MachineException e) {
                throw e;
            } catch (RuntimeException e) {
                throw new MachineException(failure + e.getMessage() + stays, e);
            }
        }
        return moved;
    }
}

package io.jkvm.machine;

import io.jkvm.devices.GuestProgress;
import io.jkvm.emu.EmulatedVcpu;

import java.util.function.Supplier;

/**
 * A vCPU's progress as its runner sees it: instructions the software core has retired, or a wait for an interrupt
 * (now or since the mark).
 * A vCPU on KVM (which counts none) or one replaced since the mark (a handoff; its count starts again) has always got
 * far enough.
 */
final class RunnerProgress implements GuestProgress {
    private final Supplier<VcpuRunner> runner;

    RunnerProgress(Supplier<VcpuRunner> runner) {
        this.runner = runner;
    }

    @Override
    public Mark mark() {
        VcpuRunner r = runner.get();
        Object vcpu = r == null ? null : r.vcpu();
        return vcpu instanceof EmulatedVcpu core ? new Mark(vcpu, core.instructions(), core.waits()) : new Mark(vcpu, -1, -1);
    }

    @Override
    public long retiredSince(Mark mark) {
        VcpuRunner r = runner.get();
        if (r == null || r.vcpu() != mark.vcpu() || !(r.vcpu() instanceof EmulatedVcpu core) || r.waiting()
                || core.waits() != mark.waits()) {
            return Long.MAX_VALUE;
        }
        return core.instructions() - mark.instructions();
    }
}

package io.jkvm.machine;

import io.jkvm.devices.GuestProgress;
import io.jkvm.emu.EmulatedVcpu;

import java.util.function.Supplier;

/**
 * A vCPU's progress as its runner sees it: instructions the software core has retired, or a wait for an interrupt.
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
        return new Mark(vcpu, vcpu instanceof EmulatedVcpu core ? core.instructions() : -1);
    }

    @Override
    public boolean reached(Mark mark, long instructions) {
        VcpuRunner r = runner.get();
        if (r == null || r.vcpu() != mark.vcpu() || !(r.vcpu() instanceof EmulatedVcpu core)) {
            return true;
        }
        return r.waiting() || core.instructions() - mark.instructions() >= instructions;
    }
}

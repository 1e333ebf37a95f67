package io.jkvm.machine;

import io.jkvm.x86.VirtualCpu;

import java.util.function.BooleanSupplier;
import java.util.function.Consumer;
import java.util.function.LongConsumer;
import java.util.function.Supplier;

/**
 * The handoffs {@code --handoff-every N} asks for: at every Nth port exit of vCPU 0 its runner asks and waits, and
 * run()'s thread pauses the machine, moves every vCPU to the other backend and resumes. It waits on the machine's
 * monitor, which guards its request as it guards the pause.
 */
final class ScheduledHandoffs {
    private final Object monitor;
    private final BooleanSupplier ended;
    private final Supplier<VirtualCpu> bootVcpu;
    /** One move to the other backend, paused around it, from the nanoTime the request was taken; a refusal throws. */
    private final LongConsumer move;
    private final Consumer<String> trace;
    private volatile long every;
    /** vCPU 0's port exits so far (its runner's thread only). */
    private long portExits;
    /** A move vCPU 0's runner asked for and run()'s thread has not taken yet (guarded by the monitor). */
    private boolean requested;

    ScheduledHandoffs(Object monitor, BooleanSupplier ended, Supplier<VirtualCpu> bootVcpu, LongConsumer move,
                      Consumer<String> trace) {
        this.monitor = monitor;
        this.ended = ended;
        this.bootVcpu = bootVcpu;
        this.move = move;
        this.trace = trace;
    }

    /** A move after every {@code exits} port exits of vCPU 0 (0: never). */
    void every(long exits) {
        if (exits < 0) {
            throw new MachineException("--handoff-every " + exits + " must be 0 (never) or more");
        }
        every = exits;
    }

    /**
     * From vCPU 0's thread, at each of its port exits: at every Nth, asks run()'s thread for a move and waits for its
     * pause to reach the runner, so the move comes right after this exit, not some instructions later.
     */
    void portExit(VcpuRunner runner) {
        long n = every;
        if (n <= 0 || ++portExits % n != 0) {
            return;
        }
        synchronized (monitor) {
            requested = true;
            monitor.notifyAll();
            while (!runner.hasEvents() && !ended.getAsBoolean() && every > 0) {
                if (Threads.awaitNotification(monitor, 0)) {
                    Thread.currentThread().interrupt();
                    return;
                }
            }
        }
    }

    /**
     * On run()'s thread until the guest ends: each requested move; a refusal ends the schedule. Between requests it
     * looks, as {@link KernelHaltWatch} asks, whether a boot vCPU halted in KVM halted for good.
     */
    void carryOut() {
        boolean interrupted = false;
        while (true) {
            synchronized (monitor) {
                while (!requested && !ended.getAsBoolean()) {
                    VirtualCpu bsp = bootVcpu.get();
                    boolean watch = KernelHaltWatch.needed(bsp);
                    interrupted |= Threads.awaitNotification(monitor, watch ? KernelHaltWatch.PERIOD_MILLIS : 0);
                    if (watch) {
                        KernelHaltWatch.kick(bsp); // its HLT stays in KVM: the runner looks whether it halted for good
                    }
                }
                if (ended.getAsBoolean()) {
                    Threads.reassertInterrupt(interrupted);
                    return;
                }
                requested = false;
            }
            try {
                move.accept(System.nanoTime());
            } catch (MachineException e) {
                trace.accept("jkvm: " + e.getMessage());
                synchronized (monitor) {
                    every = 0;
                    monitor.notifyAll(); // vCPU 0 waits for a pause that will not come
                }
            }
        }
    }
}

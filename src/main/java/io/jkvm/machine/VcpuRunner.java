package io.jkvm.machine;

import io.jkvm.x86.VcpuExit;
import io.jkvm.x86.VcpuState;
import io.jkvm.x86.VirtualCpu;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;

/**
 * One vCPU's thread: it runs the guest and, between two runs, takes the events the machine posts to it (Firecracker's
 * VcpuEvent): pause (at an instruction boundary, any port or MMIO read in flight completed first), save its state,
 * run on another vCPU (a handoff's target), resume, stop. Posting an event kicks the vCPU out of the guest. The
 * answer to each event comes back through the future {@link #post} returns; a runner that has ended answers
 * {@link #ENDED}. On a machine booted with a kernel, application processors run the guest once a STARTUP IPI has
 * started them (INIT and STARTUP are events too); otherwise they only take events.
 */
final class VcpuRunner {
    /** What a runner is asked to do between guest runs. */
    sealed interface Event {
    }

    record Pause() implements Event {
    }

    record Resume() implements Event {
    }

    /** Only while paused: answers the vCPU's {@link VcpuState}. */
    record SaveState() implements Event {
    }

    /** Only while paused: from now on the runner runs {@code next} (already loaded with the state). */
    record Replace(VirtualCpu next) implements Event {
    }

    record Stop() implements Event {
    }

    /** An INIT IPI: the vCPU goes to the INIT state and waits for a STARTUP IPI (on the software core). */
    record Init() implements Event {
    }

    /**
     * A vCPU waiting after INIT starts in real mode at {@code segment}:{@code offset}: a STARTUP IPI's (vector × 256:0,
     * {@link #ofVector}), or where the firmware's waking vector resumes the boot processor from S3.
     */
    record Startup(int segment, int offset) implements Event {
        static Startup ofVector(int vector) {
            return new Startup(vector << 8, 0);
        }
    }

    /** The answer of a runner whose thread has ended (the guest ended, or it was stopped). */
    static final Object ENDED = new Object();
    /** The answer to pause, resume, replace and stop once done. */
    static final Object DONE = new Object();

    /** What a runner needs from its machine. */
    interface Host {
        /** Whether the guest has ended. */
        boolean ended();

        /** Handles an exit of {@code runner}'s vCPU; true when it left the guest in HLT, waiting for INTR. */
        boolean handle(VcpuRunner runner, VirtualCpu vcpu, VcpuExit exit);

        /**
         * Holds the thread until INTR is raised, an event is posted to {@code runner}, or the guest ends; true when
         * INTR is raised (the vCPU goes on and takes it).
         */
        boolean awaitInterrupt(VcpuRunner runner);

        /** The vCPU's run returned with no event for the runner: the machine may look at where it is (a kick to look). */
        void interrupted(VcpuRunner runner, VirtualCpu vcpu);

        /** Wakes a runner held in {@link #awaitInterrupt}. */
        void wakeWaiters();

        /** The thread ended on a failure: the run ends with it, in one line. */
        void failed(int id, Throwable failure);
    }

    private record Posted(Event event, CompletableFuture<Object> answer) {
    }

    private final int id;
    private final Host host;
    private final boolean runsGuest;
    private final LinkedBlockingQueue<Posted> events = new LinkedBlockingQueue<>();
    private volatile VirtualCpu vcpu;
    private volatile boolean stopped;
    private Thread thread;
    /** On the runner's thread only. */
    private boolean paused;
    private volatile boolean waitingInHlt;

    VcpuRunner(int id, VirtualCpu vcpu, boolean runsGuest, Host host) {
        this.id = id;
        this.vcpu = vcpu;
        this.runsGuest = runsGuest;
        this.host = host;
    }

    int id() {
        return id;
    }

    VirtualCpu vcpu() {
        return vcpu;
    }

    /** Whether the vCPU waits for an interrupt: in HLT (its own wait or the runner's), or for a STARTUP IPI. */
    boolean waiting() {
        return waitingInHlt || vcpu instanceof io.jkvm.emu.EmulatedVcpu core && (core.halted() || core.waitingForStartup());
    }

    /** Replaces the vCPU before the runner has a thread (a handoff of a machine not yet run). */
    void replaceUnstarted(VirtualCpu next) {
        if (thread != null) {
            throw new IllegalStateException("vCPU " + id + " runs: post Replace instead");
        }
        vcpu = next;
    }

    Thread start() {
        thread = Thread.ofPlatform().name("vcpu-" + id).start(this::loop);
        return thread;
    }

    boolean isRunnerThread() {
        return Thread.currentThread() == thread;
    }

    boolean hasEvents() {
        return !events.isEmpty();
    }

    /** Queues {@code event} and kicks the vCPU out of the guest; the future completes with the runner's answer. */
    CompletableFuture<Object> post(Event event) {
        CompletableFuture<Object> answer = new CompletableFuture<>();
        if (stopped) {
            answer.complete(ENDED);
            return answer;
        }
        events.add(new Posted(event, answer));
        if (stopped) {
            drain(); // the thread ended between the check and the add: nobody else answers it
        }
        vcpu.requestExit();
        host.wakeWaiters();
        return answer;
    }

    private void loop() {
        try {
            while (true) {
                Posted p = paused || !runsGuest ? events.take() : events.poll();
                if (p != null) {
                    if (!take(p)) {
                        return;
                    }
                    continue;
                }
                if (host.ended()) {
                    return;
                }
                if (waitingInHlt) {
                    waitingInHlt = !host.awaitInterrupt(this); // an event or the end: it waits on after them
                    continue;
                }
                VirtualCpu v = vcpu;
                VcpuExit exit = v.run();
                if (exit instanceof VcpuExit.Interrupted) {
                    if (!hasEvents() && !host.ended()) {
                        v.clearExitRequest(); // a stray signal, or a kick to look: an event would be in the queue before the kick
                        host.interrupted(this, v);
                    }
                    continue;
                }
                waitingInHlt = host.handle(this, v, exit);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (Throwable e) { // an Error too: a vCPU thread never dies without ending the run
            host.failed(id, e);
        } finally {
            stopped = true;
            drain();
        }
    }

    /**
     * Carries out one event; false when the thread is to end. An if chain, not a pattern switch, as ExitDispatch's:
     * the switch's bootstrap would build a class as a launch ends, at its Stop.
     */
    private boolean take(Posted p) {
        Event event = p.event();
        if (event instanceof Pause) {
            if (!paused) {
                completeInFlight();
                paused = true;
            }
            p.answer().complete(DONE);
        } else if (event instanceof Resume) {
            paused = false;
            vcpu.clearExitRequest();
            p.answer().complete(DONE);
        } else if (event instanceof SaveState) {
            if (!paused && runsGuest) {
                p.answer().completeExceptionally(new MachineException("cannot save vCPU " + id + ": pause it first"));
            } else {
                p.answer().complete(vcpu.saveState());
            }
        } else if (event instanceof Replace replace) {
            vcpu = replace.next();
            if (paused) {
                vcpu.requestExit(); // the new vCPU stays out of the guest until the resume
            }
            p.answer().complete(DONE);
        } else if (event instanceof Init) {
            if (vcpu instanceof io.jkvm.emu.EmulatedVcpu core) {
                core.init();
            }
            waitingInHlt = false; // it waits, if at all, for a STARTUP IPI: the next run says so
            vcpu.clearExitRequest();
            p.answer().complete(DONE);
        } else if (event instanceof Startup startup) {
            if (vcpu instanceof io.jkvm.emu.EmulatedVcpu core) {
                core.startAt(startup.segment(), startup.offset());
            }
            waitingInHlt = false;
            vcpu.clearExitRequest();
            p.answer().complete(DONE);
        } else if (event instanceof Stop) {
            p.answer().complete(DONE);
            return false;
        } else {
            throw new AssertionError(event);
        }
        return true;
    }

    /**
     * Runs the vCPU, its exit request in force, until it returns {@link VcpuExit.Interrupted}, handling any exit on
     * the way: an IN or MMIO read the machine has answered is only finished by the next KVM_RUN (the kernel
     * completes it before it looks at immediate_exit), and the state must not be read before that.
     */
    private void completeInFlight() {
        if (!runsGuest) {
            return;
        }
        VirtualCpu v = vcpu;
        v.requestExit();
        VcpuExit exit;
        while (!host.ended() && !((exit = v.run()) instanceof VcpuExit.Interrupted)) {
            waitingInHlt |= host.handle(this, v, exit);
        }
    }

    private void drain() {
        Posted p;
        while ((p = events.poll()) != null) {
            p.answer().complete(ENDED);
        }
    }
}

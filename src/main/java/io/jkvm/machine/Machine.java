package io.jkvm.machine;

import io.jkvm.api.ControlTarget;
import io.jkvm.api.VmInfo;
import io.jkvm.kvm.Kvm;
import io.jkvm.machine.MachineStart.Boot;
import io.jkvm.machine.MachineStart.KernelBoot;
import io.jkvm.machine.MachineStart.Resume;
import io.jkvm.x86.CpuFeature;
import io.jkvm.x86.CpuModel;
import io.jkvm.snapshot.MachineState;
import io.jkvm.snapshot.SnapshotException;
import io.jkvm.snapshot.SnapshotFile;
import io.jkvm.x86.RamLayout;
import io.jkvm.x86.VcpuExit;
import io.jkvm.x86.VcpuState;
import io.jkvm.x86.VirtualCpu;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;

/**
 * A VM as a user sees it: guest RAM, the image or kernel loaded (or a snapshot's or a migration's state), its devices
 * ({@link DeviceManager}) and one runner per vCPU; pause, resume, snapshot, handoff and migration act on it whole.
 */
public final class Machine implements AutoCloseable, ControlTarget {
    private final MachineConfig config;
    /** Makes the vCPUs on either backend (KVM's VM with them); owns KVM. */
    private final VcpuFactory factory;
    private final GuestMemory memory;
    /** One runner per vCPU, by id; each holds the vCPU it runs now (a handoff replaces them while paused). */
    private List<VcpuRunner> runners = List.of();
    private final CpuModel model;
    /** Features of the CPU model this host's KVM lacks: a handoff to KVM is refused while there are any. */
    private final List<CpuFeature> missingOnKvm;
    /** What of the CPU model the software core lacks: a handoff to the core is refused while there is any. */
    private final String lackingOnCore;
    /**
     * What else keeps the machine off this host's KVM: a restored model's other XSAVE layout or MXCSR bit, a kernel's
     * platform KVM here cannot run ({@link KernelLoading#kvmObstacle}). A handoff to KVM is refused while there is any.
     */
    private final List<String> otherKvmObstacles;
    private final ExitDispatch exits;
    private final DeviceManager devices;
    /** vCPU 0's INTR input as last driven (read without the controller's lock while waiting). */
    private volatile boolean interruptLine;
    /** The vCPU INTR goes to: vCPU 0, whose LINT0 the 8259 is wired to. */
    private volatile VirtualCpu interruptTarget;
    private final Console console;
    private final CompletableFuture<Outcome> outcome = new CompletableFuture<>();
    /** Guards running, paused, runThread, closed and the handoff schedule's request; HLT waits on it for INTR. */
    private final Object wakeup = new Object();
    /** The thread in run(), once it is there; close() from another thread ends the run and waits for it. */
    private Thread runThread;
    /** close() was called: a run may not start any more. */
    private boolean closed;
    /** Completed as run() returns, its vCPU threads joined. */
    private final CompletableFuture<Void> runEnded = new CompletableFuture<>();
    private volatile Backend backend;
    /** run() has started the vCPU threads: state moves through the runners' events from then on. */
    private boolean running;
    /** A pause is in force, from pause() until resume(); another pause waits its turn. */
    private boolean paused;
    private final MigrationControl migration;
    private final ScheduledHandoffs scheduled;
    private final List<Handoff> handoffs = new java.util.concurrent.CopyOnWriteArrayList<>();

    /** The record class of each device id a snapshot may hold (null: no device of this jkvm has that id). */
    public static final java.util.function.Function<String, Class<? extends Record>> DEVICE_STATES = DeviceManager::stateType;

    private Machine(MachineConfig config, Console console, MachineStart start) {
        this.config = config;
        this.console = console;
        this.scheduled = new ScheduledHandoffs(wakeup, outcome::isDone, () -> runners.getFirst().vcpu(),
                this::moveToTheOtherBackend, console.trace()::println);
        this.migration = new MigrationControl(config.trace() ? console.trace() : null);
        this.devices = new DeviceManager(console, this::interruptLineChanged, this::finish);
        Kvm k = config.backend() == Backend.EMULATOR ? VcpuFactory.openKvmIfThere(config.kvmPath()) : Kvm.open(config.kvmPath());
        GuestMemory m = null;
        CpuModel model;
        List<CpuFeature> missing;
        List<String> otherObstacles = List.of();
        String lacking;
        // A PC platform (local APICs, I/O APIC, PIT, ...) for a kernel, and for a state that holds its devices' records
        boolean pc = start instanceof KernelBoot || start instanceof Resume r && DeviceManager.hasPlatform(r.state());
        try {
            BackendChoice.Placement placed = BackendChoice.place(config, k, start, pc, console.trace()::println);
            model = placed.model();
            backend = placed.backend();
            missing = placed.missing();
            otherObstacles = placed.otherObstacles();
            lacking = placed.lacking();
            start = placed.start();
            m = start.memory(config);
        } catch (SnapshotException e) {
            Threads.closeQuietly(m, k);
            throw new MachineException(e.getMessage(), e);
        } catch (RuntimeException | Error e) { // an Error too (a mapped snapshot file that faults): nothing stays mapped
            Threads.closeQuietly(m, k);
            throw e;
        }
        this.factory = new VcpuFactory(k, m, model, config.cpus(),
                config.trace() ? line -> console.trace().println("jkvm: " + line) : null, pc);
        this.memory = m;
        this.exits = new ExitDispatch(devices.ports, devices.mmio, m, this::finish);
        this.model = model;
        this.missingOnKvm = List.copyOf(missing);
        this.lackingOnCore = lacking;
        List<String> obstacles = new ArrayList<>(otherObstacles);
        String kernelObstacle = pc ? KernelLoading.kvmObstacle() : null;
        if (kernelObstacle != null) {
            obstacles.add(kernelObstacle);
        }
        this.otherKvmObstacles = List.copyOf(obstacles);
        try {
            List<VirtualCpu> created = new ArrayList<>();
            for (int id = 0; id < config.cpus(); id++) {
                created.add(start.vcpu(factory, backend, id, model, console.trace()::println));
            }
            List<VcpuRunner> made = new ArrayList<>();
            for (int id = 0; id < created.size(); id++) {
                made.add(new VcpuRunner(id, created.get(id), id == 0 || pc, new RunnerHost()));
            }
            runners = List.copyOf(made);
            if (start instanceof Resume r && r.state().kvmClock() >= 0) {
                factory.setKvmClock(created, r.state().kvmClock()); // after the TSCs: the clock goes on where it was
            }
        } catch (RuntimeException e) {
            close();
            throw e;
        }
        interruptTarget = runners.getFirst().vcpu();
        try {
            devices.attach(runners, pc, start.testDevice(), start.virtio(), memory, console.trace()::println);
            if (start instanceof KernelBoot kb && kb.image() instanceof KernelLoading.MultibootKernel) {
                devices.leaveAsTheBiosDoes(memory); // a multiboot kernel is started by a PC's firmware, which programs these first
            }
            if (start instanceof Resume r) {
                devices.restore(r.state());
                runners.getFirst().vcpu().setInterruptLine(interruptLine);
            }
            if (pc && backend == Backend.KVM) {
                devices.platform().toKernel(factory.kvmVm(), vcpus()); // KVM runs the controllers from here on
            }
        } catch (RuntimeException e) {
            close();
            throw start instanceof Resume r ? new MachineException("cannot restore " + r.origin() + ": " + e.getMessage(), e) : e;
        }
    }

    /** Where a state's RAM is ({@link MachineStart#ramLayout}); null when it ends inside the PC's MMIO window. */
    public static RamLayout ramLayout(MachineState state) {
        return MachineStart.ramLayout(state);
    }

    /** The devices' records as they are now, by device id (a snapshot takes them with the vCPUs paused). */
    java.util.SequencedMap<String, Record> deviceStates() {
        PcPlatform p = devices.platform();
        if (p != null && p.inKernel()) {
            p.fromKernel(vcpus(), false); // KVM runs the interrupt controllers: their records are the kernel's state
        }
        return devices.save();
    }

    /** Builds the machine: opens KVM, allocates RAM, loads the image and sets every vCPU at the entry point. */
    public static Machine create(MachineConfig config, Console console) {
        if (config.kernel().isPresent()) {
            KernelConfig k = config.kernel().get();
            return new Machine(config, console, new KernelBoot(KernelLoading.load(k, RamLayout.pc(config.memorySize())), k));
        }
        GuestImage image = config.image()
                .map(p -> GuestImage.read(p, config.loadAddress(), config.memorySize()))
                .orElseGet(GuestImage::bundled);
        return new Machine(config, console, new Boot(image));
    }

    /**
     * Builds the machine a snapshot describes, on {@code backend} (auto: KVM when this host's KVM runs the snapshot's
     * CPU model with its XSAVE layout, else the software core): guest RAM mapped from the snapshot's memory file,
     * every vCPU and device loaded from its record. Anything the destination cannot hold is one line, before it runs.
     */
    public static Machine restore(Path snapshotFile, Backend backend, String kvmPath, boolean trace, Console console) {
        return restore(snapshotFile, backend, null, kvmPath, trace, console);
    }

    /**
     * As {@link #restore(Path, Backend, String, boolean, Console)}, with the CPU model {@code cpu} names (a --cpu
     * spec; null: the snapshot's own): the state moves onto it, or the restore is refused in one line.
     */
    public static Machine restore(Path snapshotFile, Backend backend, String cpu, String kvmPath, boolean trace,
                                  Console console) {
        return restore(snapshotFile, backend, cpu, kvmPath, trace, console, true);
    }

    /**
     * As {@link #restore(Path, Backend, String, String, boolean, Console)}; {@code checkMemory} false skips reading the
     * memory file for its checksum (the state's own CRCs are still checked), for snapshots on storage the user trusts.
     */
    public static Machine restore(Path snapshotFile, Backend backend, String cpu, String kvmPath, boolean trace,
                                  Console console, boolean checkMemory) {
        long start = System.nanoTime();
        SnapshotFile.Snapshot s;
        try {
            s = SnapshotFile.read(snapshotFile, DEVICE_STATES);
        } catch (SnapshotException e) {
            throw new MachineException(e.getMessage(), e);
        }
        Machine m = MemoryCheck.start(s, checkMemory).alongside(() -> new Machine(resumeConfig(s.state(), cpu, backend,
                kvmPath, trace), console, new Resume(s.state(), layout -> GuestMemory.mapSnapshot(s.memoryFile(), layout),
                snapshotFile.toString(), cpu != null)));
        if (trace) { // read, checked, RAM mapped and its data checksummed, vCPUs and devices loaded: ready to run
            console.trace().printf(java.util.Locale.ROOT, "jkvm: restored %s on %s in %.1f ms%n", snapshotFile, m.backend.name().toLowerCase(),
                    (System.nanoTime() - start) / 1e6);
        }
        return m;
    }

    private static MachineConfig resumeConfig(MachineState state, String cpu, Backend backend, String kvmPath, boolean trace) {
        return new MachineConfig(Optional.empty(), state.memorySize(), state.vcpus().size(),
                cpu == null ? state.cpu().spec() : cpu, backend, GuestImage.DEFAULT_LOAD_ADDRESS, kvmPath, trace);
    }

    /**
     * Builds the machine a migration brought: {@code state} over {@code memory} (already filled), on {@code backend}
     * and with {@code cpu} (null: the source's model) as for a restore. The memory is the machine's from here on (closed with it, or here on failure).
     */
    public static Machine arrived(MachineState state, GuestMemory memory, Backend backend, String cpu, String kvmPath,
                                  boolean trace, Console console, String from) {
        return new Machine(resumeConfig(state, cpu, backend, kvmPath, trace), console,
                new Resume(state, memory::laidOut, "the migration from " + from, cpu != null));
    }

    /**
     * The machine's whole state but RAM's bytes, while it is paused ({@link #pause()}): the CPU model, every vCPU's
     * record and every device's.
     */
    public MachineState capture() {
        List<VcpuState> states = saveAll("capture the machine's state");
        return new MachineState(model, memory.size(), states, deviceStates(), runners.getFirst().vcpu().tscKhz(),
                factory.kvmClock(vcpus()));
    }

    /**
     * Writes a snapshot of the running machine to {@code file} (and its guest RAM beside it): pauses the vCPUs if they
     * run, captures, writes atomically, and lets them run on. A failure is one line; the VM runs on either way.
     */
    @Override
    public ControlTarget.SnapshotResult snapshot(Path file) {
        long start = System.nanoTime();
        boolean pausedHere;
        synchronized (wakeup) {
            pausedHere = !paused;
        }
        if (pausedHere && !pause()) {
            throw new MachineException("cannot snapshot: the guest has ended");
        }
        try {
            devices.consoleOut().flush(); // what the guest sent before the snapshot is the old machine's output, not the restored one's
            SnapshotFile.write(file, capture(), memory);
        } catch (SnapshotException e) {
            throw new MachineException(e.getMessage(), e);
        } finally {
            if (pausedHere) {
                resume();
            }
        }
        long millis = (System.nanoTime() - start) / 1_000_000;
        return new ControlTarget.SnapshotResult(file, pausedHere ? millis : 0, millis);
    }

    public GuestMemory memory() {
        return memory;
    }

    public List<VirtualCpu> vcpus() {
        return runners.stream().map(VcpuRunner::vcpu).toList();
    }

    /** Runs until the guest ends or fails; returns how. Scheduled handoffs are carried out on this thread. */
    public Outcome run() {
        synchronized (wakeup) {
            if (closed) {
                throw new MachineException("this machine is closed: make a new one to run");
            }
            runThread = Thread.currentThread();
        }
        try {
            return runToTheEnd();
        } finally {
            runEnded.complete(null);
            migration.end(); // one under way answers its caller now (the guest ended), before the control socket closes
        }
    }

    private Outcome runToTheEnd() {
        devices.consoleOut().start();
        Thread input = devices.startConsoleInput(console.in(), console.escapes(), outcome::isDone);
        synchronized (wakeup) {
            running = true;
        }
        List<Thread> threads = new ArrayList<>();
        for (VcpuRunner r : runners) {
            threads.add(r.start());
        }
        scheduled.carryOut();
        Outcome result = outcome.join();
        for (VcpuRunner r : runners) {
            r.post(new VcpuRunner.Stop());
        }
        for (Thread t : threads) {
            Threads.joinUninterruptibly(t);
        }
        if (input != null) {
            input.interrupt();
        }
        devices.consoleOut().flush();
        return result;
    }

    private void finish(Outcome o) {
        if (outcome.complete(devices.afterPanic(o))) {
            for (VcpuRunner r : runners) {
                r.vcpu().requestExit();
            }
            synchronized (wakeup) {
                wakeup.notifyAll();
            }
        }
    }

    /** What the runners need from the machine: exits handled, the HLT wait for INTR, the end of the run. */
    private final class RunnerHost implements VcpuRunner.Host {
        @Override
        public boolean ended() {
            return outcome.isDone();
        }

        @Override
        public boolean handle(VcpuRunner runner, VirtualCpu vcpu, VcpuExit exit) {
            PcPlatform p = devices.platform();
            if (p != null) {
                if (exit instanceof VcpuExit.Mmio m && p.handle(runner.id(), m)) {
                    return false;
                }
                if (exit instanceof VcpuExit.Hlt && (runner.id() != 0
                        || vcpu instanceof io.jkvm.emu.EmulatedVcpu core && core.waitingForStartup())) {
                    return true; // an application processor halted with interrupts off, or one waiting for STARTUP (or
                    // the boot processor, in S3, for its wake-up): INIT or SIPI wakes it
                }
            }
            boolean waitInHlt = exits.handle(vcpu, exit);
            if (runner.id() == 0 && exit instanceof VcpuExit.Io) {
                scheduled.portExit(runner);
            }
            return waitInHlt;
        }

        /** HLT with interrupts enabled on KVM (the software core waits inside its vCPU): until INTR, an event, the end. */
        @Override
        public boolean awaitInterrupt(VcpuRunner runner) {
            synchronized (wakeup) {
                while (!outcome.isDone() && !(interruptLine && runner.id() == 0) && !runner.hasEvents()) {
                    try {
                        wakeup.wait();
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                        return false;
                    }
                }
                return interruptLine && runner.id() == 0 && !outcome.isDone();
            }
        }

        @Override
        public void interrupted(VcpuRunner runner, VirtualCpu vcpu) {
            if (KernelHaltWatch.haltedForGood(runner.id(), vcpu)) {
                finish(Outcome.Exited.HALTED);
            }
        }

        @Override
        public void wakeWaiters() {
            synchronized (wakeup) {
                wakeup.notifyAll();
            }
        }

        @Override
        public void failed(int id, Throwable failure) {
            finish(new Outcome.Failed("vCPU " + id + ": " + ExitReport.describe(failure)));
        }
    }

    // ---- pause, resume, handoff --------------------------------------------------------------------------------

    /** One move of every vCPU between backends: how long stopping them took, and the move itself (save, load, compare). */
    public record Handoff(Backend from, Backend to, java.time.Duration pause, java.time.Duration move) {
    }

    /**
     * Stops every vCPU at an instruction boundary, with any port or MMIO access in flight completed, and keeps
     * them stopped until {@link #resume()}. Returns false when the guest ended first (there is nothing to resume
     * then). Call it from a thread of your own while {@link #run()} runs, not from a vCPU thread.
     */
    @Override
    public boolean pause() {
        if (runners.stream().anyMatch(VcpuRunner::isRunnerThread)) {
            throw new IllegalStateException("pause() from a vCPU thread would wait for itself");
        }
        boolean interrupted = false;
        synchronized (wakeup) {
            if (!running) {
                throw new MachineException("cannot pause: the machine is not running (call run() first)");
            }
            while (paused && !outcome.isDone()) {
                // another pause or a scheduled handoff is in force: take the next turn
                interrupted |= Threads.awaitNotification(wakeup, 0);
            }
            if (outcome.isDone()) {
                Threads.reassertInterrupt(interrupted);
                return false;
            }
            paused = true;
        }
        Threads.reassertInterrupt(interrupted);
        boolean all = true;
        for (CompletableFuture<Object> answer : postToAll(VcpuRunner.Pause::new)) {
            all &= answer.join() != VcpuRunner.ENDED;
        }
        if (!all || outcome.isDone()) {
            synchronized (wakeup) {
                paused = false;
                wakeup.notifyAll();
            }
            return false;
        }
        devices.hold(); // the devices' own threads finish what the guest gave them, then wait: RAM holds still for any copy
        return true;
    }

    /** Lets the paused vCPUs run on, on whichever backend they are now. */
    @Override
    public void resume() {
        synchronized (wakeup) {
            if (!paused) {
                throw new MachineException("cannot resume: the machine is not paused");
            }
        }
        devices.proceed();
        for (CompletableFuture<Object> answer : postToAll(VcpuRunner.Resume::new)) {
            answer.join();
        }
        synchronized (wakeup) {
            paused = false;
            wakeup.notifyAll();
        }
    }

    private List<CompletableFuture<Object>> postToAll(java.util.function.Supplier<VcpuRunner.Event> event) {
        List<CompletableFuture<Object>> answers = new ArrayList<>();
        for (VcpuRunner r : runners) {
            answers.add(r.post(event.get()));
        }
        return answers;
    }

    /** Every vCPU's state record: through its runner once run() started (paused), else read directly. */
    private List<VcpuState> saveAll(String what) {
        requirePaused(what);
        List<VcpuState> states = new ArrayList<>();
        if (!isRunning()) {
            for (VcpuRunner r : runners) {
                states.add(r.vcpu().saveState());
            }
            return states;
        }
        for (CompletableFuture<Object> answer : postToAll(VcpuRunner.SaveState::new)) {
            Object o;
            try {
                o = answer.join();
            } catch (java.util.concurrent.CompletionException e) {
                throw e.getCause() instanceof RuntimeException r ? r : e;
            }
            if (o == VcpuRunner.ENDED) {
                throw new MachineException("cannot " + what + ": the guest has ended");
            }
            states.add((VcpuState) o);
        }
        return states;
    }

    private boolean isRunning() {
        synchronized (wakeup) {
            return running;
        }
    }

    /**
     * Pauses, moves every vCPU to {@code target} and resumes: the whole state record goes across (through
     * KVM_GET_XSAVE2/KVM_SET_XSAVE, registers, special registers, XCR0, MSRs, events, debug registers) and guest
     * memory and devices stay where they are. Empty when the guest ended first. A refused or failed move is a
     * {@link MachineException} and the VM runs on where it was.
     */
    public Optional<Handoff> handOff(Backend target) {
        requireCanMoveTo(target);
        long start = System.nanoTime();
        if (!pause()) {
            return Optional.empty();
        }
        try {
            return Optional.of(moveWhilePaused(target, start));
        } finally {
            resume();
        }
    }

    /**
     * Moves the paused vCPUs to {@code target}. For each: save its state, make it on the target over the same
     * guest memory, load the state, read it back and compare bit for bit. Only when every vCPU compared equal do
     * they switch; otherwise the error names the first field that differs and the VM stays on its backend.
     */
    public Handoff switchBackend(Backend target) {
        requireCanMoveTo(target);
        return moveWhilePaused(target, System.nanoTime());
    }

    /**
     * {@link #switchBackend} without asking whether this host's KVM can run the guest: for tests that move a machine
     * that is not run (a PC platform's, whose kernel kvm_pvm cannot run) to check what goes where.
     */
    Handoff moveUncheckedForTest(Backend target) {
        return moveWhilePaused(target, System.nanoTime());
    }

    /** The PC platform (null without one) and the KVM VM (null before a vCPU was made on KVM), for tests. */
    PcPlatform platform() {
        return devices.platform();
    }

    io.jkvm.kvm.Vm kvmVm() {
        return factory.kvmVm();
    }

    /** Paused (every runner answered the pause), or not running at all (built, not yet run: nothing moves then either). */
    private void requirePaused(String what) {
        synchronized (wakeup) {
            if (running && !paused) {
                throw new MachineException("cannot " + what + ": pause the machine first");
            }
        }
    }

    /**
     * Hands the vCPUs to the other backend after every {@code exits} port I/O exits of vCPU 0 (0: never); a CPU
     * model this host's KVM cannot run is remade on the software core each time instead. Before run().
     */
    public void handOffEvery(long exits) {
        scheduled.every(exits);
    }

    /** The handoffs done so far, in order. */
    public List<Handoff> handoffs() {
        return List.copyOf(handoffs);
    }

    private void requireCanMoveTo(Backend target) {
        String why = BackendMoves.refusal(target, backend, migration.underWay(), factory.hasKvm(), config, missingOnKvm,
                otherKvmObstacles, lackingOnCore);
        if (why != null) {
            throw new MachineException(why);
        }
    }

    private Handoff moveWhilePaused(Backend target, long pauseStart) {
        long moveStart = System.nanoTime();
        Backend from = backend;
        long clock = factory.kvmClock(vcpus()); // the guest's kvmclock goes on from here on the target
        PcPlatform platform = devices.platform();
        boolean controllersInKernel = platform != null && platform.inKernel();
        List<VcpuState> saved = saveAll("switch backends");
        List<VirtualCpu> moved;
        if (controllersInKernel) {
            platform.fromKernel(vcpus(), true); // the vCPUs leave KVM: jkvm's models run the controllers again
        }
        try {
            moved = BackendMoves.load(saved, runners.getFirst().vcpu().tscKhz(), from, target, factory);
            factory.setKvmClock(moved, clock);
            if (platform != null && target == Backend.KVM) {
                platform.toKernel(factory.kvmVm(), moved);
            }
        } catch (RuntimeException e) {
            if (controllersInKernel && !platform.inKernel()) {
                platform.toKernel(factory.kvmVm(), vcpus()); // the move failed: KVM keeps running them
            }
            throw e;
        }
        for (int id = 0; id < moved.size(); id++) {
            if (isRunning()) {
                runners.get(id).post(new VcpuRunner.Replace(moved.get(id))).join();
            } else {
                runners.get(id).replaceUnstarted(moved.get(id));
            }
        }
        backend = target;
        VirtualCpu bsp = moved.getFirst();
        devices.connect(moved); // the interrupt controllers follow the vCPUs to their new backend
        interruptTarget = bsp;
        bsp.setInterruptLine(interruptLine);
        long end = System.nanoTime();
        Handoff h = new Handoff(from, target, java.time.Duration.ofNanos(moveStart - pauseStart),
                java.time.Duration.ofNanos(end - moveStart));
        handoffs.add(h);
        return h;
    }

    /** A scheduled move, paused around it, to the other backend (a model KVM cannot run: remade on the core). */
    private void moveToTheOtherBackend(long requested) {
        if (!pause()) {
            return;
        }
        try {
            // As state_test.c does for a model KVM cannot run: save, a new vCPU, restore, compare
            Backend target = backend == Backend.KVM || !missingOnKvm.isEmpty() || !otherKvmObstacles.isEmpty()
                    || !factory.hasKvm() ? Backend.EMULATOR : Backend.KVM;
            requireCanMoveTo(target);
            Handoff h = moveWhilePaused(target, requested);
            if (config.trace()) {
                console.trace().printf("jkvm: handoff %d: %s to %s, paused in %d us, moved in %d us%n", handoffs.size(),
                        BackendMoves.name(h.from()), BackendMoves.name(h.to()), h.pause().toNanos() / 1000,
                        h.move().toNanos() / 1000);
            }
        } finally {
            resume();
        }
    }

    /** vCPU 0's INTR input changed: passes it to the vCPU and wakes a machine-side HLT wait. */
    private void interruptLineChanged(boolean raised) {
        interruptLine = raised;
        VirtualCpu target = interruptTarget;
        if (target != null) {
            target.setInterruptLine(raised);
        }
        if (raised) {
            synchronized (wakeup) {
                wakeup.notifyAll();
            }
        }
    }

    /**
     * What keeps this host's KVM from running the kernel of a machine state that holds a PC platform's devices (a
     * machine booted with --kernel); empty for any other state, or where KVM runs it.
     */
    public static Optional<String> platformKvmObstacle(MachineState state) {
        return DeviceManager.hasPlatform(state)
                ? Optional.ofNullable(KernelLoading.kvmObstacle()) : Optional.empty();
    }

    /**
     * Frees the machine: its devices, its backend and guest memory. A run under way on another thread ends first,
     * as {@link #stop} ends it, and its vCPU threads are waited for, so none runs on memory that is gone.
     */
    @Override
    public void close() {
        boolean runElsewhere;
        synchronized (wakeup) {
            closed = true;
            runElsewhere = runThread != null && runThread != Thread.currentThread();
        }
        if (runElsewhere) {
            finish(new Outcome.Exited(0, "the machine was closed while it ran"));
            runEnded.join();
        }
        migration.endAndAwait(); // a live migration still reading guest RAM (the guest ended mid-round) stops first
        Threads.closeQuietly(devices, factory, memory);
    }

    /** The VM as the control socket reports it. */
    @Override
    public VmInfo info() {
        VmInfo.State state;
        synchronized (wakeup) {
            state = outcome.isDone() ? VmInfo.State.ENDED : paused ? VmInfo.State.PAUSED : VmInfo.State.RUNNING;
        }
        return new VmInfo(state, backend == Backend.KVM ? "kvm" : "emulator", runners.size(), memory.layout().size(), model.spec(),
                migration.progress());
    }

    /** Ends the VM, paused or running: run() returns, and `jkvm run` exits with status 0. */
    @Override
    public void stop() {
        finish(new Outcome.Exited(0, "stopped through the control socket"));
    }

    /** Draws a live migration's progress on {@code terminal} as one line redrawn in place (null: only through info). */
    public void showMigrationProgressOn(java.io.PrintStream terminal) {
        migration.showProgressOn(terminal);
    }

    /** The key a live migration from this machine authenticates and encrypts its stream with ({@code --migration-key}). */
    public void migrationKey(byte[] key) {
        migration.key(key);
    }

    /**
     * Live-migrates this machine to {@code target} (tcp:HOST:PORT): the vCPUs run on while guest RAM goes across in
     * pre-copy rounds, then stop for the last pages and the state; this machine ends once the guest runs there. On any
     * failure it runs on here, and the message says what happened.
     */
    @Override
    public MigrationResult migrate(String target, long maxDowntimeMillis) {
        return migration.migrate(target, maxDowntimeMillis, new MigrationAdapter(this, memory, model, factory, devices));
    }

    @Override
    public boolean cancelMigration() {
        return migration.cancel();
    }

    String migrationStopReason() {
        return migration.stopReason();
    }

    void migrationConnected(java.io.Closeable connection) {
        migration.connected(connection);
    }

    /** Whether a pause is in force (the vCPUs are stopped until resume()). */
    boolean isPaused() {
        synchronized (wakeup) {
            return paused;
        }
    }

    /**
     * Runs {@code action} with every vCPU stopped: inside the pause in force, a pause of its own, or once the run has
     * ended (a migration's thread, never run()'s, calls this).
     */
    void whileStopped(Runnable action) {
        boolean ownPause;
        synchronized (wakeup) {
            ownPause = running && !paused;
        }
        if (ownPause && !pause()) {
            runEnded.join(); // the guest has ended: once run() returns, its vCPU threads are gone for good
            ownPause = false;
        }
        try {
            action.run();
        } finally {
            if (ownPause) {
                resume();
            }
        }
    }

    /** The guest runs on the destination now: this machine's run ends with status 0. */
    void endMigrated(String destination) {
        finish(new Outcome.Exited(0, "migrated to " + destination));
    }

    /** The backend the vCPUs run on (auto resolved). */
    public Backend backend() {
        return backend;
    }

    public MachineConfig config() {
        return config;
    }
}

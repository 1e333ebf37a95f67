package io.jkvm.machine;

import io.jkvm.emu.EmulatedVcpu;
import io.jkvm.kvm.Kvm;
import io.jkvm.kvm.Vcpu;
import io.jkvm.kvm.Vm;
import io.jkvm.x86.CpuFeature;
import io.jkvm.x86.CpuModel;
import io.jkvm.x86.CpuidEntry;
import io.jkvm.x86.XsaveException;
import io.jkvm.x86.CpuidTable;
import io.jkvm.x86.Registers;
import io.jkvm.x86.SpecialRegisters;
import io.jkvm.x86.VcpuExit;
import io.jkvm.x86.VirtualCpu;

import java.io.IOException;
import java.io.InputStream;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;

/**
 * A VM as a user sees it: guest RAM, the image loaded per the entry contract, a UART and a debug-exit port,
 * and one thread per vCPU. vCPU 0 runs; the others wait halted until SMP boot exists.
 */
public final class Machine implements AutoCloseable {
    private final MachineConfig config;
    private final Kvm kvm;
    private final Vm vm; // null when the software core runs the vCPUs
    private final GuestMemory memory;
    private final List<VirtualCpu> vcpus = new ArrayList<>();
    private final Bus ports = new Bus("port I/O");
    private final Bus mmio = new Bus("MMIO");
    private final Serial16550 serial;
    private final Pic8259 pic;
    /** The PIC's INTR output, as last reported (read without the PIC's lock while waiting). */
    private volatile boolean interruptLine;
    /** The vCPU INTR goes to: vCPU 0, as the PIC is wired to the bootstrap processor's LINT0. */
    private volatile VirtualCpu interruptTarget;
    private final Console console;
    private final CompletableFuture<Outcome> outcome = new CompletableFuture<>();
    private final Object wakeup = new Object();
    private Backend backend;

    private Machine(MachineConfig config, Console console, GuestImage image) {
        this.config = config;
        this.console = console;
        this.pic = new Pic8259(this::interruptLineChanged);
        this.serial = new Serial16550(console.out(), raised -> pic.setIrq(Serial16550.IRQ, raised));
        Kvm k = Kvm.open(config.kvmPath());
        Vm v = null;
        GuestMemory m = null;
        CpuModel model;
        try {
            Kvm.permitDynamicXsaveFeatures(); // before the VM and the supported-CPUID read, as amx_test.c does
            CpuidTable host = k.supportedCpuid();
            try {
                model = CpuModel.parse(config.cpuModel(), host);
            } catch (XsaveException e) {
                throw new MachineException("--cpu " + config.cpuModel() + ": " + e.getMessage(), e);
            }
            List<CpuFeature> missing = model.missingOn(host);
            backend = chooseBackend(config, missing);
            if (backend == Backend.EMULATOR && config.backend() == Backend.AUTO) {
                console.trace().println("jkvm: this host's KVM lacks " + describe(missing)
                        + ": running the vCPUs on the software core");
            }
            if (backend == Backend.KVM) {
                v = k.createVm();
            }
            m = GuestMemory.allocate(config.memorySize());
            LongModeBoot.writeTables(m);
            image.loadInto(m);
            if (v != null) {
                v.setUserMemoryRegion(0, 0, m.size(), m.hostAddress(), false);
            }
        } catch (RuntimeException e) {
            closeQuietly(m, v, k);
            throw e;
        }
        this.kvm = k;
        this.vm = v;
        this.memory = m;
        try {
            for (int id = 0; id < config.cpus(); id++) {
                vcpus.add(createVcpu(id, model.cpuid(), image.entry()));
            }
        } catch (RuntimeException e) {
            close();
            throw e;
        }
        ports.map(Serial16550.COM1, Serial16550.REGISTERS, serial);
        ports.map(Pic8259.MASTER_PORT, Pic8259.PORTS, pic.masterPorts());
        ports.map(Pic8259.SLAVE_PORT, Pic8259.PORTS, pic.slavePorts());
        VirtualCpu bsp = vcpus.getFirst();
        bsp.connectInterrupts(pic);
        interruptTarget = bsp;
        ports.map(DebugExit.PORT, 1, new DebugExit(status -> finish(new Outcome.Exited(status, "debug-exit"))));
    }

    /** Builds the machine: opens KVM, allocates RAM, loads the image and sets every vCPU at the entry point. */
    public static Machine create(MachineConfig config, Console console) {
        GuestImage image = config.image()
                .map(p -> GuestImage.read(p, config.loadAddress()))
                .orElseGet(GuestImage::bundled);
        return new Machine(config, console, image);
    }

    private VirtualCpu createVcpu(int id, CpuidTable modelCpuid, long entry) {
        CpuidTable cpuid = withApicId(modelCpuid, id);
        VirtualCpu vcpu;
        if (vm != null) {
            Vcpu kvmVcpu = vm.createVcpu(id);
            kvmVcpu.setCpuid(cpuid);
            vcpu = kvmVcpu;
        } else {
            EmulatedVcpu emulated = new EmulatedVcpu(id, memory.mapping(), cpuid);
            if (config.trace()) {
                emulated.traceUndefined(line -> console.trace().println("jkvm: " + line));
            }
            vcpu = emulated;
        }
        vcpu.setSpecialRegisters(LongModeBoot.specialRegisters(vcpu.specialRegisters(), cpuid.hasXsave()));
        if (cpuid.hasXsave()) {
            vcpu.setXcr0(LongModeBoot.xcr0());
        }
        vcpu.setRegisters(LongModeBoot.registers(entry, memory.size()));
        return vcpu;
    }

    /**
     * The backend a VM runs on: what was asked, or for auto, KVM when the host runs every feature of the CPU model
     * and the software core when it does not. Asking for KVM with a feature the host lacks is an error.
     */
    public static Backend chooseBackend(MachineConfig config, List<CpuFeature> missing) {
        return switch (config.backend()) {
            case EMULATOR -> Backend.EMULATOR;
            case AUTO -> missing.isEmpty() ? Backend.KVM : Backend.EMULATOR;
            case KVM -> {
                if (!missing.isEmpty()) {
                    throw new MachineException("--cpu " + config.cpuModel() + " needs " + describe(missing)
                            + ", which this host's KVM lacks: use --backend auto or emulator to run it on the software core");
                }
                yield Backend.KVM;
            }
        };
    }

    static String describe(List<CpuFeature> features) {
        return features.stream().map(f -> f.qemuName() + " (" + f.cpuidBit() + ")")
                .collect(java.util.stream.Collectors.joining(", "));
    }

    /** CPUID leaf 1 EBX[31:24] is the initial APIC ID: each vCPU sees its own. */
    private static CpuidTable withApicId(CpuidTable table, int id) {
        List<CpuidEntry> entries = new ArrayList<>();
        for (CpuidEntry e : table.entries()) {
            if (e.function() == 1) {
                e = new CpuidEntry(1, e.index(), e.flags(), e.eax(), (e.ebx() & 0x00FF_FFFF) | (id << 24), e.ecx(), e.edx());
            }
            entries.add(e);
        }
        return new CpuidTable(entries);
    }

    public GuestMemory memory() {
        return memory;
    }

    public List<VirtualCpu> vcpus() {
        return List.copyOf(vcpus);
    }

    /** Runs until the guest ends or fails; returns how. */
    public Outcome run() {
        Thread input = startInputPump();
        List<Thread> threads = new ArrayList<>();
        for (VirtualCpu vcpu : vcpus) {
            threads.add(Thread.ofPlatform().name("vcpu-" + vcpu.id()).start(() -> runVcpu(vcpu)));
        }
        Outcome result = outcome.join();
        for (VirtualCpu vcpu : vcpus) {
            vcpu.requestExit();
        }
        synchronized (wakeup) {
            wakeup.notifyAll();
        }
        for (Thread t : threads) {
            joinUninterruptibly(t);
        }
        if (input != null) {
            input.interrupt();
        }
        return result;
    }

    private void finish(Outcome o) {
        if (outcome.complete(o)) {
            for (VirtualCpu vcpu : vcpus) {
                vcpu.requestExit();
            }
            synchronized (wakeup) {
                wakeup.notifyAll();
            }
        }
    }

    private void runVcpu(VirtualCpu vcpu) {
        try {
            if (vcpu.id() != 0) {
                waitForStop(); // application processors stay halted until SMP boot is implemented
                return;
            }
            while (!outcome.isDone()) {
                handle(vcpu, vcpu.run());
            }
        } catch (RuntimeException e) {
            finish(new Outcome.Failed("vCPU " + vcpu.id() + ": " + e.getMessage()));
        }
    }

    private void handle(VirtualCpu vcpu, VcpuExit exit) {
        switch (exit) {
            case VcpuExit.Io io -> {
                for (int i = 0; i < io.count(); i++) {
                    if (io.out()) {
                        ports.write(io.port(), io.size(), io.data().get(i));
                    } else {
                        io.data().set(i, ports.read(io.port(), io.size()));
                    }
                }
            }
            case VcpuExit.Mmio m -> {
                if (m.write()) {
                    mmio.write(m.address(), m.length(), m.data().get(0));
                } else {
                    m.data().set(0, mmio.read(m.address(), m.length()));
                }
            }
            case VcpuExit.Hlt h -> {
                Registers regs = vcpu.registers();
                if (!regs.interruptsEnabled()) {
                    finish(new Outcome.Exited(0, "HLT with interrupts disabled"));
                } else {
                    waitForInterrupt();
                }
            }
            case VcpuExit.Shutdown s -> finish(new Outcome.Failed(
                    "guest shut down (KVM_EXIT_SHUTDOWN, a triple fault) at " + where(vcpu)
                            + ": the guest hit an exception it could not handle; check its IDT, stack and page tables"));
            case VcpuExit.InternalError e -> finish(new Outcome.Failed(
                    (vm == null ? "the software core" : "KVM") + " could not run the guest (KVM_EXIT_INTERNAL_ERROR, suberror " + e.suberror()
                            + (e.suberror() == 1 ? ": emulation failure" : "") + ") at " + where(vcpu)
                            + ": this host's KVM cannot execute that instruction; change the guest or run it on another host"));
            case VcpuExit.FailEntry f -> finish(new Outcome.Failed(String.format(
                    "VM entry failed (KVM_EXIT_FAIL_ENTRY, hardware reason 0x%x, cpu %d) at %s: the vCPU state is invalid for this host",
                    f.hardwareReason(), f.cpu(), where(vcpu))));
            case VcpuExit.SystemEvent e -> {
                if (e.type() == 3) { // KVM_SYSTEM_EVENT_CRASH
                    finish(new Outcome.Failed("guest reported a crash (KVM_EXIT_SYSTEM_EVENT crash) at " + where(vcpu)));
                } else {
                    finish(new Outcome.Exited(0, "system event " + e.type()));
                }
            }
            case VcpuExit.Interrupted i -> {
                if (!outcome.isDone()) {
                    vcpu.clearExitRequest(); // a stray signal: go on running
                }
            }
            case VcpuExit.Unknown u -> finish(new Outcome.Failed(String.format(
                    "KVM stopped the vCPU with exit reason %d, which jkvm does not handle, at %s", u.reason(), where(vcpu))));
        }
    }

    /** "RIP 0x… (bytes 0f 01 d0 …)": the instruction bytes are read through the guest's page tables. */
    private String where(VirtualCpu vcpu) {
        try {
            long rip = vcpu.registers().rip();
            long cr3 = vcpu.specialRegisters().cr3();
            byte[] bytes = memory.readLinear(cr3, rip, 15);
            String hex = bytes.length == 0 ? "unmapped" : HexFormat.ofDelimiter(" ").formatHex(bytes);
            return String.format("RIP 0x%x (bytes at RIP: %s)", rip, hex);
        } catch (RuntimeException e) {
            return "an unknown RIP (" + e.getMessage() + ")";
        }
    }

    /** Called under the PIC's lock on every change of INTR: passes it to the vCPU and wakes a machine-side HLT wait. */
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

    /** HLT with interrupts enabled on KVM (the software core waits inside its vCPU): until INTR rises. */
    private void waitForInterrupt() {
        synchronized (wakeup) {
            while (!outcome.isDone() && !interruptLine) {
                try {
                    wakeup.wait();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    return;
                }
            }
        }
    }

    private void waitForStop() {
        synchronized (wakeup) {
            while (!outcome.isDone()) {
                try {
                    wakeup.wait();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    return;
                }
            }
        }
    }

    /** Feeds console input to the UART from a daemon thread; it ends at end of input. */
    private Thread startInputPump() {
        InputStream in = console.in();
        if (in == null) {
            return null;
        }
        return Thread.ofPlatform().daemon().name("serial-input").start(() -> {
            try {
                int b;
                while (!outcome.isDone() && (b = in.read()) >= 0) {
                    serial.receive((byte) b);
                }
            } catch (IOException e) {
                // console input closed: the guest just stops receiving
            }
        });
    }

    private static void joinUninterruptibly(Thread t) {
        boolean interrupted = false;
        while (true) {
            try {
                t.join();
                break;
            } catch (InterruptedException e) {
                interrupted = true;
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }

    private static void closeQuietly(AutoCloseable... resources) {
        for (AutoCloseable r : resources) {
            if (r != null) {
                try {
                    r.close();
                } catch (Exception ignored) {
                    // already failing: the first error is the one reported
                }
            }
        }
    }

    @Override
    public void close() {
        closeQuietly(vm, memory, kvm);
    }

    /** The backend the vCPUs run on (auto resolved). */
    public Backend backend() {
        return backend;
    }

    public MachineConfig config() {
        return config;
    }
}

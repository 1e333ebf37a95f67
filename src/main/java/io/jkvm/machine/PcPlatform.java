package io.jkvm.machine;

import io.jkvm.acpi.AcpiTables;
import io.jkvm.devices.AcpiPm;
import io.jkvm.devices.Bus;
import io.jkvm.devices.CmosRtc;
import io.jkvm.devices.Device;
import io.jkvm.devices.FwCfg;
import io.jkvm.devices.I8042;
import io.jkvm.devices.InterruptLine;
import io.jkvm.devices.IoApic;
import io.jkvm.devices.LocalApic;
import io.jkvm.devices.PcTestDev;
import io.jkvm.devices.Persist;
import io.jkvm.devices.Pic8259;
import io.jkvm.devices.Pit8254;
import io.jkvm.devices.virtio.VirtioBlk;
import io.jkvm.devices.virtio.VirtioMmio;
import io.jkvm.devices.virtio.VirtioNet;
import io.jkvm.devices.virtio.VirtioRng;
import io.jkvm.emu.EmulatedVcpu;
import io.jkvm.x86.VcpuExit;
import io.jkvm.x86.VirtualCpu;

import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;
import java.util.function.IntFunction;

/**
 * The PC devices a kernel booted with {@code --kernel} finds besides the serial port and the 8259s: a local APIC per
 * vCPU (the 8259 on the boot processor's LINT0), the I/O APIC, the 8254 PIT (and port 0x61), the CMOS clock, the
 * 8042's reset line, fw_cfg, and with {@code --device pc-testdev} QEMU's test device. ISA interrupt lines reach both
 * the 8259s and the I/O APIC.
 * It routes the APICs' interprocessor interrupts: fixed and lowest-priority ones to the destination APICs, INIT and
 * STARTUP to the destination vCPUs' runners, which carry them out between two runs.
 */
final class PcPlatform implements LocalApic.Messages {
    private final List<LocalApic> apics = new ArrayList<>();
    private final IoApic ioapic = new IoApic(this::send);
    private final Pit8254 pit = new Pit8254(isaLine(0));
    private final Pic8259 pic;
    private final CmosRtc rtc = new CmosRtc(isaLine(8));
    private final FwCfg fwCfg;
    private final I8042 keyboardController;
    private final PcTestDev testDevice;
    private final AcpiPm acpiPm;
    private final List<VirtioMmio> virtio = new ArrayList<>();
    private final GuestMemory memory;
    /** Where virtio-mmio slot 0 is (QEMU's microvm uses the same window), and how many slots there are. */
    static final long VIRTIO_BASE = 0xFEB00000L;
    static final int VIRTIO_SLOTS = 8, VIRTIO_FIRST_PIN = 16;
    /** The guest is in ACPI S3, waiting for the RTC alarm to wake it. */
    private volatile boolean suspended;
    /** The PC's reset control register (the FADT's reset register): a write with RST_CPU resets the machine. */
    static final int RESET_PORT = 0xCF9;
    /** Where the ACPI tables are (in the BIOS area, reserved in the memory map) and the registers they describe. */
    static final long ACPI_TABLES = 0xF0000;
    private static final AcpiTables.Platform ACPI = new AcpiTables.Platform(LocalApic.DEFAULT_BASE, IoApic.BASE, 0, 0x600, 9,
            RESET_PORT, 0x6);
    private final IntFunction<VcpuRunner> runners;
    private final Consumer<String> trace;
    private final java.util.Set<String> saidOnce = java.util.concurrent.ConcurrentHashMap.newKeySet();
    /**
     * KVM's in-kernel irqchip while it runs the PICs, the I/O APIC and the local APICs (the vCPUs on KVM): device lines
     * go to its GSIs, and jkvm's own models hold still until their state comes back ({@link #fromKernel}); null: jkvm's.
     */
    private volatile io.jkvm.kvm.Vm kernel;
    /** The virtio devices' ioeventfds and irqfds while the kernel runs the controllers (none without virtio devices). */
    private volatile KernelDeviceEvents deviceEvents;
    private static final int IA32_TSC_DEADLINE = 0x6E0;

    /**
     * Builds the devices for {@code cpus} vCPUs: vCPU 0's interrupt output goes to {@code bspLine} (the machine's INTR
     * line, which its HLT wait watches), the others' straight to their vCPUs.
     */
    PcPlatform(int cpus, GuestMemory memory, boolean testDevice, List<VirtioConfig> virtioDevices, Pic8259 pic, Bus ports,
               Bus mmio, IntFunction<VcpuRunner> runners, InterruptLine bspLine, Consumer<Outcome> end, Consumer<String> trace) {
        this.runners = runners;
        this.trace = trace;
        this.pic = pic;
        this.memory = memory;
        mmio.map(IoApic.BASE, IoApic.SIZE, ioapic);
        for (int id = 0; id < cpus; id++) {
            final int n = id;
            InterruptLine line = id == 0 ? bspLine : raised -> runners.apply(n).vcpu().setInterruptLine(raised);
            apics.add(new LocalApic(id, this, line, id == 0 ? pic : null, new RunnerProgress(() -> runners.apply(n))));
        }
        fwCfg = new FwCfg(memory.layout().size(), cpus);
        ports.map(FwCfg.PORT, FwCfg.PORTS, fwCfg);
        ports.map(Pit8254.PORT, Pit8254.PORTS, pit.ports());
        ports.map(Pit8254.SPEAKER_PORT, 1, pit.speakerPort());
        ports.map(CmosRtc.PORT, CmosRtc.PORTS, rtc);
        rtc.onAlarm(() -> wake(end));
        Runnable reset = () -> end.accept(new Outcome.Reset("the guest reset the machine"));
        keyboardController = new I8042(reset);
        acpiPm = new AcpiPm(slpTyp -> sleep(slpTyp, end));
        ports.map(ACPI.pmBase(), AcpiPm.PORTS, acpiPm);
        ports.map(RESET_PORT, 1, Device.writeOnly((at, size, value) -> {
            if ((value & 4) != 0) { // RST_CPU: the reset the FADT's reset register asks for
                reset.run();
            }
        }));
        ports.map(I8042.DATA_PORT, 1, keyboardController.dataPort());
        ports.map(I8042.COMMAND_PORT, 1, keyboardController.commandPort());
        this.testDevice = testDevice ? new PcTestDev(this::isaLine) : null;
        if (testDevice) {
            ports.map(PcTestDev.SCRATCH_PORT, PcTestDev.SCRATCH_PORTS, this.testDevice.scratchPorts());
            ports.map(PcTestDev.IRQ_PORT, PcTestDev.IRQ_PORTS, this.testDevice.irqPorts());
            mmio.map(PcTestDev.MMIO_BASE, PcTestDev.MMIO_SIZE, this.testDevice.memory());
        }
        try {
            for (int slot = 0; slot < virtioDevices.size(); slot++) {
                VirtioMmio device = virtioDevice(slot, virtioDevices.get(slot));
                virtio.add(device);
                mmio.map(VIRTIO_BASE + slot * VirtioMmio.SIZE, VirtioMmio.SIZE, device);
            }
        } catch (RuntimeException e) {
            virtio.forEach(VirtioMmio::close);
            throw e;
        }
        virtio.forEach(VirtioMmio::start);
    }

    /** The device of {@code config} in {@code slot} (fewer than VIRTIO_SLOTS: KernelLoading and virtioIn bound them). */
    private VirtioMmio virtioDevice(int slot, VirtioConfig config) {
        int pin = VIRTIO_FIRST_PIN + slot;
        InterruptLine line = level -> {
            KernelDeviceEvents events = deviceEvents;
            if (events != null) {
                events.line(slot, level);
            } else {
                isaIrq(pin, level);
            }
        };
        String id = config.id(slot);
        return switch (config) {
            case VirtioConfig.Disk d -> {
                String problem = VirtioConfig.problem(d);
                if (problem != null) {
                    throw new MachineException(problem);
                }
                try {
                    yield new VirtioBlk(id, d.image(), d.readOnly(), memory, line, trace);
                } catch (VirtioBlk.ImageLockedException e) {
                    throw new MachineException("--disk " + d.image() + " is in use by another jkvm (it holds the image's lock): stop"
                            + " that one, or give this one a copy of the image" + (d.readOnly() ? "" : " (or ,ro on both)"));
                } catch (java.io.IOException e) {
                    throw new MachineException("--disk " + d.image() + ": cannot open it: " + e.getMessage());
                }
            }
            case VirtioConfig.Rng r -> new VirtioRng(id, memory, line, trace);
            case VirtioConfig.Net n -> new VirtioNet(id, n.tap(), java.util.HexFormat.ofDelimiter(":").parseHex(
                    n.mac() != null ? n.mac() : VirtioConfig.defaultMac(slot)), PcPlatform::openTap, memory, line, trace);
        };
    }

    /** Attaches to TAP {@code name}, or one line saying why it cannot be had and what to do. */
    static io.jkvm.linux.Tap openTap(String name) {
        if (!io.jkvm.linux.Tap.exists(name)) {
            throw new MachineException("--net tap=" + name + ": there is no network interface " + name + " here: create it"
                    + " with 'ip tuntap add " + name + " mode tap' (and 'ip link set " + name + " up')");
        }
        try {
            return io.jkvm.linux.Tap.open(name);
        } catch (io.jkvm.linux.LinuxException e) {
            throw new MachineException("--net tap=" + name + ": " + switch (e.errno()) {
                case 1, 13 -> "this user may not attach to it: run jkvm with CAP_NET_ADMIN, or make the TAP this user's"
                        + " ('ip tuntap add " + name + " mode tap user NAME')";
                case 16 -> "another process has it attached (another jkvm or QEMU): stop that one, or give this VM its own TAP";
                case 22 -> "it is not a TAP device (a TUN, or another kind of interface): give a TAP";
                default -> e.getMessage();
            });
        }
    }

    /** Lets go of what each virtio device holds on the host (images' locks, TAPs): the machine's state is going elsewhere. */
    void handOver() {
        virtio.forEach(VirtioMmio::handOver);
    }

    /** Holds again what {@link #handOver()} let go; a device whose host side another process took meanwhile is a warning line. */
    void takeBack() {
        for (VirtioMmio v : virtio) {
            if (!v.takeBack()) {
                trace.accept("jkvm: warning: " + v.name() + "'s host side (its image's lock, its TAP) was taken by another"
                        + " process while the migration failed: it may be shared with another VM now");
            }
        }
    }

    /** Holds every virtio device once it has served what the driver gave it: while paused, RAM and devices agree. */
    void hold() {
        virtio.forEach(VirtioMmio::hold);
    }

    /** Lets the virtio devices work again after {@link #hold()}. */
    void proceed() {
        virtio.forEach(VirtioMmio::proceed);
    }

    /** The ACPI tables for {@code cpus} vCPUs and {@code virtioSlots} virtio-mmio devices, to be placed at {@link #ACPI_TABLES}. */
    static byte[] acpiTables(int cpus, int virtioSlots) {
        List<AcpiTables.MmioDevice> devices = new ArrayList<>();
        for (int slot = 0; slot < virtioSlots; slot++) {
            devices.add(new AcpiTables.MmioDevice(VIRTIO_BASE + slot * VirtioMmio.SIZE, VirtioMmio.SIZE, VIRTIO_FIRST_PIN + slot));
        }
        return AcpiTables.build(ACPI, cpus, ACPI_TABLES, devices);
    }

    /** Says {@code line} the first time {@code what} happens only: a guest repeating it must not flood the terminal. */
    private void sayOnce(String what, String line) {
        if (saidOnce.add(what)) {
            trace.accept(line);
        }
    }

    /** SLP_EN with {@code slpTyp}: S5 powers off, S3 suspends; any other state is not one jkvm's machine enters. */
    private void sleep(int slpTyp, Consumer<Outcome> end) {
        if (slpTyp == AcpiTables.SLP_TYP_S5) {
            end.accept(new Outcome.Exited(0, "the guest powered off (ACPI S5)"));
        } else if (slpTyp == AcpiTables.SLP_TYP_S3) {
            suspend(end);
        } else {
            sayOnce("sleep " + slpTyp, "jkvm: the guest asked for ACPI sleep type " + slpTyp + ", which jkvm does not enter: it runs on");
        }
    }

    /**
     * ACPI S3: every vCPU goes to INIT's wait state and every local APIC is reset, RAM kept; the RTC alarm, where PM1's
     * RTC_EN lets it wake the machine, resumes the boot processor in real mode at the FACS's waking vector, as
     * firmware does (the kernel starts its application processors again). With no wake event, or on KVM, the run ends.
     */
    private void suspend(Consumer<Outcome> end) {
        long nanos = rtc.nanosToAlarm();
        if (!acpiPm.rtcWakeEnabled() || nanos < 0) {
            end.accept(new Outcome.Exited(0, "the guest suspended to ACPI S3 with no wake event enabled (the RTC alarm with"
                    + " PM1 RTC_EN): nothing can wake it"));
            return;
        }
        for (int id = 0; id < apics.size(); id++) {
            if (!(runners.apply(id).vcpu() instanceof EmulatedVcpu)) {
                end.accept(new Outcome.Failed("the guest suspended to ACPI S3 on KVM, which jkvm resumes from on the software"
                        + " core only yet: run it with --backend emulator"));
                return;
            }
        }
        for (int id = 0; id < apics.size(); id++) {
            apics.get(id).reset();
            runners.apply(id).post(new VcpuRunner.Init());
        }
        suspended = true; // the RTC's own alarm timer, armed since AIE was set, wakes it
    }

    /** The RTC alarm went off: in S3, the machine wakes, the boot processor at the FACS's waking vector. */
    private void wake(Consumer<Outcome> end) {
        if (!suspended) {
            return;
        }
        suspended = false;
        acpiPm.woke(AcpiPm.RTC_STS);
        long vector = memory.readInt(AcpiTables.facs(ACPI_TABLES) + 12) & 0xFFFFFFFFL;
        if (vector == 0 || vector >= 0x100000) {
            end.accept(new Outcome.Exited(0, String.format("the guest woke from ACPI S3 with waking vector 0x%x, which"
                    + " is not in real-mode memory: jkvm has no firmware to boot it again", vector)));
            return;
        }
        runners.apply(0).post(new VcpuRunner.Startup((int) (vector >>> 4), (int) (vector & 0xF)));
    }

    /** The id of the I/O APIC's record: a machine state with it is a PC platform's. */
    static final String IOAPIC = "ioapic";
    /** The id of the test device's record: a machine state with it had {@code --device pc-testdev}. */
    static final String TEST_DEVICE = "pc-testdev";
    private static final String LOCAL_APIC = "lapic";

    /**
     * The devices whose records a snapshot holds, by id: the local APICs (lapic0, lapic1, ... by vCPU), the I/O APIC,
     * the PIT, the CMOS clock, the 8042, fw_cfg and the test device if there is one.
     */
    java.util.SequencedMap<String, Persist<?>> devices() {
        java.util.SequencedMap<String, Persist<?>> devices = new java.util.LinkedHashMap<>();
        for (int id = 0; id < apics.size(); id++) {
            devices.put(LOCAL_APIC + id, apics.get(id));
        }
        devices.put(IOAPIC, ioapic);
        devices.put("pit", pit);
        devices.put("rtc", rtc);
        devices.put("i8042", keyboardController);
        devices.put("fw_cfg", fwCfg);
        devices.put("acpi-pm", acpiPm);
        if (testDevice != null) {
            devices.put(TEST_DEVICE, testDevice);
        }
        for (VirtioMmio device : virtio) {
            devices.put(device.name(), (Persist<?>) device);
        }
        return devices;
    }

    /** The record class of device {@code id} on a PC platform; null for an id it has not. */
    static Class<? extends Record> stateType(String id) {
        if (id.startsWith(LOCAL_APIC) && id.length() > LOCAL_APIC.length() && id.length() <= LOCAL_APIC.length() + 3
                && id.substring(LOCAL_APIC.length()).chars().allMatch(Character::isDigit)) {
            return LocalApic.State.class;
        }
        return switch (id) {
            case IOAPIC -> IoApic.State.class;
            case "pit" -> Pit8254.State.class;
            case "rtc" -> CmosRtc.State.class;
            case "i8042" -> I8042.State.class;
            case "fw_cfg" -> FwCfg.State.class;
            case "acpi-pm" -> AcpiPm.State.class;
            case TEST_DEVICE -> PcTestDev.State.class;
            default -> virtioSlot(id) < 0 ? null : switch (id.substring(0, id.length() - 1)) {
                case VirtioConfig.DISK -> VirtioBlk.State.class;
                case VirtioConfig.RNG -> VirtioRng.State.class;
                case VirtioConfig.NET -> VirtioNet.State.class;
                default -> null;
            };
        };
    }

    /** The slot a virtio device's id ends with (its kind, then one digit below VIRTIO_SLOTS), or -1 for no such id. */
    private static int virtioSlot(String id) {
        int slot = id.isEmpty() ? -1 : Character.digit(id.charAt(id.length() - 1), 10);
        return slot < VIRTIO_SLOTS ? slot : -1;
    }

    /**
     * The virtio devices a machine state had, in slot order, from their records (a disk's image path and mode): a
     * restore opens the same images. Slots must run from 0 without a gap, as the guest's DSDT lists them.
     */
    static List<VirtioConfig> virtioIn(io.jkvm.snapshot.MachineState state) {
        VirtioConfig[] slots = new VirtioConfig[VIRTIO_SLOTS];
        int count = 0;
        for (var e : state.devices().entrySet()) { // each record decoded as the class stateType names for its id
            VirtioConfig config = switch (e.getValue()) {
                case VirtioBlk.State b -> new VirtioConfig.Disk(java.nio.file.Path.of(b.path()), b.readOnly());
                case VirtioNet.State n -> new VirtioConfig.Net(n.tap(), n.mac());
                case VirtioRng.State r -> new VirtioConfig.Rng();
                default -> null;
            };
            if (config != null) {
                slots[virtioSlot(e.getKey())] = config;
                count++;
            }
        }
        for (int slot = 0; slot < count; slot++) {
            if (slots[slot] == null) {
                throw new MachineException("the snapshot's virtio devices do not fill slots 0 to " + (count - 1)
                        + " (slot " + slot + " is empty): it was not written by jkvm");
            }
        }
        return List.of(java.util.Arrays.copyOf(slots, count));
    }

    LocalApic apic(int id) {
        return apics.get(id);
    }

    /** ISA interrupt line {@code irq} as a device's output drives it: {@link #isaIrq}. */
    InterruptLine isaLine(int irq) {
        return level -> isaIrq(irq, level);
    }

    /**
     * ISA interrupt line {@code irq} (or, from 16, an I/O APIC pin alone): to the 8259s and to the I/O APIC, whose pin 2
     * the timer's IRQ 0 is wired to, as on every PC with an I/O APIC (the interrupt source override).
     */
    void isaIrq(int irq, boolean level) {
        io.jkvm.kvm.Vm k = kernel;
        if (k != null) {
            k.irqLine(irq, level); // GSI = line: the PC routing sends 0 to pin 2 (KernelIrqchip.pcRouting)
            return;
        }
        if (irq < 16) {
            pic.setIrq(irq, level);
        }
        ioapic.setIrq(irq == 0 ? 2 : irq, level);
    }

    @Override
    public void eoi(int vector) {
        ioapic.eoi(vector);
    }

    /** The 8259's INTR output: the boot processor's LINT0. */
    void picOutput(boolean raised) {
        apics.getFirst().lint0(raised);
    }

    /**
     * Connects vCPU {@code id} to its APIC: on the core as its APIC, on KVM as the controller it acknowledges; its
     * INTR input takes the APIC's output level.
     */
    void connect(int id, VirtualCpu vcpu) {
        if (kernel != null) {
            return; // KVM's own local APIC delivers to it
        }
        LocalApic apic = apics.get(id);
        if (vcpu instanceof EmulatedVcpu core) {
            core.connectApic(apic);
        } else {
            vcpu.connectInterrupts(apic);
        }
        vcpu.setInterruptLine(apic.output());
    }

    /**
     * Hands the interrupt controllers to KVM's in-kernel irqchip of {@code vm} (made with the PC routing) for the
     * vCPUs {@code vcpus} now on it: the 8259s and the I/O APIC through KVM_SET_IRQCHIP, each local APIC through
     * KVM_SET_LAPIC and its TSC deadline MSR; jkvm's models stop their timers, and device lines go to the kernel.
     */
    void toKernel(io.jkvm.kvm.Vm vm, List<VirtualCpu> vcpus) {
        KernelDeviceEvents events = virtio.isEmpty() ? null : new KernelDeviceEvents(vm, virtioSlots()); // first: a refusal changes nothing
        try {
            Pic8259.State p = pic.save();
            vm.setPic(io.jkvm.kvm.KernelIrqchip.Chip.PIC_MASTER, KernelIrqchipStates.toKernel(p.master(), true));
            vm.setPic(io.jkvm.kvm.KernelIrqchip.Chip.PIC_SLAVE, KernelIrqchipStates.toKernel(p.slave(), false));
            vm.setIoapic(KernelIrqchipStates.toKernel(ioapic.save(), IoApic.BASE));
            for (int id = 0; id < apics.size(); id++) {
                io.jkvm.kvm.KvmVcpu v = (io.jkvm.kvm.KvmVcpu) vcpus.get(id);
                v.connectInterrupts(null); // no KVM_INTERRUPT from jkvm's controllers: the kernel's inject
                v.setInterruptLine(false);
                LocalApic.State s = apics.get(id).save();
                v.setLapicRegisters(KernelIrqchipStates.lapicPage(s));
                if (s.tscDeadline() != 0) {
                    v.setMsrs(java.util.Map.of(IA32_TSC_DEADLINE, s.tscDeadline()));
                }
                apics.get(id).holdTimer();
            }
        } catch (RuntimeException e) {
            if (events != null) {
                events.close();
            }
            throw e;
        }
        kernel = vm;
        deviceEvents = events;
        for (int slot = 0; events != null && slot < virtio.size(); slot++) {
            events.line(slot, virtio.get(slot).interruptPending()); // a line up before the move stays up in the kernel
        }
    }

    /** Each virtio device with its MMIO window and its I/O APIC pin. */
    private List<KernelDeviceEvents.Slot> virtioSlots() {
        List<KernelDeviceEvents.Slot> slots = new ArrayList<>();
        for (int slot = 0; slot < virtio.size(); slot++) {
            slots.add(new KernelDeviceEvents.Slot(virtio.get(slot), VIRTIO_BASE + slot * VirtioMmio.SIZE, VIRTIO_FIRST_PIN + slot));
        }
        return slots;
    }

    /** The virtio devices' ioeventfds and irqfds while the kernel runs the controllers; null otherwise. */
    KernelDeviceEvents deviceEvents() {
        return deviceEvents;
    }

    /**
     * Takes the controllers' state back from the in-kernel irqchip into jkvm's models, for the vCPUs {@code vcpus}
     * still on KVM. {@code handBack}: the models run from now on (the vCPUs leave KVM); else the kernel keeps running
     * them and the models only hold a copy, as a snapshot takes it.
     */
    void fromKernel(List<VirtualCpu> vcpus, boolean handBack) {
        io.jkvm.kvm.Vm vm = kernel;
        if (vm == null) {
            return;
        }
        pic.restore(new Pic8259.State(
                KernelIrqchipStates.fromKernel(vm.pic(io.jkvm.kvm.KernelIrqchip.Chip.PIC_MASTER), true),
                KernelIrqchipStates.fromKernel(vm.pic(io.jkvm.kvm.KernelIrqchip.Chip.PIC_SLAVE), false), pic.save().intr()));
        IoApic.State fromKernel = KernelIrqchipStates.fromKernel(vm.ioapic());
        if (deviceEvents != null) { // an irqfd's line is held to the EOI, not the device's level: the device's is the model's
            for (int slot = 0; slot < virtio.size(); slot++) {
                fromKernel.lines()[VIRTIO_FIRST_PIN + slot] = virtio.get(slot).interruptPending();
            }
        }
        ioapic.restore(fromKernel);
        for (int id = 0; id < apics.size(); id++) {
            io.jkvm.kvm.KvmVcpu v = (io.jkvm.kvm.KvmVcpu) vcpus.get(id);
            var msrs = v.msrs(IA32_TSC_DEADLINE, io.jkvm.x86.Msrs.IA32_TSC);
            long deadline = msrs.getOrDefault(IA32_TSC_DEADLINE, 0L), tsc = msrs.getOrDefault(io.jkvm.x86.Msrs.IA32_TSC, 0L);
            byte[] page = v.lapicRegisters();
            LocalApic.State s = KernelIrqchipStates.fromKernel(page, v.specialRegisters().apicBase(), deadline,
                    KernelIrqchipStates.deadlineNanos(page, deadline, tsc, v.tscKhz()));
            if (handBack) {
                apics.get(id).restore(s);
            } else {
                apics.get(id).restoreHeld(s); // no expiry between the two: the copy stays the kernel's
            }
        }
        if (handBack) {
            KernelDeviceEvents events = deviceEvents;
            if (events != null) {
                events.close(); // the devices' notifications come as MMIO exits again, their lines go to the models
                deviceEvents = null;
            }
            kernel = null;
        }
    }

    /** Whether KVM's in-kernel irqchip runs the interrupt controllers now. */
    boolean inKernel() {
        return kernel != null;
    }

    /** An MMIO access of vCPU {@code id}: true when it was to its APIC's page, and handled. */
    boolean handle(int id, VcpuExit.Mmio m) {
        LocalApic apic = apics.get(id);
        long base = apic.mappedAt();
        if (base < 0 || m.address() < base || m.address() >= base + LocalApic.SIZE) {
            return false;
        }
        if (m.write()) {
            apic.write(m.address() - base, m.length(), m.data().get(0));
        } else {
            m.data().set(0, apic.read(m.address() - base, m.length()));
        }
        return true;
    }

    @Override
    public boolean present(long apicId) {
        return apics.stream().anyMatch(a -> a.id() == apicId);
    }

    @Override
    public void send(LocalApic.Ipi ipi) {
        if (ipi.deliveryMode() == LocalApic.Ipi.LOWEST) {
            List<Integer> targets = new ArrayList<>();
            for (int id = 0; id < apics.size(); id++) {
                if (targeted(ipi, id)) {
                    targets.add(id);
                }
            }
            if (!targets.isEmpty()) {
                deliver(ipi, lowestPriority(apics, targets));
            }
            return;
        }
        for (int id = 0; id < apics.size(); id++) { // no list: a guest sends IPIs and NMIs at every reschedule and flush
            if (targeted(ipi, id)) {
                deliver(ipi, id);
            }
        }
    }

    /** Whether {@code ipi} is addressed to vCPU {@code id}'s local APIC, by its shorthand or its destination. */
    private boolean targeted(LocalApic.Ipi ipi, int id) {
        boolean self = apics.get(id).id() == ipi.source();
        return switch (ipi.shorthand()) {
            case LocalApic.Ipi.SELF -> self;
            case LocalApic.Ipi.ALL -> true;
            case LocalApic.Ipi.ALL_BUT_SELF -> !self;
            default -> apics.get(id).matches(ipi.logical(), ipi.destination());
        };
    }

    /** Carries out {@code ipi} at vCPU {@code id}, by its delivery mode. */
    private void deliver(LocalApic.Ipi ipi, int id) {
        switch (ipi.deliveryMode()) {
            case LocalApic.Ipi.FIXED, LocalApic.Ipi.LOWEST -> apics.get(id).accept(ipi.vector(), ipi.levelTriggered());
            case LocalApic.Ipi.INIT -> {
                if (ipi.assertLevel() || !ipi.levelTriggered()) { // the level de-assert of INIT does nothing
                    apics.get(id).reset();
                    runners.apply(id).post(new VcpuRunner.Init());
                }
            }
            case LocalApic.Ipi.STARTUP -> runners.apply(id).post(VcpuRunner.Startup.ofVector(ipi.vector()));
            case LocalApic.Ipi.NMI -> {
                if (runners.apply(id).vcpu() instanceof EmulatedVcpu core) {
                    core.injectNmi();
                } else {
                    sayOnce("nmi", "jkvm: an NMI to vCPU " + id + " on KVM, which jkvm does not deliver there yet: dropped");
                }
            }
            default -> {
                String mode = switch (ipi.deliveryMode()) {
                    case LocalApic.Ipi.SMI -> "an SMI";
                    case LocalApic.Ipi.EXTINT -> "an ExtINT";
                    default -> "delivery mode " + ipi.deliveryMode() + " (reserved)";
                };
                String from = ipi.source() < 0 ? "the I/O APIC" : "vCPU " + ipi.source();
                sayOnce(mode, "jkvm: " + from + " sent " + mode + ", which jkvm does not deliver: dropped (said once)");
            }
        }
    }

    /**
     * Which of {@code targets} (vCPU ids) a lowest-priority message goes to: the local APIC whose task priority is
     * lowest, the first of those that are equal (the SDM's arbitration, by TPR's priority class).
     */
    static int lowestPriority(List<LocalApic> apics, List<Integer> targets) {
        int chosen = targets.getFirst();
        for (int id : targets) {
            if (apics.get(id).taskPriorityClass() < apics.get(chosen).taskPriorityClass()) {
                chosen = id;
            }
        }
        return chosen;
    }

    void close() {
        KernelDeviceEvents events = deviceEvents;
        if (events != null) {
            events.close();
        }
        apics.forEach(LocalApic::close);
        pit.close();
        rtc.close();
        virtio.forEach(VirtioMmio::close);
    }
}

package io.jkvm.machine;

import io.jkvm.devices.Bus;
import io.jkvm.devices.DebugExit;
import io.jkvm.devices.InterruptLine;
import io.jkvm.devices.Persist;
import io.jkvm.devices.Pic8259;
import io.jkvm.devices.Serial16550;
import io.jkvm.snapshot.MachineState;
import io.jkvm.x86.VirtualCpu;

import java.io.IOException;
import java.io.InputStream;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SequencedMap;
import java.util.function.BooleanSupplier;
import java.util.function.Consumer;

/**
 * A machine's devices (Cloud Hypervisor's device manager): it builds them, maps them on the port and MMIO buses,
 * wires their interrupt lines, connects vCPUs to their interrupt controllers, and moves their records in and out by
 * device id. Every machine has COM1, the two 8259s (their INTR to vCPU 0) and debug-exit; a machine booted with a
 * kernel, or restored from one, has the PC platform besides ({@link PcPlatform}).
 */
final class DeviceManager implements AutoCloseable {
    final Bus ports = new Bus("port I/O");
    final Bus mmio = new Bus("MMIO");
    private final Serial16550 serial;
    /** COM1's output, buffered; flushed at every end of the run. */
    private final ConsoleOutput consoleOut;
    private final Pic8259 pic;
    /** vCPU 0's INTR input: the 8259's output, or with a platform its local APIC's. */
    private final InterruptLine bspLine;
    private final Consumer<Outcome> end;
    private volatile PcPlatform platform;

    /** The record class of each device id a snapshot may hold (null: no device of this jkvm has that id). */
    static Class<? extends Record> stateType(String id) {
        return switch (id) {
            case "com1" -> Serial16550.State.class;
            case "pic" -> Pic8259.State.class;
            default -> PcPlatform.stateType(id);
        };
    }

    /** Whether {@code state} is a PC platform's (a machine booted with a kernel): it holds the I/O APIC's record. */
    static boolean hasPlatform(MachineState state) {
        return state.devices().containsKey(PcPlatform.IOAPIC);
    }

    /** Whether {@code state} had QEMU's test device. */
    static boolean hasTestDevice(MachineState state) {
        return state.devices().containsKey(PcPlatform.TEST_DEVICE);
    }

    /**
     * How a run that ends as {@code outcome} ended, told from the console: after Linux's panic message a reset is the
     * kernel's panic=-1 reboot, and the boot processor's HLT with interrupts off comes from a panic on another vCPU,
     * which stops the others (the boot processor too) before it resets the machine itself. Either is the panic.
     */
    Outcome afterPanic(Outcome outcome) {
        String panic = consoleOut().panic();
        if (panic == null) {
            return outcome;
        } else if (outcome instanceof Outcome.Reset) {
            return new Outcome.Failed("the guest's kernel panicked (" + panic + ") and reset the machine");
        } else if (outcome.equals(Outcome.Exited.HALTED)) {
            return new Outcome.Failed("the guest's kernel panicked (" + panic + ") and stopped the boot processor");
        }
        return outcome;
    }

    /** The devices every machine has: guest output to {@code console}, INTR to {@code bspLine}, ends through {@code end}. */
    DeviceManager(Console console, InterruptLine bspLine, Consumer<Outcome> end) {
        this.bspLine = bspLine;
        this.end = end;
        this.pic = new Pic8259(this::picOutputChanged);
        this.consoleOut = new ConsoleOutput(console.out());
        this.serial = new Serial16550(consoleOut, raised -> isaIrq(Serial16550.IRQ, raised));
    }

    /**
     * Maps the devices on the buses and connects the vCPUs: with {@code pc}, the PC platform (its test device with
     * {@code testDevice}, its virtio devices {@code virtio}) over guest RAM {@code memory}, INIT and STARTUP going to
     * {@code runners}.
     */
    void attach(List<VcpuRunner> runners, boolean pc, boolean testDevice, List<VirtioConfig> virtio, GuestMemory memory,
                Consumer<String> trace) {
        ports.map(Serial16550.COM1, Serial16550.REGISTERS, serial);
        ports.map(Pic8259.MASTER_PORT, Pic8259.PORTS, pic.masterPorts());
        ports.map(Pic8259.SLAVE_PORT, Pic8259.PORTS, pic.slavePorts());
        if (pc) {
            platform = new PcPlatform(runners.size(), memory, testDevice, virtio, pic, ports, mmio, runners::get, bspLine, end, trace);
        }
        connect(runners.stream().map(VcpuRunner::vcpu).toList());
        ports.map(DebugExit.PORT, 1, new DebugExit(status -> end.accept(new Outcome.Exited(status, "debug-exit"))));
    }

    /** Connects each vCPU (by id) to its interrupt controller: its local APIC, or for vCPU 0 without them the 8259s. */
    void connect(List<VirtualCpu> vcpus) {
        PcPlatform p = platform;
        if (p != null) {
            for (int id = 0; id < vcpus.size(); id++) {
                p.connect(id, vcpus.get(id));
            }
        } else {
            vcpus.getFirst().connectInterrupts(pic);
        }
    }

    /** The virtio devices {@code state} had, in slot order (none without a PC platform). */
    static List<VirtioConfig> virtioIn(MachineState state) {
        return PcPlatform.virtioIn(state);
    }

    /** Lets go of what the devices hold on the host (disk images' locks, TAPs) while paused, for a migration's destination. */
    void handOver() {
        PcPlatform p = platform;
        if (p != null) {
            p.handOver();
        }
    }

    /** Holds again what {@link #handOver()} let go (the migration failed). */
    void takeBack() {
        PcPlatform p = platform;
        if (p != null) {
            p.takeBack();
        }
    }

    /** Holds the devices that work on threads of their own, once they have served what the guest gave them. */
    void hold() {
        PcPlatform p = platform;
        if (p != null) {
            p.hold();
        }
    }

    /** Lets them work again after {@link #hold()}. */
    void proceed() {
        PcPlatform p = platform;
        if (p != null) {
            p.proceed();
        }
    }

    /** The PC platform, or null on a machine without one. */
    PcPlatform platform() {
        return platform;
    }

    ConsoleOutput consoleOut() {
        return consoleOut;
    }

    /** The devices whose records a snapshot holds, by the ids {@link #stateType} gives their record classes. */
    SequencedMap<String, Persist<?>> records() {
        SequencedMap<String, Persist<?>> devices = new LinkedHashMap<>();
        devices.put("com1", serial);
        devices.put("pic", pic);
        PcPlatform p = platform;
        if (p != null) {
            devices.putAll(p.devices());
        }
        return devices;
    }

    /** Each device's record, by id. */
    SequencedMap<String, Record> save() {
        SequencedMap<String, Record> records = new LinkedHashMap<>();
        records().forEach((id, device) -> records.put(id, device.save()));
        return records;
    }

    /**
     * Loads every device from {@code state}'s records: a device the state has no record for, a record for a device
     * this machine has not, or a record a device cannot hold is one line.
     */
    void restore(MachineState state) {
        Map<String, Persist<?>> devices = records();
        for (String id : devices.keySet()) {
            if (!state.devices().containsKey(id)) {
                throw new MachineException("the snapshot has no state for device '" + id + "'");
            }
        }
        for (String id : state.devices().keySet()) {
            if (!devices.containsKey(id)) {
                throw new MachineException("the snapshot has state for device '" + id + "', which a machine of "
                        + state.vcpus().size() + " vCPUs " + (platform == null ? "without" : "with") + " a kernel's PC platform has not");
            }
        }
        for (Map.Entry<String, Persist<?>> device : devices.entrySet()) {
            restoreFrom(device.getValue(), state.devices().get(device.getKey()));
        }
    }

    @SuppressWarnings("unchecked") // SnapshotFile decoded each record as the class stateType names for its id
    private static <S extends Record> void restoreFrom(Persist<S> device, Record state) {
        device.restore((S) state);
    }

    /** An ISA interrupt line: to the 8259s, and on a PC platform to the I/O APIC as well. */
    private void isaIrq(int irq, boolean level) {
        PcPlatform p = platform;
        if (p != null) {
            p.isaIrq(irq, level);
        } else {
            pic.setIrq(irq, level);
        }
    }

    /** Called under the PIC's lock on every change of its INTR output. */
    private void picOutputChanged(boolean raised) {
        PcPlatform p = platform;
        if (p != null) {
            p.picOutput(raised); // to the boot processor's LINT0: its APIC passes it on, or not
        } else {
            bspLine.set(raised);
        }
    }

    /**
     * Feeds {@code in} to COM1 from a daemon thread until end of input or {@code ended}; null without input. With
     * {@code escapes}, Ctrl-A X ends the run (status 0) and Ctrl-A A sends Ctrl-A; Ctrl-A and any other key, nothing.
     */
    Thread startConsoleInput(InputStream in, boolean escapes, BooleanSupplier ended) {
        if (in == null) {
            return null;
        }
        return Thread.ofPlatform().daemon().name("serial-input").start(() -> {
            try {
                int b;
                boolean escaped = false;
                while (!ended.getAsBoolean() && (b = in.read()) >= 0) {
                    if (escapes && escaped) {
                        escaped = false;
                        if (b == 'x' || b == 'X') {
                            end.accept(new Outcome.Exited(0, "quit with Ctrl-A X"));
                            return;
                        }
                        if (b == 'a' || b == 'A' || b == Console.ESCAPE) {
                            serial.receive((byte) Console.ESCAPE);
                        }
                    } else if (escapes && b == Console.ESCAPE) {
                        escaped = true;
                    } else {
                        serial.receive((byte) b);
                    }
                }
            } catch (IOException e) {
                // console input closed: the guest just stops receiving
            }
        });
    }

    @Override
    public void close() {
        PcPlatform p = platform;
        if (p != null) {
            p.close();
        }
        Threads.closeQuietly(consoleOut);
    }

    /**
     * The interrupt vectors, 8259s, PIT and boot processor's APIC as a PC BIOS leaves them ({@link io.jkvm.boot.LegacyBios}):
     * the memory written directly, the devices programmed through their own registers, as the BIOS's code would.
     */
    void leaveAsTheBiosDoes(GuestMemory memory) {
        byte[] ivt = io.jkvm.boot.LegacyBios.interruptVectors(), handlers = io.jkvm.boot.LegacyBios.handlers();
        memory.write(0, ivt, 0, ivt.length);
        memory.write(io.jkvm.boot.LegacyBios.HANDLERS, handlers, 0, handlers.length);
        for (io.jkvm.boot.LegacyBios.PortWrite w : io.jkvm.boot.LegacyBios.portWrites()) {
            ports.write(w.port(), 1, w.value());
        }
        for (io.jkvm.boot.LegacyBios.ApicWrite w : io.jkvm.boot.LegacyBios.apicWrites()) {
            platform().apic(0).write(w.offset(), 4, w.value()); // the boot processor's own APIC
        }
    }
}

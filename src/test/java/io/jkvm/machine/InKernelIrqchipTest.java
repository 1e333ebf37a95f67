package io.jkvm.machine;

import io.jkvm.devices.LocalApic;
import io.jkvm.devices.Pic8259;
import io.jkvm.devices.Pit8254;
import io.jkvm.kvm.KernelIrqchip;
import io.jkvm.kvm.Vm;
import io.jkvm.testing.RequiresKvm;
import io.jkvm.testing.TestGuests;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.lang.reflect.RecordComponent;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.SequencedMap;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A kernel's machine on KVM runs its interrupt controllers in KVM's in-kernel irqchip: the VM gets one wired as a
 * PC's, the 8259s', the I/O APIC's and the local APIC's state go into it when the vCPUs move to KVM and come back
 * when they leave, a snapshot on KVM takes the kernel's state, and device lines raise the kernel's GSIs. Here on the
 * real /dev/kvm, with a machine that is built and moved but not run (kvm_pvm runs no kernel).
 */
@RequiresKvm
class InKernelIrqchipTest {
    private static Console console() {
        return new Console(new ByteArrayOutputStream(), new ByteArrayInputStream(new byte[0]),
                new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8));
    }

    /** A record's components, arrays by their contents: what two records of the same state share. */
    private static String text(Record r) {
        List<String> parts = new ArrayList<>();
        for (RecordComponent c : r.getClass().getRecordComponents()) {
            try {
                Object v = c.getAccessor().invoke(r);
                parts.add(c.getName() + "=" + (v instanceof int[] a ? java.util.Arrays.toString(a)
                        : v instanceof long[] a ? java.util.Arrays.toString(a)
                        : v instanceof boolean[] a ? java.util.Arrays.toString(a) : String.valueOf(v)));
            } catch (ReflectiveOperationException e) {
                throw new AssertionError(e);
            }
        }
        return String.join(", ", parts);
    }

    /**
     * Stops the PIT's counter 0 (mode 0 with no count loaded: its output stays low), so no tick of the BIOS's 18.2 Hz
     * raises IRQ 0 between the states a test compares.
     */
    private static void quietPit(PcPlatform p) {
        ((Pit8254) p.devices().get("pit")).ports().write(3, 1, 0x30);
    }

    /** A multiboot kernel's machine on the core, built but not run, with {@code cpus} vCPUs and {@code virtio} devices. */
    private static Machine kernelMachine(int cpus, List<VirtioConfig> virtio) {
        MachineConfig config = new MachineConfig(Optional.empty(), 16L << 20, cpus, "core", Backend.EMULATOR,
                MachineConfig.defaults().loadAddress(), MachineConfig.defaults().kvmPath(), false,
                Optional.of(new KernelConfig(TestGuests.path("multiboot_timers.elf"), "", Optional.empty(), false, virtio)));
        return Machine.create(config, console());
    }

    @Test
    void theControllersGoIntoKvmsIrqchipAndComeBack() {
        try (Machine m = kernelMachine(1, List.of())) {
            PcPlatform p = m.platform();
            quietPit(p);
            LocalApic apic = p.apic(0);
            apic.write(LocalApic.SPIV, 4, 0x1FF);
            apic.write(LocalApic.TPR, 4, 0x20);
            apic.write(LocalApic.LVT_LINT0, 4, 0x700);
            apic.write(LocalApic.LVT_ERROR, 4, 0xFE);
            apic.accept(0x51, true); // level-triggered 0x51 pending
            SequencedMap<String, Record> before = m.deviceStates();
            assertFalse(p.inKernel());

            m.moveUncheckedForTest(Backend.KVM);
            assertTrue(p.inKernel(), "on KVM the kernel runs the controllers");
            Vm vm = m.kvmVm();
            assertNotNull(vm);
            Pic8259.State pic = (Pic8259.State) before.get("pic");
            assertEquals(pic.master(), KernelIrqchipStates.fromKernel(vm.pic(KernelIrqchip.Chip.PIC_MASTER), true),
                    "the master 8259 as the BIOS left it, in the kernel");
            SequencedMap<String, Record> onKvm = m.deviceStates(); // what a snapshot on KVM takes: the kernel's state
            for (String id : List.of("pic", "ioapic", "lapic0")) {
                assertEquals(text(before.get(id)), text(onKvm.get(id)), id + " read back from the kernel");
            }

            io.jkvm.kvm.KvmVcpu v = (io.jkvm.kvm.KvmVcpu) m.vcpus().get(0);
            io.jkvm.x86.VcpuState st = v.saveState();
            v.restoreState(new io.jkvm.x86.VcpuState(st.cpuid(), st.registers(), st.specialRegisters(), st.xcr0(), st.xsave(),
                    st.msrs(), st.events(), st.debugRegisters(), io.jkvm.x86.Activity.HALTED));
            assertEquals(io.jkvm.kvm.KvmVcpu.MpState.HALTED, v.mpState(), "a halted record: the kernel's HLT, woken by its APIC");
            assertEquals(io.jkvm.x86.Activity.HALTED, v.saveState().activity());
            v.restoreState(st);
            assertEquals(io.jkvm.x86.Activity.ACTIVE, v.saveState().activity());

            p.isaIrq(0, true); // the PIT's line: the master's input 0 and the I/O APIC's pin 2
            assertEquals(1, vm.pic(KernelIrqchip.Chip.PIC_MASTER).irr() & 1);
            assertEquals(1 << 2, vm.ioapic().irr() & 0b101);
            p.isaIrq(0, false);
            p.isaIrq(4, true); // the serial port's: into the kernel, not jkvm's models
            assertEquals(1 << 4, vm.pic(KernelIrqchip.Chip.PIC_MASTER).irr() & (1 << 4));
            p.isaIrq(4, false);

            m.moveUncheckedForTest(Backend.EMULATOR);
            assertFalse(p.inKernel(), "back on the core, jkvm's models run them");
            SequencedMap<String, Record> back = m.deviceStates();
            Pic8259.State picBack = (Pic8259.State) back.get("pic");
            assertEquals(0x11, picBack.master().irr() & 0x11, "IRQs 0 and 4, latched in the kernel's 8259, came back with it");
            assertEquals(text(before.get("lapic0")), text(back.get("lapic0")), "the local APIC came back as it went");
            p.isaIrq(3, true);
            assertEquals(1 << 3, ((Pic8259.State) m.deviceStates().get("pic")).master().irr() & (1 << 3),
                    "lines reach jkvm's 8259 again");
        }
    }

    /**
     * An application processor waiting for its STARTUP IPI goes into KVM's irqchip waiting (INIT_RECEIVED, where the
     * kernel's APIC takes a STARTUP IPI) with its local APIC, and comes back to the core still waiting.
     */
    @Test
    void aWaitingApplicationProcessorMovesIntoTheKernelsApicAndBack() {
        try (Machine m = kernelMachine(2, List.of())) {
            assertEquals(io.jkvm.x86.Activity.WAIT_FOR_SIPI, m.vcpus().get(1).saveState().activity());
            SequencedMap<String, Record> before = m.deviceStates();

            m.moveUncheckedForTest(Backend.KVM);
            io.jkvm.kvm.KvmVcpu ap = (io.jkvm.kvm.KvmVcpu) m.vcpus().get(1);
            assertEquals(io.jkvm.kvm.KvmVcpu.MpState.INIT_RECEIVED, ap.mpState(), "the AP waits in the kernel for a STARTUP IPI");
            assertEquals(io.jkvm.kvm.KvmVcpu.MpState.RUNNABLE, ((io.jkvm.kvm.KvmVcpu) m.vcpus().get(0)).mpState());
            assertEquals(text(before.get("lapic1")), text(m.deviceStates().get("lapic1")), "its local APIC, in the kernel");

            m.moveUncheckedForTest(Backend.EMULATOR);
            io.jkvm.emu.EmulatedVcpu back = (io.jkvm.emu.EmulatedVcpu) m.vcpus().get(1);
            assertTrue(back.waitingForStartup(), "back on the core it still waits for its STARTUP IPI");
            assertEquals(text(before.get("lapic1")), text(m.deviceStates().get("lapic1")));
        }
    }

    /**
     * The exit-status contract on KVM's in-kernel irqchip: a boot processor that halts with interrupts disabled ends the
     * run with status 0, although its HLT never leaves KVM_RUN (run()'s thread kicks it out to look).
     */
    @Test
    @org.junit.jupiter.api.Timeout(60)
    void aBootProcessorHaltedWithInterruptsOffInTheKernelEndsTheRun() throws Exception {
        try (Machine m = kernelMachine(1, List.of())) {
            long code = 0x300000; // 64-bit code the test places, as kvm_pvm runs no 32-bit kernel: CLI; HLT
            byte[] cliHlt = {(byte) 0xFA, (byte) 0xF4};
            m.memory().write(code, cliHlt, 0, cliHlt.length);
            LongModeBoot.writeTables(m.memory());
            io.jkvm.x86.VirtualCpu bsp = m.vcpus().get(0);
            LongModeBoot.enter(bsp, false, LongModeBoot.registers(code, 8L << 20));
            m.moveUncheckedForTest(Backend.KVM);

            assertEquals(new Outcome.Exited(0, "HLT with interrupts disabled"), m.run());
            assertEquals(io.jkvm.kvm.KvmVcpu.MpState.HALTED, ((io.jkvm.kvm.KvmVcpu) m.vcpus().get(0)).mpState());
        }
    }

    /**
     * A virtio device of a kernel's machine on KVM: the guest's QueueNotify write comes to the device by ioeventfd, not as
     * an exit, and its used-buffer interrupt is an irqfd held at the kernel's I/O APIC; a snapshot's I/O APIC has the device's
     * level on that pin. The test plays the driver's bring-up through the registers, the guest only notifies.
     */
    @Test
    @org.junit.jupiter.api.Timeout(60)
    void aVirtioDevicesNotifyAndInterruptGoThroughTheKernel() throws Exception {
        try (Machine m = kernelMachine(1, List.of(new VirtioConfig.Rng()))) {
            PcPlatform p = m.platform();
            quietPit(p);
            io.jkvm.devices.virtio.VirtioMmio rng = (io.jkvm.devices.virtio.VirtioMmio) p.devices().get(new VirtioConfig.Rng().id(0));
            GuestMemory ram = m.memory();
            long desc = 0x600000, avail = 0x601000, used = 0x602000, buffer = 0x603000;
            ram.writeLong(desc, buffer);
            ram.writeInt(desc + 8, 64);
            ram.writeInt(desc + 12, 2); // VIRTQ_DESC_F_WRITE, next 0
            ram.writeInt(avail, 1 << 16); // flags 0, idx 1
            ram.writeInt(avail + 4, 0); // ring[0] = descriptor 0
            int[][] bringUp = {{0x70, 0}, {0x70, 1}, {0x70, 3}, {0x24, 0}, {0x20, 0}, {0x24, 1}, {0x20, 1}, {0x70, 11},
                    {0x30, 0}, {0x38, 16}, {0x80, (int) desc}, {0x84, 0}, {0x90, (int) avail}, {0x94, 0}, {0xA0, (int) used},
                    {0xA4, 0}, {0x44, 1}, {0x70, 15}};
            for (int[] w : bringUp) {
                rng.write(w[0], 4, w[1]);
            }
            assertEquals(15, rng.read(0x70, 4), "DRIVER_OK");

            long code = 0x300000; // mov rax, notify; mov dword [rax], 0 (queue 0); CLI; HLT
            byte[] notify = io.jkvm.testing.Asm.concat(new io.jkvm.testing.Asm().movImm64(0, PcPlatform.VIRTIO_BASE
                    + io.jkvm.devices.virtio.VirtioMmio.QUEUE_NOTIFY).raw("c7 00").immediate(0, 4).bytes(), new byte[]{(byte) 0xFA, (byte) 0xF4});
            ram.write(code, notify, 0, notify.length);
            LongModeBoot.writeTables(ram);
            LongModeBoot.enter(m.vcpus().get(0), false, LongModeBoot.registers(code, 8L << 20));
            m.moveUncheckedForTest(Backend.KVM);
            assertNotNull(p.deviceEvents(), "on KVM the device's queue and line are the kernel's");

            assertEquals(new Outcome.Exited(0, "HLT with interrupts disabled"), m.run());
            long deadline = System.nanoTime() + 10_000_000_000L;
            while ((ram.readInt(used) >>> 16) == 0 && System.nanoTime() < deadline) {
                Thread.sleep(1);
            }
            assertEquals(1, ram.readInt(used) >>> 16, "the device served the chain: used idx 1");
            assertEquals(64, ram.readInt(used + 8), "all 64 bytes written");
            assertEquals(1, p.deviceEvents().notified(), "the notification came by ioeventfd, not as an exit");
            while ((m.kvmVm().ioapic().irr() & (1 << PcPlatform.VIRTIO_FIRST_PIN)) == 0 && System.nanoTime() < deadline) {
                Thread.sleep(1);
            }
            assertTrue(rng.interruptPending());
            assertEquals(1 << PcPlatform.VIRTIO_FIRST_PIN, m.kvmVm().ioapic().irr() & (1 << PcPlatform.VIRTIO_FIRST_PIN),
                    "its interrupt, raised by irqfd, is held at pin 16 (masked: no EOI lowers it)");

            assertTrue(((io.jkvm.devices.IoApic.State) m.deviceStates().get("ioapic")).lines()[PcPlatform.VIRTIO_FIRST_PIN],
                    "a snapshot's I/O APIC has pin 16 at the device's level");
        }
    }

    /** The virtio device's ioeventfds and irqfd go with the vCPUs: taken back when they leave KVM, given again on return. */
    @Test
    void theDeviceEventsFollowTheVcpus() {
        try (Machine m = kernelMachine(1, List.of(new VirtioConfig.Rng(), new VirtioConfig.Rng()))) {
            PcPlatform p = m.platform();
            assertEquals(null, p.deviceEvents(), "on the core: MMIO exits and jkvm's I/O APIC");
            m.moveUncheckedForTest(Backend.KVM);
            assertNotNull(p.deviceEvents());
            m.moveUncheckedForTest(Backend.EMULATOR);
            assertEquals(null, p.deviceEvents());
            m.moveUncheckedForTest(Backend.KVM); // KVM refuses a second registration of the same address and match (EEXIST)
            assertNotNull(p.deviceEvents(), "registered again: the first ones were taken back");
        }
    }
}

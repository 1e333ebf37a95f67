package io.jkvm.machine;

import io.jkvm.kvm.Kvm;
import io.jkvm.linux.HostCpu;
import io.jkvm.snapshot.SnapshotFile;
import io.jkvm.testing.Asm;
import io.jkvm.testing.Cli;
import io.jkvm.testing.RequiresKvm;
import io.jkvm.testing.TestGuests;
import io.jkvm.x86.CpuModel;
import io.jkvm.x86.RamLayout;
import io.jkvm.x86.VcpuExit;
import io.jkvm.x86.VirtualCpu;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A machine booted with --kernel lays its RAM out as a PC's: up to 3 GiB from 0, the rest from 4 GiB, the MMIO
 * window between them no RAM. The guest (src/test/guests/multiboot_high_ram.S) finds the range at 4 GiB in its
 * memory map, checks fw_cfg's RAM size, and stores above 4 GiB and into the window; KVM maps each range in a slot
 * of its own and logs their pages; a snapshot carries the layout.
 */
class HighRamTest {
    private static final long GIB = 1L << 30;

    @TempDir
    Path dir;

    @Test
    @Timeout(60)
    void aKernelGivenMoreThanThreeGigabytesHasTheRestAboveFourGigabytes() {
        Cli.Result r = Cli.run("run", "--backend", "emulator", "--mem", "4G", "--kernel", TestGuests.path("multiboot_high_ram.elf").toString());
        assertEquals("RAM above 4G\n", r.out(), r.err());
        assertEquals((0x21 << 1) | 1, r.status(), "the guest's checks (1: no range at 4 GiB, 2: fw_cfg, 3: a lost store, 4: the window): " + r.err());

        r = Cli.run("run", "--backend", "emulator", "--mem", "3G", "--kernel", TestGuests.path("multiboot_high_ram.elf").toString());
        assertEquals((1 << 1) | 1, r.status(), "3 GiB fits below the window: nothing at 4 GiB; " + r.err());
    }

    @Test
    void thePcLayoutSplitsAtTheWindowAndItsSpanSaysWhichItIs() {
        RamLayout four = RamLayout.pc(4 * GIB);
        assertEquals(new RamLayout(3 * GIB, GIB), four);
        assertEquals(5 * GIB, four.span());
        assertEquals(four, RamLayout.pcOfSpan(four.span()));
        assertEquals(RamLayout.flat(2 * GIB), RamLayout.pc(2 * GIB));
        assertEquals(RamLayout.flat(3 * GIB), RamLayout.pcOfSpan(3 * GIB));
        assertEquals(null, RamLayout.pcOfSpan(3 * GIB + 4096), "no PC layout ends inside the window");
        assertTrue(four.contains(3 * GIB - 8, 8) && four.contains(4 * GIB, 8) && four.contains(5 * GIB - 8, 8));
        assertTrue(!four.contains(3 * GIB - 4, 8) && !four.contains(3 * GIB, 1) && !four.contains(4 * GIB - 1, 1)
                && !four.contains(5 * GIB - 4, 8) && !four.contains(-1, 1), "the window, its edges and past the end are no RAM");
        assertEquals(List.of(new RamLayout.Range(0, 3 * GIB), new RamLayout.Range(4 * GIB, GIB)), four.ranges());
        assertEquals(List.of(new RamLayout.Range(0, 3 * GIB)), RamLayout.flat(3 * GIB).ranges());
    }

    @Test
    @Timeout(60)
    void aSnapshotOfAMachineWithRamAboveFourGigabytesRestoresItsLayoutAndItsBytes() {
        Path file = dir.resolve("high.snap");
        MachineConfig config = new MachineConfig(Optional.empty(), 4 * GIB, 1, "core", Backend.EMULATOR,
                MachineConfig.defaults().loadAddress(), MachineConfig.defaults().kvmPath(), false,
                Optional.of(new KernelConfig(TestGuests.path("multiboot_high_ram.elf"), "", Optional.empty(), false)));
        try (Machine m = Machine.create(config, console(new ByteArrayOutputStream()))) {
            assertEquals(RamLayout.pc(4 * GIB), m.memory().layout());
            m.memory().writeInt(4 * GIB + 0x1230, 0x600DF00D);
            m.memory().writeInt(5 * GIB - 4, 0x0DDBA11);
            SnapshotFile.write(file, m.capture(), m.memory());
        }
        Cli.Result check = Cli.run("snapshot", "check", file.toString());
        assertEquals(0, check.status(), check.err());
        assertTrue(check.out().contains("guest RAM:         4G (3G from 0, 1G from 4G)"), check.out());
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (Machine restored = Machine.restore(file, Backend.EMULATOR, "/dev/kvm", false, console(out))) {
            assertEquals(RamLayout.pc(4 * GIB), restored.memory().layout(), "the memory file's span is a PC's with RAM above 4 GiB");
            assertEquals(0x600DF00D, restored.memory().readInt(4 * GIB + 0x1230));
            assertEquals(0x0DDBA11, restored.memory().readInt(5 * GIB - 4));
            assertEquals(new Outcome.Exited((0x21 << 1) | 1, "debug-exit"), restored.run(), out.toString(StandardCharsets.UTF_8));
        }
    }

    @Test
    void aSnapshotWhoseMemoryEndsInsideTheWindowIsRefusedInOneLine() throws Exception {
        Path file = dir.resolve("window.snap");
        MachineConfig config = new MachineConfig(Optional.empty(), 16L << 20, 1, "core", Backend.EMULATOR,
                MachineConfig.defaults().loadAddress(), MachineConfig.defaults().kvmPath(), false,
                Optional.of(new KernelConfig(TestGuests.path("multiboot_high_ram.elf"), "", Optional.empty(), false)));
        try (Machine m = Machine.create(config, console(new ByteArrayOutputStream()));
             GuestMemory odd = GuestMemory.allocate(3 * GIB + (1L << 20))) {
            io.jkvm.snapshot.MachineState s = m.capture();
            SnapshotFile.write(file, new io.jkvm.snapshot.MachineState(s.cpu(), odd.size(), s.vcpus(), s.devices(), s.tscKhz()), odd);
        }
        MachineException e = org.junit.jupiter.api.Assertions.assertThrows(MachineException.class,
                () -> Machine.restore(file, Backend.EMULATOR, "/dev/kvm", false, console(new ByteArrayOutputStream())));
        assertTrue(e.getMessage().contains("ends inside the PC's MMIO window") && !e.getMessage().contains("\n"), e.getMessage());
        assertTrue(Files.exists(file), "the snapshot is left as it was");
    }

    /**
     * On the real /dev/kvm: a VM over a PC layout has a slot per range. A guest's stores above 4 GiB land in host
     * memory at the same offset and in the dirty log, and its store into the window is an MMIO exit.
     */
    @Test
    @Timeout(60)
    @RequiresKvm
    void kvmMapsEachRangeInItsOwnSlotAndLogsItsPages() {
        long low = 4 * GIB + 0x5000, last = 5 * GIB - 4;
        byte[] code = new Asm()
                .movImm64(0, low).raw("c7 00").immediate(0x11111111L, 4)
                .movImm64(0, last).raw("c7 00").immediate(0x22222222L, 4)
                .movImm64(0, 3 * GIB).raw("c7 00").immediate(0x33333333L, 4)
                .hlt().bytes();
        try (Kvm kvm = Kvm.open(); GuestMemory memory = GuestMemory.allocate(RamLayout.pc(4 * GIB))) {
            LongModeBoot.writeTables(memory); // identity-maps the whole span, 4 GiB and above too
            memory.write(0x100000, code, 0, code.length);
            CpuModel model = CpuModels.parse("host", kvm.supportedCpuid(), HostCpu.mxcsrMask());
            try (VcpuFactory factory = new VcpuFactory(kvm, memory, model, 1, null)) {
                VirtualCpu vcpu = factory.atEntry(Backend.KVM, 0, model.cpuid(), 0x100000);
                java.util.function.Supplier<long[]> log = factory.startKvmDirtyLog();
                VcpuExit exit = vcpu.run();
                VcpuExit.Mmio mmio = assertInstanceOf(VcpuExit.Mmio.class, exit, () -> "the store into the window: " + exit);
                assertEquals(3 * GIB, mmio.address());
                assertTrue(mmio.write());
                VcpuExit after = vcpu.run();
                assertInstanceOf(VcpuExit.Hlt.class, after, () -> "then HLT: " + after);
                assertEquals(0x11111111, memory.readInt(low));
                assertEquals(0x22222222, memory.readInt(last));
                long[] words = log.get();
                List<Long> high = new ArrayList<>();
                for (long page = 4 * GIB >>> 12; page < (long) words.length * 64; page++) {
                    if ((words[(int) (page >>> 6)] >>> (page & 63) & 1) != 0) {
                        high.add(page << 12);
                    }
                }
                assertEquals(List.of(low & ~0xFFFL, last & ~0xFFFL), high, "the pages above 4 GiB the guest wrote, where they are");
                factory.stopKvmDirtyLog();
            }
        }
    }

    private static Console console(ByteArrayOutputStream out) {
        return new Console(out, new ByteArrayInputStream(new byte[0]), new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8));
    }
}

package io.jkvm.machine;

import io.jkvm.devices.Bus;
import io.jkvm.devices.Device;
import io.jkvm.devices.Serial16550;
import io.jkvm.devices.DebugExit;
import io.jkvm.x86.CpuFeature;
import io.jkvm.x86.PageWalker;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class MachinePartsTest {

    @Test
    void sizesParseWithSuffixesAndRejectGarbage() {
        assertEquals(64L << 20, MemorySize.parse("64M"));
        assertEquals(64L << 20, MemorySize.parse("64m"));
        assertEquals(64L << 20, MemorySize.parse("64MB"));
        assertEquals(2L << 30, MemorySize.parse("2G"));
        assertEquals(512L << 10, MemorySize.parse("512K"));
        assertEquals(4096, MemorySize.parse("4096"));
        assertThrows(IllegalArgumentException.class, () -> MemorySize.parse("lots"));
        assertThrows(IllegalArgumentException.class, () -> MemorySize.parse("-1M"));
        assertThrows(IllegalArgumentException.class, () -> MemorySize.parse("99999999999G"));
        assertEquals("64M", MemorySize.format(64L << 20));
        assertEquals("3K", MemorySize.format(3072));
    }

    @Test
    void configRefusesTooLittleOrTooMuchMemoryAndNoCpus() {
        MachineConfig d = MachineConfig.defaults();
        assertThrows(MachineException.class, () -> new MachineConfig(d.image(), 1L << 20, 1, d.cpuModel(), d.backend(), d.loadAddress(), d.kvmPath(), false));
        assertThrows(MachineException.class, () -> new MachineConfig(d.image(), 256L << 30, 1, d.cpuModel(), d.backend(), d.loadAddress(), d.kvmPath(), false));
        assertThrows(MachineException.class, () -> new MachineConfig(d.image(), (64L << 20) + 1, 1, d.cpuModel(), d.backend(), d.loadAddress(), d.kvmPath(), false));
        assertThrows(MachineException.class, () -> new MachineConfig(d.image(), 64L << 20, 0, d.cpuModel(), d.backend(), d.loadAddress(), d.kvmPath(), false));
    }

    @Test
    void aFeatureTheHostLacksIsNamedWithItsCpuidLeafInHex() {
        MachineConfig d = MachineConfig.defaults();
        MachineConfig kvmWithLm = new MachineConfig(d.image(), d.memorySize(), 1, "host,+lm", Backend.KVM, d.loadAddress(), d.kvmPath(), false);
        MachineException e = assertThrows(MachineException.class, () -> BackendChoice.choose(kvmWithLm, List.of(CpuFeature.LM)));
        assertEquals("--cpu host,+lm needs lm (CPUID.(0x80000001,0):EDX[29]), which this host's KVM lacks: "
                + "use --backend auto or emulator to run it on the software core", e.getMessage());
    }

    @Test
    void bootTablesIdentityMapAllRamAndTheFirst4GiB() {
        try (GuestMemory m = GuestMemory.allocate(64L << 20)) {
            LongModeBoot.writeTables(m);
            for (long a : new long[]{0, 0x100000, 0x3FFFFFF, 0x1_0000_0000L - 8, 0xFEE0_0000L}) {
                assertEquals(a, PageWalker.translate(LongModeBoot.PML4, a, m));
            }
            assertEquals(-1, PageWalker.translate(LongModeBoot.PML4, 0x1_0000_0000L, m), "64M of RAM maps 4 GiB, no more");
            assertEquals(0x00AF_9B00_0000_FFFFL, m.readLong(LongModeBoot.GDT + 8));
        }
        assertEquals(0x4000 + 6 * 0x1000, LongModeBoot.reservedEnd(6L << 30), "one page directory per GiB past 4");
    }

    @Test
    void busRoutesByRangeAndFloatsUnmappedReads() {
        Bus bus = new Bus("test");
        List<String> log = new ArrayList<>();
        bus.map(0x10, 4, new Device() {
            @Override
            public long read(long offset, int size) {
                return 0x100 + offset;
            }

            @Override
            public void write(long offset, int size, long value) {
                log.add(offset + "=" + value);
            }
        });
        assertEquals(0x102, bus.read(0x12, 1));
        bus.write(0x13, 1, 7);
        assertEquals(List.of("3=7"), log);
        assertEquals(0xFF, bus.read(0x14, 1));
        assertEquals(0xFFFF, bus.read(0x0F, 2));
        bus.write(0x20, 1, 1);
        assertEquals(1, log.size());
        assertThrows(IllegalArgumentException.class, () -> bus.map(0x12, 8, null));
    }

    @Test
    void debugExitComputesQemusStatus() {
        List<Long> statuses = new ArrayList<>();
        DebugExit d = new DebugExit(statuses::add);
        d.write(0, 1, 0);
        d.write(0, 1, 0x21);
        d.write(0, 1, 0x1FF); // an 8-bit write keeps 8 bits
        d.write(0, 4, 0xFFFFFFFFL); // a 32-bit write keeps all 32: the status has 33 bits
        assertEquals(List.of(1L, 0x43L, 0x1FFL, 0x1FFFFFFFFL), statuses);
    }

    @Test
    void uartTransmitsReceivesAndReportsStatus() {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        List<Boolean> irq = new ArrayList<>();
        Serial16550 u = new Serial16550(out, irq::add);
        assertEquals(0x60, u.read(5, 1), "LSR: transmitter empty, no data");
        u.write(0, 1, 'h');
        u.write(0, 1, 'i');
        assertEquals("hi", out.toString());
        u.receive((byte) 'x');
        assertEquals(0x61, u.read(5, 1), "LSR: data ready");
        assertEquals('x', u.read(0, 1));
        assertEquals(0x60, u.read(5, 1));

        u.write(3, 1, 0x83); // DLAB on: divisor latch
        u.write(0, 1, 1);
        u.write(1, 1, 0);
        assertEquals(1, u.read(0, 1));
        assertEquals("hi", out.toString(), "divisor writes are not transmitted");
        u.write(3, 1, 0x03);

        assertEquals(0x01, u.read(2, 1) & 0x0F, "IIR: nothing pending");
        u.write(1, 1, 0x01); // IER: receive interrupt
        assertFalse(u.interruptPending());
        u.receive((byte) 'y');
        assertTrue(u.interruptPending());
        assertEquals(0x04, u.read(2, 1) & 0x0F, "IIR: received data");
        assertTrue(irq.contains(true));
        u.read(0, 1);
        assertFalse(u.interruptPending());

        u.write(4, 1, 0x10); // loopback
        u.write(0, 1, 'z');
        assertEquals("hi", out.toString());
        assertEquals('z', u.read(0, 1));
        u.write(7, 1, 0x5A);
        assertEquals(0x5A, u.read(7, 1), "scratch register");
    }

    @Test
    void uartInterruptFollowsIerAndIirWithAnEdgePerTransmittedByte() {
        List<Boolean> irq = new ArrayList<>();
        Serial16550 u = new Serial16550(new ByteArrayOutputStream(), irq::add);
        u.write(1, 1, 0x02); // IER: THR empty
        assertTrue(u.interruptPending(), "the transmitter is empty: THRE at once");
        assertEquals(0x02, u.read(2, 1) & 0x0F, "IIR: THR empty");
        assertFalse(u.interruptPending(), "reading IIR acknowledges THRE");
        irq.clear();
        u.write(0, 1, 'a');
        assertEquals(List.of(false, true), irq.subList(irq.size() - 2, irq.size()), "low on the THR write, high once the byte left");
        u.write(1, 1, 0x03); // and received data, which ranks above THRE
        u.receive((byte) 'b');
        assertEquals(0x04, u.read(2, 1) & 0x0F);
        u.read(0, 1);
        assertEquals(0x02, u.read(2, 1) & 0x0F, "THRE shows again once the data is read");
        u.write(1, 1, 0x00);
        assertFalse(u.interruptPending());
        assertEquals(false, irq.getLast(), "IER cleared: the line is down");
    }

    @Test
    void aLowestPriorityMessageGoesToTheApicWithTheLowestTaskPriority() {
        List<io.jkvm.devices.LocalApic> apics = new ArrayList<>();
        for (int id = 0; id < 3; id++) {
            apics.add(new io.jkvm.devices.LocalApic(id, ipi -> { }, level -> { }, null));
        }
        apics.get(0).setTaskPriorityClass(5);
        apics.get(1).setTaskPriorityClass(2);
        apics.get(2).setTaskPriorityClass(2);
        assertEquals(1, PcPlatform.lowestPriority(apics, List.of(0, 1, 2)), "the lowest class, the first of two");
        assertEquals(2, PcPlatform.lowestPriority(apics, List.of(2, 0, 1)));
        assertEquals(0, PcPlatform.lowestPriority(apics, List.of(0)), "a single target");
        apics.forEach(io.jkvm.devices.LocalApic::close);
    }
}

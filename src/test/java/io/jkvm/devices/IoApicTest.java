package io.jkvm.devices;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The I/O APIC's registers and pins: version, redirection entries, edge and level delivery, remote IRR and EOI, masking. */
class IoApicTest {
    private final List<LocalApic.Ipi> sent = new ArrayList<>();
    private final IoApic io = new IoApic(sent::add);

    private void redirect(int pin, long entry) {
        io.write(0, 4, 0x10 + 2 * pin);
        io.write(0x10, 4, entry & 0xFFFFFFFFL);
        io.write(0, 4, 0x11 + 2 * pin);
        io.write(0x10, 4, entry >>> 32);
    }

    private long entry(int pin) {
        io.write(0, 4, 0x10 + 2 * pin);
        long low = io.read(0x10, 4);
        io.write(0, 4, 0x11 + 2 * pin);
        return low | io.read(0x10, 4) << 32;
    }

    @Test
    void versionAndResetEntries() {
        io.write(0, 4, 1);
        assertEquals(0x00170020, io.read(0x10, 4), "24 entries, version 0x20");
        assertEquals(1 << 16, entry(5), "masked after reset");
        io.setIrq(5, true);
        assertTrue(sent.isEmpty(), "a masked pin sends nothing");
    }

    @Test
    void anEdgePinSendsOnEachRisingEdge() {
        redirect(3, 0x0300000000000041L); // vector 0x41, fixed, physical APIC 3, edge
        io.setIrq(3, true);
        io.setIrq(3, true);
        io.setIrq(3, false);
        io.setIrq(3, true);
        assertEquals(2, sent.size(), "two rising edges");
        assertEquals(new LocalApic.Ipi(-1, 0x41, 0, false, 3, 0, true, false), sent.getFirst());
    }

    @Test
    void aLevelPinWaitsForTheEoiWhileAsserted() {
        redirect(9, 0x0000000000008052L); // vector 0x52, level
        io.setIrq(9, true);
        assertEquals(1, sent.size());
        assertEquals(1 << 14, entry(9) & (1 << 14), "remote IRR set");
        io.setIrq(9, true);
        assertEquals(1, sent.size(), "no second message before the EOI");
        io.eoi(0x52);
        assertEquals(2, sent.size(), "still asserted: sent again after the EOI");
        io.setIrq(9, false);
        io.eoi(0x52);
        assertEquals(2, sent.size(), "deasserted: nothing more");
        assertEquals(0, entry(9) & (1 << 14), "remote IRR clear");
        assertTrue(sent.getLast().levelTriggered());
    }

    @Test
    void unmaskingAnAssertedLevelPinSendsAtOnceAndTheEoiRegisterWorksAsTheApicsEoi() {
        redirect(11, 0x0000000000018060L); // masked, level, vector 0x60
        io.setIrq(11, true);
        assertTrue(sent.isEmpty());
        redirect(11, 0x0000000000008060L);
        assertEquals(1, sent.size());
        io.write(0x40, 4, 0x60); // the EOI register
        assertEquals(2, sent.size());
    }

    /** A level pin in service (remote IRR set) moves to another I/O APIC with its record, and waits there for the EOI. */
    @Test
    void itsRecordCarriesEntriesLevelsAndRemoteIrr() {
        redirect(9, 0x0000000000008052L); // vector 0x52, level
        io.setIrq(9, true);
        assertEquals(1, sent.size());
        List<LocalApic.Ipi> elsewhere = new ArrayList<>();
        IoApic other = new IoApic(elsewhere::add);
        other.restore(io.save());
        other.write(0, 4, 0x10 + 2 * 9);
        assertEquals(0x0000C052L, other.read(0x10, 4), "level, remote IRR set, vector 0x52");
        assertTrue(elsewhere.isEmpty(), "restoring sends nothing");
        other.eoi(0x52);
        assertEquals(1, elsewhere.size(), "the pin is still asserted: the EOI lets it deliver again");
        assertThrowsOneLine(() -> other.restore(new IoApic.State(0, 0, new long[4], new boolean[24])), "24");
    }

    static void assertThrowsOneLine(Runnable r, String mentions) {
        IllegalArgumentException e = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class, r::run);
        assertTrue(e.getMessage().contains(mentions) && !e.getMessage().contains("\n"), e.getMessage());
    }
}

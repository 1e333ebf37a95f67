package io.jkvm.devices;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The 8259A pair through its ports, as a guest programs it, and the CPU's INTR/INTA side. */
class Pic8259Test {
    private final List<Boolean> intr = new ArrayList<>();
    private Pic8259 pic;
    private Device master, slave;

    @BeforeEach
    void create() {
        pic = new Pic8259(intr::add);
        master = pic.masterPorts();
        slave = pic.slavePorts();
    }

    /** The usual PC initialisation: edge, cascade, vectors 0x20 and 0x28, slave on IR2, 8086 mode; masks as given. */
    private void init(int masterMask, int slaveMask, int icw4) {
        master.write(0, 1, 0x11);
        slave.write(0, 1, 0x11);
        master.write(1, 1, 0x20);
        slave.write(1, 1, 0x28);
        master.write(1, 1, 0x04);
        slave.write(1, 1, 0x02);
        master.write(1, 1, icw4);
        slave.write(1, 1, icw4);
        master.write(1, 1, masterMask);
        slave.write(1, 1, slaveMask);
    }

    private void init() {
        init(0x00, 0x00, 0x01);
    }

    private int isr(Device chip) {
        chip.write(0, 1, 0x0B);
        int v = (int) chip.read(0, 1);
        chip.write(0, 1, 0x0A);
        return v;
    }

    private int irr(Device chip) {
        chip.write(0, 1, 0x0A);
        return (int) chip.read(0, 1);
    }

    @Test
    void initialisationSetsTheVectorBaseAndClearsTheMask() {
        init(0x00, 0x00, 0x01);
        assertEquals(0, master.read(1, 1), "ICW1 clears the IMR; OCW1 after ICW4 wrote 0");
        pic.setIrq(4, true);
        assertTrue(pic.requesting());
        assertEquals(List.of(true), intr, "INTR rose once");
        assertEquals(0x24, pic.acknowledge());
        assertFalse(pic.requesting());
        assertEquals(0x10, isr(master), "IRQ4 in service");
        assertEquals(0x00, irr(master) & 0x10, "an edge request leaves IRR when acknowledged");

        pic.setIrq(10, true);
        assertEquals(0x2A, pic.acknowledge(), "IRQ10 through the cascade: the slave's base plus 2");
        assertEquals(0x04, isr(slave));
        assertEquals(0x14, isr(master), "the cascade input is in service on the master too");
    }

    @Test
    void theMaskHoldsARequestInIrrUntilUnmasked() {
        init(0xFF, 0xFF, 0x01);
        pic.setIrq(3, true);
        assertFalse(pic.requesting());
        assertEquals(0x08, irr(master), "latched although masked");
        master.write(1, 1, 0xF7);
        assertTrue(pic.requesting());
        assertEquals(0xF7, master.read(1, 1), "OCW1 reads back");
        assertEquals(0x23, pic.acknowledge());
    }

    @Test
    void lowerInputsWinAndInServiceInputsBlockLowerOnes() {
        init();
        pic.setIrq(5, true);
        pic.setIrq(1, true);
        assertEquals(0x21, pic.acknowledge(), "IRQ1 before IRQ5");
        assertFalse(pic.requesting(), "IRQ5 waits while IRQ1 is in service");
        pic.setIrq(0, true);
        assertTrue(pic.requesting(), "IRQ0 outranks IRQ1 in service: nests");
        assertEquals(0x20, pic.acknowledge());
        assertEquals(0x03, isr(master));
        master.write(0, 1, 0x20); // non-specific EOI: the highest in service, IRQ0
        assertEquals(0x02, isr(master));
        assertFalse(pic.requesting());
        master.write(0, 1, 0x20);
        assertEquals(0x25, pic.acknowledge(), "IRQ5 once nothing above it is in service");
    }

    @Test
    void specificEoiEndsTheNamedInputOnly() {
        init();
        pic.setIrq(6, true);
        assertEquals(0x26, pic.acknowledge());
        pic.setIrq(3, true);
        assertEquals(0x23, pic.acknowledge());
        master.write(0, 1, 0x66); // specific EOI, IRQ6
        assertEquals(0x08, isr(master), "IRQ3 still in service");
        master.write(0, 1, 0x63);
        assertEquals(0, isr(master));
    }

    @Test
    void aRequestWithdrawnBeforeInterruptAcknowledgeIsSpuriousIrq7() {
        init();
        pic.setIrq(4, true);
        assertTrue(pic.requesting());
        pic.setIrq(4, false);
        assertFalse(pic.requesting());
        assertEquals(0x27, pic.acknowledge(), "the master's IRQ7 vector");
        assertEquals(0, isr(master), "nothing goes into service: a spurious IRQ7 takes no EOI");
        pic.setIrq(12, true);
        pic.setIrq(12, false);
        assertEquals(0x27, pic.acknowledge(), "the slave's request went with its line: the master has nothing");
    }

    @Test
    void aRequestMaskedBetweenIntrAndInterruptAcknowledgeIsSpuriousToo() {
        init();
        pic.setIrq(9, true);
        assertTrue(pic.requesting());
        slave.write(1, 1, 0x02); // the slave's mask: its output, the master's cascade input, drops
        assertFalse(pic.requesting());
        assertEquals(0x27, pic.acknowledge());
        assertEquals(0, isr(master) | isr(slave));
    }

    @Test
    void edgeTriggeredInputsNeedANewRisingEdge() {
        init();
        pic.setIrq(4, true);
        assertEquals(0x24, pic.acknowledge());
        master.write(0, 1, 0x20);
        assertFalse(pic.requesting(), "still high, but no new edge");
        pic.setIrq(4, false);
        pic.setIrq(4, true);
        assertEquals(0x24, pic.acknowledge());
    }

    @Test
    void levelTriggeredInputsRequestForAsLongAsTheyAreHigh() {
        master.write(0, 1, 0x19); // ICW1 with LTIM
        master.write(1, 1, 0x20);
        master.write(1, 1, 0x04);
        master.write(1, 1, 0x01);
        master.write(1, 1, 0xFB);
        slave.write(1, 1, 0xFF);
        master.write(1, 1, 0x00);
        pic.setIrq(4, true);
        assertEquals(0x24, pic.acknowledge());
        master.write(0, 1, 0x20);
        assertTrue(pic.requesting(), "level: requests again after EOI");
    }

    @Test
    void automaticEoiAndPriorityRotation() {
        init(0x00, 0x00, 0x03); // ICW4 with AEOI
        pic.setIrq(4, true);
        assertEquals(0x24, pic.acknowledge());
        assertEquals(0, isr(master), "automatic EOI: nothing stays in service");

        init();
        master.write(0, 1, 0xC4); // set priority: IRQ4 lowest, so IRQ5 highest
        pic.setIrq(3, true);
        pic.setIrq(6, true);
        assertEquals(0x26, pic.acknowledge(), "IRQ6 outranks IRQ3 after the rotation");
        master.write(0, 1, 0xA0); // rotate on non-specific EOI: IRQ6 becomes lowest
        assertEquals(0x23, pic.acknowledge());
        pic.setIrq(6, false);
        pic.setIrq(6, true);
        pic.setIrq(1, true);
        master.write(0, 1, 0xE3); // rotate on specific EOI of IRQ3: IRQ3 lowest, IRQ4 highest
        assertEquals(0x26, pic.acknowledge(), "IRQ6 before IRQ1 (with IRQ6 still lowest it would be IRQ1)");
    }

    @Test
    void pollReadsTheHighestRequestAsACommand() {
        init();
        pic.setIrq(5, true);
        master.write(0, 1, 0x0C); // OCW3 poll
        assertEquals(0x85, master.read(0, 1));
        assertEquals(0x20, isr(master), "the poll read acknowledges");
        master.write(0, 1, 0x0C);
        assertEquals(0, master.read(0, 1), "nothing else requesting");
    }

    @Test
    void specialMaskModeLetsLowerInputsInWhileOneIsMasked() {
        init();
        pic.setIrq(1, true);
        assertEquals(0x21, pic.acknowledge());
        pic.setIrq(6, true);
        assertFalse(pic.requesting());
        master.write(1, 1, 0x02); // mask IRQ1, in service
        master.write(0, 1, 0x68); // OCW3: set special mask mode
        assertTrue(pic.requesting(), "IRQ1's in-service bit no longer blocks");
        assertEquals(0x26, pic.acknowledge());
    }

    @Test
    void icw1ResetsTheEdgeSenseAndInputsAreChecked() {
        init();
        pic.setIrq(4, true);
        init();
        assertFalse(pic.requesting(), "a line already high needs a new edge after ICW1");
        assertThrows(IllegalArgumentException.class, () -> pic.setIrq(16, true));
        assertThrows(IllegalArgumentException.class, () -> pic.setIrq(2, true), "IRQ2 is the cascade");
    }
}

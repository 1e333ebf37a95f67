package io.jkvm.devices;

import org.junit.jupiter.api.Test;

import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** The 8042's two ways to reset a PC (command 0xFE, and the output port's bit 0 through 0xD1), and nothing else. */
class I8042Test {
    private final AtomicInteger resets = new AtomicInteger();
    private final I8042 controller = new I8042(resets::incrementAndGet);

    @Test
    void commandFeResetsTheMachine() {
        assertEquals(0x1C, controller.commandPort().read(0, 1), "both buffers empty: a driver's wait ends");
        controller.commandPort().write(0, 1, 0xAA); // self-test and other commands: no reset
        controller.dataPort().write(0, 1, 0x00);
        assertEquals(0, resets.get());
        controller.commandPort().write(0, 1, 0xFE);
        assertEquals(1, resets.get());
    }

    @Test
    void theOutputPortsResetLineResetsOnlyWhenCleared() {
        controller.commandPort().write(0, 1, 0xD1);
        controller.dataPort().write(0, 1, 0x03); // reset line high, A20 on
        assertEquals(0, resets.get());
        controller.commandPort().write(0, 1, 0xD1);
        controller.restore(controller.save()); // the pending output-port write is part of the record
        controller.dataPort().write(0, 1, 0x02);
        assertEquals(1, resets.get());
        controller.dataPort().write(0, 1, 0x02); // no longer after 0xD1: a keyboard byte
        assertEquals(1, resets.get());
    }
}

package io.jkvm.emu;

import org.junit.jupiter.api.Test;

import java.util.HexFormat;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Every PAUSE is counted on its vCPU, whichever way it runs (the interpreter, a decoded block, a compiled method): the
 * count is what makes a spinning vCPU yield its host core every {@link SystemInstructions#PAUSES_PER_YIELD}th PAUSE, as
 * KVM's pause-loop exiting does, so the vCPU it waits for gets the core.
 */
class PauseLoopTest {
    // mov ecx, 1000; 1: pause; dec ecx; jnz 1b; hlt
    private static final byte[] SPIN = HexFormat.of().parseHex("b9e8030000" + "f390ffc975fa" + "f4");

    @Test
    void everyPauseIsCountedInEachSetting() {
        for (String setting : List.of("interpreter", "compiled", "blocks")) {
            List<Long> seen = CompiledGuests.runToHlt(setting, SPIN, vm -> List.of(vm.vcpu.pauses()));
            assertEquals(1000L, seen.get(0), setting + ": the loop's PAUSEs");
            assertEquals(0L, seen.get(1 + 1), setting + ": RCX counted down");
        }
    }
}

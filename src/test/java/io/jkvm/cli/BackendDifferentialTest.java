package io.jkvm.cli;

import io.jkvm.testing.Cli;
import io.jkvm.testing.TestGuests;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** Every test guest on KVM and on the software core: the same serial output, the same exit status. */
class BackendDifferentialTest {

    private static Cli.Result run(String backend, String guest, String input) {
        List<String> args = new ArrayList<>(List.of("run", "--backend", backend));
        if (!guest.isEmpty()) {
            args.addAll(List.of("--image", TestGuests.path(guest).toString()));
        }
        return Cli.runWithInput(input, args.toArray(String[]::new));
    }

    @ParameterizedTest
    @ValueSource(strings = {"", "hello_flat.bin", "exit42.elf", "halt.elf", "triple_fault.elf", "echo.elf", "irq_echo.elf"})
    void bothBackendsAgree(String guest) {
        String input = guest.endsWith("echo.elf") ? "Same on both\n" : "";
        Cli.Result kvm = run("kvm", guest, input);
        Cli.Result emulator = run("emulator", guest, input);
        assertEquals(kvm.out(), emulator.out(), "serial output of " + (guest.isEmpty() ? "the bundled guest" : guest));
        assertEquals(kvm.status(), emulator.status(), "exit status");
        assertEquals(kvm.err(), emulator.err(), "error line (a triple fault names the same RIP and bytes)");
    }
}

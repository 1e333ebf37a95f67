package io.jkvm.emu;

import io.jkvm.testing.EmuVm;
import io.jkvm.x86.ControlBits;
import io.jkvm.x86.RamLayout;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/**
 * Direct pages at CPL 3 under CR0.AM, which Linux always sets: a misaligned access is #AC(0) only while RFLAGS.AC is
 * set too, so user code (AC clear) reads and writes its pages directly, and setting AC leaves no direct page usable
 * until it is clear again, as the full path checks alignment.
 */
class AlignmentCheckDirectPagesTest {
    private static final long DATA = 0x5000;

    @Test
    void userPagesAreDirectUnderCr0AmUntilAcIsSet() {
        try (EmuVm vm = new EmuVm(new byte[] {(byte) 0xF4})) {
            Core core = new Core(vm.memory.mapping(), RamLayout.flat(vm.memory.size()), vm.model.cpuid(),
                    vm.model.mxcsrMask(), null);
            core.cr0 = ControlBits.CR0_PE | ControlBits.CR0_AM; // protected mode, no paging: CPL 3 without page tables
            core.setCpl(3);
            core.setRflags(0x2);
            core.read(DATA, 4);
            core.write(DATA + 8, 4, 7);
            assertNotEquals(-1, core.compiledReadAddress(DATA, 4), "a read at CPL 3 with AC clear made the page direct");
            assertNotEquals(-1, core.compiledWriteAddress(DATA, 4), "and a write");
            assertEquals(0x700, core.read(DATA + 7, 2), "a misaligned access with AC clear is no fault");

            core.setRflags(0x2 | CpuState.AC);
            assertEquals(-1, core.compiledReadAddress(DATA, 4), "with AC set no direct page serves CPL 3");
            assertEquals(-1, core.compiledWriteAddress(DATA, 4));
            GuestFault f = assertThrows(GuestFault.class, () -> core.read(DATA + 1, 4));
            assertEquals(GuestFault.AC, f.vector);
            assertEquals(-1, core.compiledReadAddress(DATA, 4), "the full path made no direct page while AC is set");

            core.setRflags(0x2);
            assertNotEquals(-1, core.compiledReadAddress(DATA, 4), "AC clear again: the page is direct again");
            core.setCpl(0);
            core.setRflags(0x2 | CpuState.AC);
            assertEquals(0x07000000L, core.read(DATA + 5, 4), "at CPL 0, AC checks no alignment");
        }
    }
}

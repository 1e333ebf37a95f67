package io.jkvm.kvm;

import io.jkvm.machine.GuestMemory;
import io.jkvm.testing.LongModeVm;
import io.jkvm.testing.RequiresKvm;
import io.jkvm.x86.Msrs;
import io.jkvm.x86.Registers;
import io.jkvm.x86.VcpuExit;
import io.jkvm.x86.VcpuState;
import io.jkvm.x86.XsaveArea;
import io.jkvm.x86.VcpuStateException;
import org.junit.jupiter.api.Test;

import java.util.Map;

import static io.jkvm.testing.LongModeVm.hex;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** state_test.c's loop: at each sync point save everything, destroy the VM, build a new one, load, compare, go on. */
class StateSaveRestoreTest {
    // rax = 1; out 0x80 (sync 1); rax += 41; out 0x80 (sync 2); rbx = rax * 2; out 0x80 (sync 3); hlt
    private static final byte[] GUEST = hex("b8 01 00 00 00 e6 80 48 83 c0 29 e6 80 48 8d 1c 00 e6 80 f4");

    @Test
    @RequiresKvm
    void everySyncPointSurvivesDestroyRecreateRestore() {
        LongModeVm g = new LongModeVm(GUEST);
        try {
            long[] expectedRax = {1, 42, 42};
            for (int sync = 0; sync < 3; sync++) {
                VcpuExit.Io io = assertInstanceOf(VcpuExit.Io.class, g.vcpu.run(), "sync point " + (sync + 1));
                assertEquals(0x80, io.port());
                // Move state out of its init values host-side, as the selftest's guest does with its own instructions.
                XsaveArea x = XsaveKvmTest.filled(g.vm.hostLayout(), g.vcpu.xsaveSize(), 100 + sync);
                g.vcpu.setXsave(x);
                g.vcpu.setMsrs(Map.of(Msrs.IA32_LSTAR, 0xFFFF_8000_0000_1000L + sync, Msrs.IA32_KERNEL_GS_BASE, 0x5000L + sync));

                VcpuState saved = g.vcpu.saveState();
                assertEquals(expectedRax[sync], saved.registers().rax());
                byte[] ram = new byte[(int) g.memory.size()];
                g.memory.read(0, ram);
                g.close();

                g = new LongModeVm(GUEST);
                g.memory.write(0, ram, 0, ram.length);
                g.vcpu.restoreState(saved);
                VcpuState loaded = g.vcpu.saveState();
                assertEquals(saved.registers(), loaded.registers());
                assertEquals(saved.specialRegisters(), loaded.specialRegisters());
                assertEquals(saved.xcr0(), loaded.xcr0());
                assertEquals(saved.msrs().get(Msrs.IA32_LSTAR), loaded.msrs().get(Msrs.IA32_LSTAR));
                assertEquals(saved.msrs().get(Msrs.IA32_KERNEL_GS_BASE), loaded.msrs().get(Msrs.IA32_KERNEL_GS_BASE));
                assertEquals(saved.events(), loaded.events());
                assertEquals(saved.debugRegisters(), loaded.debugRegisters());
                assertTrue(saved.xsave().sameState(loaded.xsave()), "XSAVE state survived at sync point " + (sync + 1));
            }
            assertInstanceOf(VcpuExit.Hlt.class, g.vcpu.run());
            Registers end = g.vcpu.registers();
            assertEquals(42, end.rax());
            assertEquals(84, end.rbx(), "the guest carried on from the restored state");
        } finally {
            g.close();
        }
    }

    @Test
    @RequiresKvm
    void aBadXcr0IsRefusedBeforeAnythingIsApplied() {
        try (LongModeVm g = new LongModeVm(hex("f4"))) {
            VcpuState s = g.vcpu.saveState();
            Registers before = g.vcpu.registers();
            VcpuState bad = s.withXcr0(0x5).withRegisters(before.withRip(0xDEAD)); // AVX without SSE
            VcpuStateException e = assertThrows(VcpuStateException.class, () -> g.vcpu.restoreState(bad));
            assertEquals("cannot restore vCPU 0: XCR0 enables AVX (bit 2) without SSE (bit 1)", e.getMessage());
            assertEquals(before, g.vcpu.registers(), "registers untouched");
        }
    }

    @Test
    @RequiresKvm
    void stateRecordReadsGprsZeroToFifteenFromRegisters() {
        try (LongModeVm g = new LongModeVm(hex("f4"))) {
            g.vcpu.setRegisters(g.vcpu.registers().withGpr(13, 0x1313));
            VcpuState s = g.vcpu.saveState();
            assertEquals(0x1313, s.gpr(13));
            assertEquals(0, s.gpr(16), "R16 is in its init state on a host without APX");
        }
    }

    @Test
    void guestMemoryHelperCopiesAll() {
        try (GuestMemory m = GuestMemory.allocate(4L << 20)) {
            m.writeLong(4096, 7);
            byte[] all = new byte[(int) m.size()];
            m.read(0, all);
            assertEquals(7, all[4096]);
        }
    }
}

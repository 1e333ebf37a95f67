package io.jkvm.emu;

import io.jkvm.testing.EmuVm;
import io.jkvm.x86.Registers;
import io.jkvm.x86.VcpuExit;
import org.junit.jupiter.api.Test;

import static io.jkvm.emu.ExceptionsTest.hex;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * INS and OUTS on the software core: one port exit per iteration, REP counting RCX down, DF choosing the direction,
 * INS's value landing in memory when the machine answers, and a store that would fault faulting before the port
 * is read.
 */
class StringIoTest {
    private static VcpuExit.Io io(VcpuExit e) {
        return assertInstanceOf(VcpuExit.Io.class, e);
    }

    @Test
    void repOutsAndInsMoveOneElementPerExit() {
        String code = ""
                + "66 ba f8 03 48 8d 35 26 00 00 00 b9 05 00 00 00 f3 6e" // dx = 0x3f8; rsi = msg; ecx = 5; rep outsb
                + "66 ba 60 00 48 c7 c7 00 00 30 00 b9 03 00 00 00 66 f3 6d" // dx = 0x60; rdi = 0x300000; ecx = 3; rep insw
                + "fd 48 c7 c7 10 00 30 00 6d fc 6f f4" // std; rdi = 0x300010; insd; cld; outsd; hlt
                + "68 65 6c 6c 6f"; // msg: "hello" (at +0x31)
        try (EmuVm vm = new EmuVm(hex(code))) {
            StringBuilder sent = new StringBuilder();
            for (int i = 0; i < 5; i++) {
                VcpuExit.Io e = io(vm.vcpu.run());
                assertTrue(e.out() && e.port() == 0x3F8 && e.size() == 1 && e.count() == 1, e.toString());
                sent.append((char) e.data().get(0));
            }
            assertEquals("hello", sent.toString());
            for (int i = 1; i <= 3; i++) {
                VcpuExit.Io e = io(vm.vcpu.run());
                assertTrue(!e.out() && e.port() == 0x60 && e.size() == 2, e.toString());
                e.data().set(0, 0x1111L * i);
            }
            VcpuExit.Io insd = io(vm.vcpu.run());
            assertTrue(!insd.out() && insd.size() == 4, insd.toString());
            insd.data().set(0, 0xCAFEBABEL);
            VcpuExit.Io outsd = io(vm.vcpu.run());
            assertTrue(outsd.out() && outsd.port() == 0x60 && outsd.size() == 4, outsd.toString());
            assertEquals(0, outsd.data().get(0), "OUTSD reads the 4 bytes after msg: zeros");
            assertInstanceOf(VcpuExit.Hlt.class, vm.vcpu.run());

            assertEquals(0x22221111, vm.memory.readInt(0x300000), "REP INSW stored the first two words in order");
            assertEquals(0x3333, vm.memory.readInt(0x300004) & 0xFFFF, "and the third");
            assertEquals(0xCAFEBABE, vm.memory.readInt(0x300010), "INSD stored where RDI pointed");
            Registers r = vm.vcpu.registers();
            assertEquals(0x30000CL, r.gpr(7), "with DF set RDI went down by 4");
            assertEquals(0, r.gpr(1), "REP counted RCX down to 0");
            assertEquals(EmuVm.CODE + 0x31 + 5 + 4, r.gpr(6), "RSI past msg, then past OUTSD's dword");
        }
    }

    @Test
    void anAddressSizePrefixMakesStringsUseEcxEsiAndEdi() {
        // rsi = 0x12345678_00300000; rdi = 0xabcdef00_00300100; rcx = 0xffffffff_00000004; rep movsb with 67 (a32)
        String code = "48 be 00 00 30 00 78 56 34 12 48 bf 00 01 30 00 00 ef cd ab 48 b9 04 00 00 00 ff ff ff ff 67 f3 a4 f4";
        try (EmuVm vm = new EmuVm(hex(code))) {
            vm.memory.writeInt(0x300000, 0x44332211);
            assertInstanceOf(VcpuExit.Hlt.class, vm.vcpu.run());
            assertEquals(0x44332211, vm.memory.readInt(0x300100), "4 bytes (ECX, not RCX) from ESI to EDI");
            Registers r = vm.vcpu.registers();
            assertEquals(0, r.gpr(1), "ECX counted down to 0, the upper half cleared as a 32-bit write does");
            assertEquals(0x300004L, r.gpr(6), "ESI advanced, zero-extended");
            assertEquals(0x300104L, r.gpr(7), "EDI advanced, zero-extended");
        }
    }

    /** Not a string instruction, but the same rule: a bit offset's bytes wrap with a 32-bit effective address. */
    @Test
    void anAddressSizePrefixWrapsABitTestsOffsetAt4GiB() {
        // ebx = 0xfffffffc; eax = 64; bts dword [ebx], eax with 67: 0xfffffffc + 8 wraps to 4
        try (EmuVm vm = new EmuVm(hex("bb fc ff ff ff b8 40 00 00 00 67 0f ab 03 f4"))) {
            assertInstanceOf(VcpuExit.Hlt.class, vm.vcpu.run());
            assertEquals(1, vm.memory.readInt(4) & 1, "bit 0 of the dword at 4 set");
        }
    }

    /** With TF set, the single-step trap follows the IN itself once the port has answered, not the next instruction. */
    @Test
    void singleSteppingAnInTrapsRightAfterIt() {
        try (EmuVm vm = new EmuVm(hex("e4 60 90 90 f4"))) { // in al, 0x60; nop; nop; hlt
            ExceptionsTest.installIdt(vm);
            vm.vcpu.setRegisters(vm.vcpu.registers().withRflags(0x2 | 0x100));
            VcpuExit.Io in = io(vm.vcpu.run());
            assertTrue(!in.out() && in.port() == 0x60, in.toString());
            in.data().set(0, 0x5A);
            VcpuExit.Io report = io(vm.vcpu.run());
            assertEquals(0x90, report.port());
            assertEquals(1, report.data().get(0), "#DB");
            Registers r = vm.vcpu.registers();
            assertEquals(EmuVm.CODE + 2, r.gpr(2), "the trap's saved RIP: right after the IN");
        }
    }

    @Test
    void repWithRcxZeroDoesNothingAndInsFaultsBeforeThePortIsRead() {
        // ecx = 0; rep outsb; then rdi = 1 << 63 (not canonical); insb: #GP(0) before any IN
        String code = "31 c9 f3 6e 48 bf 00 00 00 00 00 00 00 80 6c f4";
        try (EmuVm vm = new EmuVm(hex(code))) {
            ExceptionsTest.installIdt(vm);
            VcpuExit.Io e = io(vm.vcpu.run());
            assertTrue(e.out(), "no IN was made: " + e);
            assertEquals(0x90, e.port(), "the first exit is the #GP handler's report");
            assertEquals(13, e.data().get(0));
            assertEquals(0, vm.vcpu.registers().gpr(1), "RCX stays 0");
        }
    }
}

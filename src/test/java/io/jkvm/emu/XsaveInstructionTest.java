package io.jkvm.emu;

import io.jkvm.testing.Asm;
import io.jkvm.testing.EmuVm;
import io.jkvm.x86.VcpuExit;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;

/** XSAVE/XRSTOR of R16..R31 (component 19) at the offset the guest CPU model's CPUID.(0xD,19).EBX gives. */
class XsaveInstructionTest {
    private static final long BUFFER = 0x300000; // 64-byte aligned, identity-mapped

    @Test
    void xsaveStoresEgprsAtTheModelsOffsetAndXrstorBringsThemBack() {
        // r16 = 0x1616..., r31 = 0x3131...; xsave [BUFFER] with EDX:EAX = all; r16 = 0; xrstor; out 0x80
        Asm a = new Asm().setXcr0(0x80003L)
                .movImm64(16, 0x1616161616161616L).movImm64(31, 0x3131313131313131L)
                .movImm64(7, BUFFER).raw("b8 ff ff ff ff ba ff ff ff ff") // rdi = buffer; eax = edx = -1
                .raw("0f ae 27") // xsave [rdi]
                .movImm64(16, 0)
                .raw("0f ae 2f") // xrstor [rdi]
                .outAl(0x80).hlt();
        try (EmuVm vm = new EmuVm("host,+xsave,+apx", a.bytes())) {
            vm.nextOut(0x80);
            int offset = vm.model.cpuid().leaf(0xD, 19).ebx();
            assertEquals(0x1616161616161616L, vm.memory.readLong(BUFFER + offset), "R16 at CPUID.(0xD,19).EBX");
            assertEquals(0x3131313131313131L, vm.memory.readLong(BUFFER + offset + 15 * 8), "R31 at +120");
            assertEquals(1L << 19, vm.memory.readLong(BUFFER + 512) & (1L << 19), "XSTATE_BV[19] set");
            assertEquals(0x1616161616161616L, vm.vcpu.saveState().gpr(16), "XRSTOR brought R16 back");
        }
    }

    @Test
    void xrstorWithXstateBv19ClearPutsTheEgprsInTheirInitState() {
        Asm a = new Asm().setXcr0(0x80003L)
                .movImm64(20, 0x2020)
                .movImm64(7, BUFFER).raw("b8 ff ff ff ff ba ff ff ff ff")
                .raw("0f ae 27") // xsave [rdi]
                .raw("48 81 a7 00 02 00 00 ff ff f7 ff") // and qword [rdi + 512], ~(1 << 19)
                .raw("0f ae 2f") // xrstor [rdi]
                .outAl(0x80).hlt();
        try (EmuVm vm = new EmuVm("host,+xsave,+apx", a.bytes())) {
            vm.nextOut(0x80);
            assertEquals(0, vm.vcpu.saveState().gpr(20), "XRSTOR of an init component zeroes it (unlike KVM_SET_XSAVE, which leaves it)");
        }
    }

    @Test
    void xsaveNeedsOsxsaveAndAnAlignedBuffer() {
        byte[] unaligned = new Asm().movImm64(7, BUFFER + 8).raw("31 c0 31 d2 0f ae 27").hlt().bytes();
        try (EmuVm vm = new EmuVm("host,+xsave", unaligned)) {
            assertInstanceOf(VcpuExit.Shutdown.class, vm.vcpu.run(), "#GP with no IDT");
        }
        try (EmuVm vm = new EmuVm("host,-xsave", new Asm().movImm64(7, BUFFER).raw("0f ae 27").hlt().bytes())) {
            assertInstanceOf(VcpuExit.Shutdown.class, vm.vcpu.run(), "#UD without CR4.OSXSAVE");
        }
    }
}

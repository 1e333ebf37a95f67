package io.jkvm.emu;

import io.jkvm.testing.Asm;
import io.jkvm.testing.EmuVm;
import io.jkvm.x86.ApxState;
import io.jkvm.x86.Registers;
import io.jkvm.x86.VcpuExit;
import io.jkvm.x86.VcpuState;
import io.jkvm.x86.VcpuStateException;
import org.junit.jupiter.api.Test;

import java.util.HexFormat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class EmulatedVcpuTest {
    private static final String APX = "host,+xsave,+apx";
    private static final long XCR0_APX = 0x80003L;

    private static byte[] hex(String s) {
        return HexFormat.of().parseHex(s.replace(" ", ""));
    }

    private static long[] pattern(long seed) {
        long[] v = new long[16];
        for (int i = 0; i < 16; i++) {
            v[i] = seed * 0x9E3779B97F4A7C15L + (16L + i) * 0x0101010101010101L;
        }
        return v;
    }

    @Test
    void aluFlagsAndResultsOnTheLegacyRegisters() {
        // mov rax, -1; add rax, 1 (CF, ZF); out 0x80 with lahf's AH; hlt
        byte[] code = new Asm().movImm64(0, -1).movImm64(1, 1).alu(0, 0, 1).raw("9f 88 e0").outAl(0x80).hlt().bytes();
        try (EmuVm vm = new EmuVm(code)) {
            long ah = vm.nextOut(0x80);
            assertEquals(0x57, ah, "SF=0 ZF=1 AF=1 (carry out of bit 3) PF=1 CF=1, bit 1 always set");
            assertInstanceOf(VcpuExit.Hlt.class, vm.vcpu.run());
            assertEquals(0x5757, vm.vcpu.registers().rax(), "rax was 0; LAHF put the flags in AH, then mov al, ah");
        }
    }

    @Test
    void publishedRex2EncodingsExecuteOnEgprs() {
        byte[] code = new Asm()
                .movImm64(16, 0x1000).movImm64(17, 0x20).movImm64(18, 0x300)
                .raw("d5 58 01 d1") // add r17, r18          -> r17 = 0x320
                .raw("d5 38 8b 44 88 08") // mov rax, [r16 + r17*4 + 8] -> [0x1000 + 0xC80 + 8]
                .raw("d5 10 50") // push r16
                .raw("d5 11 5f") // pop r31                  -> r31 = 0x1000
                .raw("d5 c8 af c0") // imul r16, rax         -> r16 = 0x1000 * rax = 0x7000
                .raw("d5 10 50 d5 11 5e") // push r16; pop r30
                .raw("d5 18 90") // xchg r16, rax           -> r16 = 7, rax = 0x7000
                .raw("d5 90 94 c0") // sete r16b (ZF from imul is undefined: only the write matters)
                .raw("d5 90 b6 c0") // movzx eax, r16b
                .hlt().bytes();
        try (EmuVm vm = new EmuVm(APX, code)) {
            vm.vcpu.setXcr0(XCR0_APX);
            vm.memory.writeLong(0x1000 + 0x320 * 4 + 8, 7);
            assertInstanceOf(VcpuExit.Hlt.class, vm.vcpu.run());
            VcpuState s = vm.vcpu.saveState();
            assertEquals(0x320, s.gpr(17));
            assertEquals(0x1000, s.gpr(31));
            assertEquals(0x300, s.gpr(18));
            assertEquals(0x7000, s.gpr(30), "imul r16, rax");
            assertEquals(0, s.gpr(16) & ~0xFFL, "xchg put rax's 7 in r16; sete wrote only its low byte");
            assertEquals(s.gpr(16) & 0xFF, s.registers().rax(), "movzx eax, r16b");
        }
    }

    @Test
    void rex2WithXcr0ApxClearIsUndefined() {
        byte[] code = new Asm().movImm64(16, 1).hlt().bytes();
        try (EmuVm vm = new EmuVm(APX, code)) {
            assertInstanceOf(VcpuExit.Shutdown.class, vm.vcpu.run(), "#UD with no IDT: triple fault");
            assertEquals(EmuVm.CODE, vm.vcpu.registers().rip(), "faulted on the REX2 instruction");
        }
    }

    @Test
    void rex2BeforeAForbiddenOpcodeIsUndefined() {
        for (String bad : new String[]{"d5 00 70 00", "d5 00 e8 00 00 00 00", "d5 80 31", "d5 00 0f 05", "48 d5 18 b8"}) {
            try (EmuVm vm = new EmuVm(APX, hex(bad + " f4"))) {
                vm.vcpu.setXcr0(XCR0_APX);
                assertInstanceOf(VcpuExit.Shutdown.class, vm.vcpu.run(), bad);
            }
        }
    }

    /** apx_test.c (a): the guest writes R16..R31, the host sees them, sets them back, the guest checks them. */
    @Test
    void apxTestCaseA() {
        long[] v = pattern(0xA);
        Asm a = new Asm().setXcr0(XCR0_APX);
        for (int i = 0; i < 16; i++) {
            a.movImm64(16 + i, v[i]);
        }
        a.outAl(0x80); // sync: the host saves and restores
        checkAll(a, v);
        try (EmuVm vm = new EmuVm(APX, a.bytes())) {
            vm.nextOut(0x80);
            VcpuState s = vm.vcpu.saveState();
            for (int i = 0; i < 16; i++) {
                assertEquals(v[i], s.gpr(16 + i), "R" + (16 + i));
            }
            assertTrue(s.xsave().present(ApxState.COMPONENT), "XSTATE_BV[19] set on export");
            vm.vcpu.restoreState(s);
            assertEquals(0, vm.nextOut(0x81), "the guest found every value");
        }
    }

    /** apx_test.c (b): the host writes R16..R31 with XSTATE_BV[19]; the guest sees them. */
    @Test
    void apxTestCaseB() {
        long[] v = pattern(0xB);
        Asm a = new Asm().setXcr0(XCR0_APX).outAl(0x80);
        checkAll(a, v);
        try (EmuVm vm = new EmuVm(APX, a.bytes())) {
            vm.nextOut(0x80);
            VcpuState s = vm.vcpu.saveState();
            vm.vcpu.restoreState(s.withXsave(s.xsave().setApx(new ApxState(v))));
            assertEquals(0, vm.nextOut(0x81));
        }
    }

    /** apx_test.c (c): values survive XCR0[APX] going off and on; the host sees them while APX is off. */
    @Test
    void apxTestCaseC() {
        long[] v = pattern(0xC);
        Asm a = new Asm().setXcr0(XCR0_APX);
        for (int i = 0; i < 16; i++) {
            a.movImm64(16 + i, v[i]);
        }
        a.setXcr0(0x3).outAl(0x80).setXcr0(XCR0_APX);
        checkAll(a, v);
        try (EmuVm vm = new EmuVm(APX, a.bytes())) {
            vm.nextOut(0x80);
            VcpuState off = vm.vcpu.saveState();
            assertEquals(0x3, off.xcr0());
            for (int i = 0; i < 16; i++) {
                assertEquals(v[i], off.gpr(16 + i), "R" + (16 + i) + " kept while APX is off");
            }
            assertEquals(0, vm.nextOut(0x81));
        }
    }

    /** Compares R16..R31 with {@code v}; OUT 0x81 gets 0 when all match, else the first mismatching register number. */
    private static Asm checkAll(Asm a, long[] v) {
        for (int i = 0; i < 16; i++) {
            a.movImm64(0, v[i]).cmp(16 + i, 0)
                    .raw("75 02") // jne fail
                    .raw("eb 05") // jmp next
                    .movAl(16 + i).outAl(0x81).hlt(); // fail: report the register, stop
        }
        return a.movAl(0).outAl(0x81);
    }

    @Test
    void registersAndStateRoundTrip() {
        try (EmuVm vm = new EmuVm(new Asm().hlt().bytes())) {
            Registers r = new Registers(1, 2, 3, 4, 5, 6, 0x8000, 8, 9, 10, 11, 12, 13, 14, 15, 16, 0x100000, 0x2 | 0x1 | 0x40 | 0x800);
            vm.vcpu.setRegisters(r);
            assertEquals(r, vm.vcpu.registers());
            VcpuState s = vm.vcpu.saveState();
            vm.vcpu.setRegisters(r.withGpr(3, 99));
            vm.vcpu.restoreState(s);
            VcpuState back = vm.vcpu.saveState();
            assertEquals(s.registers(), back.registers());
            assertEquals(s.specialRegisters(), back.specialRegisters());
            assertTrue(s.xsave().sameState(back.xsave()));
            assertEquals(s.msrs().get(io.jkvm.x86.Msrs.IA32_LSTAR), back.msrs().get(io.jkvm.x86.Msrs.IA32_LSTAR));
            long tscDrift = back.msrs().get(io.jkvm.x86.Msrs.IA32_TSC) - s.msrs().get(io.jkvm.x86.Msrs.IA32_TSC);
            assertTrue(tscDrift >= 0 && tscDrift < 5_000_000_000L, "the TSC goes on from where it was: drift " + tscDrift);
        }
    }

    @Test
    void jmpabsJumpsToItsImmediateAndNeedsRex2WithW0() {
        // jmpabs 0x100020 (d5 00 a1 imm64); at 0x100020: out 0x80; hlt
        byte[] code = new byte[0x30];
        System.arraycopy(hex("d5 00 a1 20 00 10 00 00 00 00 00"), 0, code, 0, 11);
        System.arraycopy(hex("e6 80 f4"), 0, code, 0x20, 3);
        try (EmuVm vm = new EmuVm(APX, code)) {
            vm.vcpu.setXcr0(XCR0_APX);
            vm.nextOut(0x80);
        }
        for (String bad : new String[]{"d5 08 a1 20 00 10 00 00 00 00 00", "66 d5 00 a1 20 00 10 00 00 00 00 00"}) {
            try (EmuVm vm = new EmuVm(APX, hex(bad))) {
                vm.vcpu.setXcr0(XCR0_APX);
                assertInstanceOf(VcpuExit.Shutdown.class, vm.vcpu.run(), "#UD: " + bad);
            }
        }
    }

    @Test
    void anAnsweredMmioReadFinishesWhenTheVcpuIsAskedToExit() {
        // mov eax, 0xFEC00000 (past RAM, identity-mapped); mov eax, [rax]; hlt
        try (EmuVm vm = new EmuVm(hex("b8 00 00 c0 fe 8b 00 f4"))) {
            VcpuExit.Mmio m = assertInstanceOf(VcpuExit.Mmio.class, vm.vcpu.run());
            assertEquals(0xFEC00000L, m.address());
            m.data().set(0, 0x12345678);
            vm.vcpu.requestExit();
            assertInstanceOf(VcpuExit.Interrupted.class, vm.vcpu.run());
            Registers r = vm.vcpu.registers();
            assertEquals(0x12345678, r.rax());
            assertEquals(EmuVm.CODE + 7, r.rip(), "past the load: a state saved now does not read the device again");
        }
    }

    @Test
    void segmentDescriptorsComeBackAsLoaded() {
        try (EmuVm vm = new EmuVm(new Asm().hlt().bytes())) {
            io.jkvm.x86.SpecialRegisters s = vm.vcpu.specialRegisters();
            assertEquals(io.jkvm.machine.LongModeBoot.TSS, s.tr().base(), "TR's base, which the core does not keep itself");
            io.jkvm.x86.Segment ds = s.ds();
            io.jkvm.x86.Segment readOnly = new io.jkvm.x86.Segment(ds.base(), ds.limit(), ds.selector(), 0x1, ds.present(),
                    ds.dpl(), ds.db(), ds.s(), ds.l(), ds.g(), ds.avl(), ds.unusable());
            vm.vcpu.setSpecialRegisters(new io.jkvm.x86.SpecialRegisters(s.cs(), readOnly, s.es(), s.fs(), s.gs(), s.ss(),
                    s.tr(), s.ldt(), s.gdt(), s.idt(), s.cr0(), s.cr2(), s.cr3(), s.cr4(), s.cr8(), s.efer(), s.apicBase(),
                    s.interruptBitmap()));
            assertInstanceOf(VcpuExit.Hlt.class, vm.vcpu.run());
            assertEquals(readOnly, vm.vcpu.specialRegisters().ds(), "attributes as loaded while the selector stays");
        }
    }

    /** The refusals KVM's vCPU gives (XsaveKvmTest, KvmIoctlTest), with the same exception type and wording. */
    @Test
    void statesItCannotHoldAreRefusedAsKvmsVcpuRefusesThem() {
        try (EmuVm vm = new EmuVm(new byte[]{(byte) 0xF4})) {
            assertTrue(assertThrows(VcpuStateException.class, () -> vm.vcpu.setXcr0(0x2)).getMessage()
                    .startsWith("cannot set XCR0 on vCPU 0: "), "x87 (bit 0) off");
            assertTrue(assertThrows(VcpuStateException.class, () -> vm.vcpu.setMsrs(java.util.Map.of(0x12345, 1L))).getMessage()
                    .startsWith("the software core refused MSR 0x12345 = 0x1 on vCPU 0"));
        }
    }
}

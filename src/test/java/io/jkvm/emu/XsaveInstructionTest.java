package io.jkvm.emu;

import io.jkvm.testing.Asm;
import io.jkvm.testing.EmuVm;
import io.jkvm.x86.Activity;
import io.jkvm.x86.CpuFeature;
import io.jkvm.x86.CpuidEntry;
import io.jkvm.x86.CpuidFixtures;
import io.jkvm.x86.CpuidTable;
import io.jkvm.x86.Msrs;
import io.jkvm.x86.VcpuExit;
import io.jkvm.x86.VcpuState;
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

    /** XSAVEOPT (0F AE /6) writes the image XSAVE writes: its optimisations may skip stores, never change them. */
    @Test
    void xsaveoptWritesWhatXsaveWrites() {
        Asm a = new Asm().setXcr0(0x80003L)
                .movImm64(16, 0x1616161616161616L)
                .movImm64(7, BUFFER).raw("b8 ff ff ff ff ba ff ff ff ff")
                .raw("0f ae 27") // xsave [rdi]
                .movImm64(7, BUFFER + 0x1000)
                .raw("0f ae 37") // xsaveopt [rdi]
                .outAl(0x80).hlt();
        try (EmuVm vm = new EmuVm("host,+xsave,+apx", a.bytes())) {
            vm.nextOut(0x80);
            int size = vm.model.cpuid().leaf(0xD, 0).ebx();
            for (int at = 0; at < size; at += 8) {
                assertEquals(vm.memory.readLong(BUFFER + at), vm.memory.readLong(BUFFER + 0x1000 + at), "byte " + at);
            }
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

    /** R16 = 0x1616..., MXCSR = 0x1FC0 (DAZ), then a compacted save of x87, SSE and APX to BUFFER with {@code save}. */
    private static Asm compactedSave(String save) {
        return new Asm().setXcr0(0x80003L)
                .movImm64(16, 0x1616161616161616L)
                .movImm64(7, BUFFER).raw("c7 87 00 10 00 00 c0 1f 00 00 0f ae 97 00 10 00 00") // ldmxcsr 0x1FC0 via [rdi + 4096]
                .raw("b8 ff ff ff ff ba ff ff ff ff")
                .raw(save);
    }

    @Test
    void xsavecWritesTheCompactedFormatAndXrstorReadsIt() {
        // xsavec [rdi]; r16 = 0; xrstor [rdi] (compacted form); out 0x80
        Asm a = compactedSave("0f c7 27").movImm64(16, 0).raw("0f ae 2f").outAl(0x80).hlt();
        try (EmuVm vm = new EmuVm("host,+xsave,+apx,+xsavec", a.bytes())) {
            vm.nextOut(0x80);
            assertEquals(0x8000_0000_0008_0003L, vm.memory.readLong(BUFFER + 520), "XCOMP_BV: RFBM with bit 63");
            assertEquals(0x80003L, vm.memory.readLong(BUFFER + 512), "XSTATE_BV");
            assertEquals(0x1616161616161616L, vm.memory.readLong(BUFFER + 576), "APX, the only extended component, right after the header");
            assertEquals(0x1FC0, vm.memory.readLong(BUFFER + 24) & 0xFFFFFFFFL, "MXCSR in the legacy region");
            assertEquals(0x1616161616161616L, vm.vcpu.saveState().gpr(16), "the compacted XRSTOR brought R16 back");
        }
    }

    @Test
    void compactedXrstorWithSseInitSetsMxcsrTo1f80AndChecksTheHeader() {
        // xsavec; clear XSTATE_BV[1]; xrstor; stmxcsr [rdi + 4096]; then set a reserved header byte; xrstor: #GP
        Asm a = compactedSave("0f c7 27")
                .raw("48 83 a7 00 02 00 00 fd") // and qword [rdi + 512], ~2
                .raw("0f ae 2f 0f ae 9f 00 10 00 00").outAl(0x80)
                .raw("c6 87 1f 02 00 00 01 0f ae 2f").hlt(); // mov byte [rdi + 543], 1; xrstor
        try (EmuVm vm = new EmuVm("host,+xsave,+apx,+xsavec", a.bytes())) {
            vm.nextOut(0x80);
            assertEquals(0x1F80, vm.memory.readLong(BUFFER + 4096) & 0xFFFFFFFFL, "SSE in its init state: MXCSR = 1F80H, not the saved 0x1FC0");
            assertInstanceOf(VcpuExit.Shutdown.class, vm.vcpu.run(), "#GP (no IDT) for a reserved header byte");
        }
    }

    @Test
    void xsavesAndXrstorsAtCpl0() {
        // xsaves [rdi]; r16 = 0; xrstors [rdi]; out 0x80; then XCOMP_BV[63] cleared (btr qword [rdi + 520], 63): #GP
        Asm a = compactedSave("0f c7 2f").movImm64(16, 0).raw("0f c7 1f").outAl(0x80)
                .raw("48 0f ba b7 08 02 00 00 3f 0f c7 1f").hlt();
        try (EmuVm vm = new EmuVm("host,+xsave,+apx,+xsaves", a.bytes())) {
            vm.nextOut(0x80);
            assertEquals(0x8000_0000_0008_0003L, vm.memory.readLong(BUFFER + 520), "XSS is 0: the same components as XSAVEC");
            assertEquals(0x1616161616161616L, vm.vcpu.saveState().gpr(16));
            assertInstanceOf(VcpuExit.Shutdown.class, vm.vcpu.run(), "XRSTORS needs XCOMP_BV[63]: #GP, with no IDT a triple fault");
        }
    }

    @Test
    void theCompactedInstructionsAreUndefinedWithoutTheirCpuidBitsAndIa32XssTakesOnlyListedBits() {
        for (String insn : new String[]{"0f c7 27", "0f c7 2f", "0f c7 1f"}) {
            byte[] code = new Asm().movImm64(7, BUFFER).raw("31 c0 31 d2 " + insn).hlt().bytes();
            try (EmuVm vm = new EmuVm("host,+xsave,-xsavec,-xsaves", code)) {
                ExceptionsTest.installIdt(vm);
                assertEquals(6, vm.nextOut(0x90), insn + ": #UD");
            }
        }
        // wrmsr IA32_XSS = 1 (bit 0 is never a supervisor component): #GP(0)
        try (EmuVm vm = new EmuVm("host,+xsave,+xsaves", new Asm().raw("b9 a0 0d 00 00 b8 01 00 00 00 31 d2 0f 30").hlt().bytes())) {
            ExceptionsTest.installIdt(vm);
            assertEquals(13, vm.nextOut(0x90));
            assertEquals(EmuVm.CODE + 12, vm.vcpu.registers().rdx(), "the WRMSR faulted");
        }
        try (EmuVm vm = new EmuVm("host,+xsave,+xsaves", new Asm().raw("b9 a0 0d 00 00 31 c0 31 d2 0f 30 0f 32").hlt().bytes())) {
            assertInstanceOf(VcpuExit.Hlt.class, vm.vcpu.run(), "IA32_XSS = 0 is always allowed with XSAVES");
        }
    }
    /**
     * IA32_XSS travels in the state record when the model has a supervisor component to enable (here PT, bit 8), as
     * KVM lists it only then; with XSAVES but no such component it is always 0 and the record leaves it out.
     */
    @Test
    void ia32XssTravelsInTheStateRecordWhenTheModelHasSupervisorComponents() {
        CpuidTable pt = CpuidFixtures.intel().with(new CpuidEntry(0xD, 1, 1, 0xF, 0, 0x100, 0));
        byte[] write = new Asm().raw("b9 a0 0d 00 00 b8 00 01 00 00 31 d2 0f 30").hlt().bytes(); // wrmsr IA32_XSS = 0x100
        byte[] read = new Asm().raw("b9 a0 0d 00 00 31 c0 0f 32").hlt().bytes(); // eax = 0; rdmsr IA32_XSS
        try (EmuVm a = new EmuVm(CpuidFixtures.intelModel().withCpuid(pt), write);
             EmuVm b = new EmuVm(CpuidFixtures.intelModel().withCpuid(pt), read)) {
            assertInstanceOf(VcpuExit.Hlt.class, a.vcpu.run());
            VcpuState s = a.vcpu.saveState();
            assertEquals(0x100L, s.msrs().get(Msrs.IA32_XSS), "IA32_XSS in the record");
            b.vcpu.restoreState(s.withRegisters(s.registers().withRip(EmuVm.CODE)).withActivity(Activity.ACTIVE));
            assertInstanceOf(VcpuExit.Hlt.class, b.vcpu.run());
            assertEquals(0x100L, b.vcpu.registers().rax(), "RDMSR after the restore");
        }
        try (EmuVm vm = new EmuVm(CpuidFixtures.intelModel(), read)) { // XSAVES, and CPUID.(0xD,1) ECX:EDX = 0
            assertEquals(null, vm.vcpu.saveState().msrs().get(Msrs.IA32_XSS), "no IA32_XSS in the record");
            assertInstanceOf(VcpuExit.Hlt.class, vm.vcpu.run(), "RDMSR IA32_XSS still works: XSAVES is there");
            assertEquals(0, vm.vcpu.registers().rax());
        }
    }

    /** AMX's XFD (the 2021 series): XRSTOR of TILEDATA while IA32_XFD arms it is #NM, and IA32_XFD_ERR names it. */
    @Test
    void xrstorOfAComponentArmedInXfdIsDeviceNotAvailableWithXfdErrSet() {
        Asm a = new Asm().setXcr0(0x602E7L)                     // x87 SSE AVX AVX-512 PKRU TILECFG TILEDATA
                .raw("b9 c4 01 00 00 b8 00 00 04 00 31 d2 0f 30") // wrmsr IA32_XFD = 1 << 18 (TILEDATA)
                .raw("48 c7 c3 00 00 17 00")                      // mov rbx, 0x170000
                .raw("b8 00 00 06 00 31 d2 0f ae 2b");            // edx:eax = TILECFG | TILEDATA; xrstor [rbx]
        try (EmuVm vm = new EmuVm(CpuidFixtures.intelModel().withCpuid(CpuidFixtures.intel().withFeature(CpuFeature.XFD, true)), a.bytes())) {
            ExceptionsTest.installIdt(vm);
            vm.memory.writeLong(0x170000 + 512, 1L << 18); // XSTATE_BV: TILEDATA is in the image
            assertEquals(7, vm.nextOut(0x90), "#NM");
            VcpuState s = vm.vcpu.saveState();
            assertEquals(EmuVm.CODE + a.size() - 3, s.registers().rdx(), "a fault: the saved RIP is the XRSTOR");
            assertEquals(1L << 18, s.msrs().get(Msrs.IA32_XFD_ERR), "IA32_XFD_ERR: the component that faulted");
        }
    }
    /**
     * CPUID.(0xD,0):EBX and (0xD,1):EBX give the standard and the compacted size for what XCR0 (| IA32_XSS) enables
     * now, as Linux checks at boot ("XSAVE consistency problem" and no XSAVE when (0xD,1) kept the model's full size).
     */
    @Test
    void leaf0xDSizesFollowXcr0InBothFormats() {
        record Sizes(long xcr0, int standard, int compacted) {
        }
        // the Intel part puts AVX-512's Hi16_ZMM at 1664 (standard), the AMD part packs it at 1408
        for (var part : java.util.Map.of(CpuidFixtures.intelModel(), java.util.List.of(new Sizes(0x3, 576, 576),
                new Sizes(0x7, 832, 832), new Sizes(0xE7, 2688, 2432)), CpuidFixtures.amdModel(),
                java.util.List.of(new Sizes(0x3, 576, 576), new Sizes(0x7, 832, 832), new Sizes(0xE7, 2432, 2432))).entrySet()) {
            for (Sizes want : part.getValue()) {
                Asm a = new Asm().movImm64(7, BUFFER).setXcr0(want.xcr0())
                        .raw("b8 0d 00 00 00 b9 01 00 00 00 0f a2 89 1f") // cpuid (0xD,1); mov [rdi], ebx
                        .raw("b8 0d 00 00 00 31 c9 0f a2 89 5f 04").hlt(); // cpuid (0xD,0); mov [rdi + 4], ebx
                try (EmuVm vm = new EmuVm(part.getKey(), a.bytes())) {
                    assertInstanceOf(VcpuExit.Hlt.class, vm.vcpu.run());
                    String what = part.getKey().spec() + ", XCR0 " + Long.toHexString(want.xcr0());
                    assertEquals(want.compacted(), vm.memory.readInt(BUFFER), what + ": CPUID.(0xD,1):EBX");
                    assertEquals(want.standard(), vm.memory.readInt(BUFFER + 4), what + ": CPUID.(0xD,0):EBX");
                }
            }
        }
    }
}

package io.jkvm.emu;

import io.jkvm.testing.EmuVm;
import io.jkvm.x86.Registers;
import io.jkvm.x86.VcpuExit;
import org.junit.jupiter.api.Test;

import static io.jkvm.emu.ExceptionsTest.hex;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;

/**
 * Instructions an operating system runs at CPL0 that user-mode oracles cannot check: CLTS, SMSW, LMSW, INVD,
 * WBINVD; and the non-temporal stores (MOVNTI, MOVNTDQ, MOVNTPS, MOVNTPD), which store as their plain twins do.
 */
class SystemInstructionsTest {
    private static final long DATA = 0x300000;

    @Test
    void controlRegisterAndCacheInstructionsAndNonTemporalStores() {
        String code = ""
                + "0f 20 c0 48 83 c8 08 0f 22 c0" // mov rax, cr0; or rax, 8 (TS); mov cr0, rax
                + "0f 06 0f 20 c3" // clts; mov rbx, cr0
                + "0f 01 e1 0f 01 27" // smsw ecx; smsw word [rdi]
                + "b8 f2 ff 00 00 0f 01 f0 0f 20 c2" // mov eax, 0xfff2; lmsw ax; mov rdx, cr0
                + "0f 09 0f 08" // wbinvd; invd
                + "48 b8 88 77 66 55 44 33 22 11" // mov rax, 0x1122334455667788
                + "48 0f c3 47 08 0f c3 47 10" // movnti [rdi+8], rax; movnti [rdi+16], eax
                + "66 48 0f 6e c0 66 48 0f 6e c9 66 0f 6c c1" // movq xmm0, rax; movq xmm1, rcx; punpcklqdq xmm0, xmm1
                + "66 0f e7 47 20 0f 2b 47 30 66 0f 2b 47 40 f3 0f 7f 47 50" // movntdq, movntps, movntpd, movdqu: +0x20 ... +0x50
                + "f4";
        try (EmuVm vm = new EmuVm(hex(code))) {
            long cr0 = vm.vcpu.specialRegisters().cr0();
            vm.vcpu.setRegisters(vm.vcpu.registers().withGpr(7, DATA));
            assertInstanceOf(VcpuExit.Hlt.class, vm.vcpu.run());
            Registers r = vm.vcpu.registers();
            long cleared = cr0 & ~8L;
            assertEquals(cleared, r.gpr(3), "CLTS clears CR0.TS, and only it");
            assertEquals(cleared & 0xFFFF, r.gpr(1) & 0xFFFF, "SMSW r32: CR0's low 16 bits");
            assertEquals(cleared & 0xFFFF, vm.memory.readInt(DATA) & 0xFFFF, "SMSW m16");
            assertEquals((cleared & ~0xEL) | 0x2 | (cleared & 1), r.gpr(2), "LMSW: MP, EM, TS from the operand; PE cannot be cleared");
            assertEquals(0x1122334455667788L, vm.memory.readLong(DATA + 8), "MOVNTI m64");
            assertEquals(0x55667788, vm.memory.readInt(DATA + 16), "MOVNTI m32");
            long lo = vm.memory.readLong(DATA + 0x50), hi = vm.memory.readLong(DATA + 0x58);
            assertEquals(0x1122334455667788L, lo, "MOVDQU stored XMM0's low quadword");
            assertEquals(r.gpr(1), hi, "and its high one (RCX)");
            for (long at : new long[]{0x20, 0x30, 0x40}) {
                assertEquals(lo, vm.memory.readLong(DATA + at), "non-temporal store at +0x" + Long.toHexString(at));
                assertEquals(hi, vm.memory.readLong(DATA + at + 8), "non-temporal store at +0x" + Long.toHexString(at + 8));
            }
        }
    }

    /** RDPID reads IA32_TSC_AUX; CLFLUSHOPT and CLWB run as CLFLUSH does (an access, no change to memory). */
    @Test
    void rdpidClflushoptAndClwb() {
        String code = ""
                + "b9 03 01 00 c0 b8 78 56 34 12 31 d2 0f 30" // wrmsr TSC_AUX = 0x12345678
                + "48 c7 c0 ff ff ff ff f3 0f c7 f8" // mov rax, -1; rdpid rax
                + "66 0f ae 3f 66 0f ae 37" // clflushopt [rdi]; clwb [rdi]
                + "f4";
        try (EmuVm vm = new EmuVm(hex(code))) {
            vm.memory.writeLong(DATA, 0x5A5A);
            vm.vcpu.setRegisters(vm.vcpu.registers().withGpr(7, DATA));
            assertInstanceOf(VcpuExit.Hlt.class, vm.vcpu.run());
            assertEquals(0x12345678L, vm.vcpu.registers().rax(), "RDPID: TSC_AUX, zero-extended to 64 bits");
            assertEquals(0x5A5A, vm.memory.readLong(DATA), "CLFLUSHOPT and CLWB leave memory as it was");
        }
    }

    /**
     * RDFSBASE/WRFSBASE/RDGSBASE/WRGSBASE: #UD until CR4.FSGSBASE is set, then the bases the FS_BASE and GS_BASE MSRs
     * hold; a non-canonical base is #GP(0).
     */
    @Test
    void fsgsbaseInstructionsFollowCr4AndTheMsrs() {
        String code = ""
                + "0f 20 e0 48 0f ba e8 10 0f 22 e0" // mov rax, cr4; bts rax, 16 (FSGSBASE); mov cr4, rax
                + "48 b8 00 10 32 54 76 78 00 00 f3 48 0f ae d0" // mov rax, 0x787654321000; wrfsbase rax
                + "f3 48 0f ae c3" // rdfsbase rbx
                + "b9 00 01 00 c0 0f 32" // rdmsr FS_BASE -> edx:eax
                + "48 c7 c1 ff ff 00 00 f3 48 0f ae d9" // mov rcx, 0xffff; wrgsbase rcx
                + "f3 0f ae ce" // rdgsbase esi
                + "f4";
        try (EmuVm vm = new EmuVm(hex(code))) {
            assertInstanceOf(VcpuExit.Hlt.class, vm.vcpu.run());
            Registers r = vm.vcpu.registers();
            assertEquals(0x787654321000L, r.rbx(), "RDFSBASE gives what WRFSBASE wrote");
            assertEquals(0x54321000L, r.rax() & 0xFFFFFFFFL, "the FS_BASE MSR holds it (EAX)");
            assertEquals(0x7876L, r.rdx(), "(EDX)");
            assertEquals(0xFFFFL, r.rsi(), "RDGSBASE r32");
        }
        try (EmuVm vm = new EmuVm(hex("f3 48 0f ae c3 f4"))) { // rdfsbase rbx with CR4.FSGSBASE clear
            ExceptionsTest.installIdt(vm);
            assertEquals(6, vm.nextOut(0x90), "#UD without CR4.FSGSBASE");
        }
        String nonCanonical = "0f 20 e0 48 0f ba e8 10 0f 22 e0 48 b8 00 00 00 00 00 80 00 00 f3 48 0f ae d0"; // wrfsbase 1 << 47
        try (EmuVm vm = new EmuVm(hex(nonCanonical))) {
            ExceptionsTest.installIdt(vm);
            assertEquals(13, vm.nextOut(0x90), "#GP for a non-canonical base");
        }
    }

    @Test
    void miscEnableStartsAsKvmResetsItAndKeepsWhatIsWritten() {
        // mov ecx, 0x1a0; rdmsr; mov ebx, eax; mov eax, 1; xor edx, edx; wrmsr; rdmsr; hlt
        try (EmuVm vm = new EmuVm(hex("b9 a0 01 00 00 0f 32 89 c3 b8 01 00 00 00 31 d2 0f 30 0f 32 f4"))) {
            assertInstanceOf(VcpuExit.Hlt.class, vm.vcpu.run());
            Registers r = vm.vcpu.registers();
            assertEquals(0x1800, r.gpr(3), "IA32_MISC_ENABLE after reset: BTS and PEBS unavailable");
            assertEquals(1, r.gpr(0), "fast strings, as written");
            assertEquals(1L, vm.vcpu.saveState().msrs().get(io.jkvm.x86.Msrs.IA32_MISC_ENABLE), "and in the state record");
        }
    }

    /** The vector {@code code} raises after MOV RDI, DATA, or -1 at its end. */
    private static long vectorOf(String code) {
        return ExceptionsTest.vectorRaised("48 c7 c7 00 00 30 00", code);
    }

    @Test
    void nonTemporalStoresFaultAsTheSdmSays() {
        assertEquals(13, vectorOf("66 0f e7 47 08"), "MOVNTDQ to a misaligned m128: #GP(0)");
        assertEquals(13, vectorOf("0f 2b 47 04"), "MOVNTPS to a misaligned m128: #GP(0)");
        assertEquals(6, vectorOf("0f c3 c0"), "MOVNTI with a register destination: #UD");
        assertEquals(6, vectorOf("66 0f e7 c0"), "MOVNTDQ with a register destination: #UD");
        assertEquals(6, vectorOf("66 0f c3 07"), "MOVNTI with a 66 prefix: #UD");
        assertEquals(-1, vectorOf("66 0f e7 47 10 0f c3 37"), "aligned MOVNTDQ and MOVNTI m32 run");
    }

    /** CR4.UMIP: SGDT, SIDT, SLDT, SMSW and STR at CPL3 are #GP(0); at CPL0 they run. */
    @Test
    void umipKeepsDescriptorTableStoresFromUserMode() {
        byte[] kernel = java.util.HexFormat.of().parseHex("0f20e0" + "0d00080000" + "0f22e0"); // mov rax, cr4; or eax, UMIP; mov cr4, rax
        byte[] code = io.jkvm.testing.Asm.concat(kernel, ExceptionsTest.toUser().bytes());
        try (io.jkvm.testing.EmuVm vm = new io.jkvm.testing.EmuVm(code)) {
            ExceptionsTest.installIdt(vm);
            ExceptionsTest.userPages(vm);
            byte[] user = java.util.HexFormat.of().parseHex("0f010424"); // sgdt [rsp]
            vm.memory.write(ExceptionsTest.USER, user, 0, user.length);
            assertEquals(13, vm.nextOut(0x90));
            assertEquals(0, vm.vcpu.registers().rbx(), "#GP(0)");
            assertEquals(ExceptionsTest.USER, vm.vcpu.registers().rdx(), "at the SGDT");
            assertEquals(0x800, vm.vcpu.specialRegisters().cr4() & 0x800, "CR4.UMIP set");
        }
    }

    /**
     * RDPMC: an AMD model reads PerfCtr0-3 (what WRMSR put there: the core counts no events, 48 bits); counter 4 and
     * any counter on an Intel model (no architectural PMU) are #GP(0), as a guest's PMU probe expects.
     */
    @Test
    void rdpmcReadsAmdsLegacyCountersAndFaultsElsewhere() {
        String code = ""
                + "b9 05 00 01 c0 b8 44 33 22 11 ba 66 55 ff ff 0f 30" // wrmsr PERF_CTR1 = 0xffff556611223344
                + "b9 01 00 00 00 0f 33" // mov ecx, 1; rdpmc
                + "f4"
                + "b9 04 00 00 00 0f 33 f4"; // mov ecx, 4; rdpmc
        try (EmuVm vm = new EmuVm(io.jkvm.x86.CpuidFixtures.amdModel(), hex(code))) {
            ExceptionsTest.installIdt(vm);
            assertInstanceOf(VcpuExit.Hlt.class, vm.vcpu.run());
            Registers r = vm.vcpu.registers();
            assertEquals(0x11223344L, r.gpr(0), "EAX: the counter's low half");
            assertEquals(0x5566L, r.gpr(2), "EDX: bits 32-47 of it");
            assertEquals(13, vm.nextOut(0x90), "counter 4 of four: #GP");
        }
        try (EmuVm vm = new EmuVm(io.jkvm.x86.CpuidFixtures.intelModel(), hex("b9 00 00 00 00 0f 33 f4"))) {
            ExceptionsTest.installIdt(vm);
            assertEquals(13, vm.nextOut(0x90), "an Intel model has no counters to read: #GP");
        }
    }

    /**
     * AMD's HWCR (MSR C001_0015) as KVM has it: TscFreqSel set from the start (the TSC counts at one rate), a write
     * keeps McStatusWrEn and TscFreqSel, drops bits 3, 6 and 8, and is #GP(0) for any other; NB_CFG (C001_001F)
     * reads 0 and takes any write, as Linux's bring-up of each CPU sets a bit there; an Intel model has neither.
     */
    @Test
    void amdsHwcrKeepsWhatKvmKeepsAndIntelHasNone() {
        String code = ""
                + "b9 15 00 01 c0 0f 32 49 89 c0" // mov ecx, HWCR; rdmsr; mov r8, rax
                + "b8 08 00 04 01 31 d2 0f 30 0f 32 49 89 c2" // wrmsr bits 3, 18 and 24; rdmsr; mov r10, rax
                + "b9 1f 00 01 c0 31 c0 ba 00 40 00 00 0f 30 0f 32 49 89 d1" // NB_CFG: wrmsr bit 46; rdmsr; mov r9, rdx
                + "b9 15 00 01 c0" // mov ecx, HWCR
                + "f4"
                + "b8 01 00 00 00 0f 30 f4"; // wrmsr bit 0
        try (EmuVm vm = new EmuVm(io.jkvm.x86.CpuidFixtures.amdModel(), hex(code))) {
            ExceptionsTest.installIdt(vm);
            assertInstanceOf(VcpuExit.Hlt.class, vm.vcpu.run());
            Registers r = vm.vcpu.registers();
            assertEquals(1L << 24, r.gpr(8), "at reset: TscFreqSel");
            assertEquals(1L << 24 | 1L << 18, r.gpr(10), "McStatusWrEn and TscFreqSel kept, bit 3 dropped");
            assertEquals(0, r.gpr(9), "NB_CFG reads 0 after the write");
            assertEquals(13, vm.nextOut(0x90), "bit 0: #GP");
        }
        for (String msr : new String[] {"15", "1f"}) {
            try (EmuVm vm = new EmuVm(io.jkvm.x86.CpuidFixtures.intelModel(), hex("b9 " + msr + " 00 01 c0 0f 32 f4"))) {
                ExceptionsTest.installIdt(vm);
                assertEquals(13, vm.nextOut(0x90), "an Intel model has no MSR C001_00" + msr + ": #GP");
            }
        }
    }

    /**
     * AMD's automatic IBRS (auto-ibrs, CPUID.80000021H:EAX[8]): a model with it has EFER.AIBRSE (bit 21), which Linux
     * sets instead of using retpolines, and 0x80000021 within its extended leaves; a model without it answers the same
     * write with #GP(0).
     */
    @Test
    void automaticIbrsIsAnEferBitWhereTheModelHasIt() {
        String code = ""
                + "b8 00 00 00 80 0f a2 49 89 c0" // mov eax, 0x80000000; cpuid; mov r8, rax
                + "b8 21 00 00 80 0f a2 49 89 c1" // mov eax, 0x80000021; cpuid; mov r9, rax
                + "b9 80 00 00 c0 0f 32 49 89 c3" // mov ecx, EFER; rdmsr; mov r11, rax
                + "0f ba e8 15 0f 30 0f 32 49 89 c2" // bts eax, 21; wrmsr; rdmsr; mov r10, rax
                + "f4";
        io.jkvm.x86.CpuModel amd = io.jkvm.x86.CpuidFixtures.amdModel();
        io.jkvm.x86.CpuModel withIt = io.jkvm.x86.CpuModel.parse("host,+auto-ibrs", amd.cpuid(), amd.mxcsrMask());
        try (EmuVm vm = new EmuVm(withIt, hex(code))) {
            assertInstanceOf(VcpuExit.Hlt.class, vm.vcpu.run());
            Registers r = vm.vcpu.registers();
            assertEquals(0x80000021L, r.gpr(8), "the extended leaves reach 0x80000021");
            assertEquals(1L << 8, r.gpr(9) & 1L << 8, "CPUID.80000021H:EAX[8]");
            assertEquals(r.gpr(11) | 1L << 21, r.gpr(10), "EFER takes AIBRSE and keeps the rest");
            assertEquals(r.gpr(10), vm.vcpu.specialRegisters().efer(), "as the vCPU's state has it");
        }
        try (EmuVm vm = new EmuVm(amd, hex(code))) {
            ExceptionsTest.installIdt(vm);
            assertEquals(13, vm.nextOut(0x90), "no auto-ibrs: the write is #GP");
        }
    }

    /**
     * SRSO_NO (CPUID.80000021H:EAX[29]): the core, with no speculative execution, says it is not exposed to Speculative
     * Return Stack Overflow on a model that follows the APM and whose extended leaves reach 0x80000021 (Linux then
     * leaves its safe-RET return thunks out); the model's table keeps the bit clear. An Intel model's leaf, and an AMD
     * model's beyond its range, read as the table has them.
     */
    @Test
    void srsoNoIsTheCoresOwnAnswerOnAnAmdModel() {
        String code = "b8 21 00 00 80 0f a2 49 89 c1 f4"; // mov eax, 0x80000021; cpuid; mov r9, rax; hlt
        io.jkvm.x86.CpuModel amd = io.jkvm.x86.CpuidFixtures.amdModel();
        io.jkvm.x86.CpuModel reaching = io.jkvm.x86.CpuModel.parse("host,+auto-ibrs", amd.cpuid(), amd.mxcsrMask());
        assertEquals(0, reaching.cpuid().leaf(0x8000_0021, 0).eax() & 1 << 29, "the model's table has no SRSO_NO");
        try (EmuVm vm = new EmuVm(reaching, hex(code))) {
            assertInstanceOf(VcpuExit.Hlt.class, vm.vcpu.run());
            long eax = vm.vcpu.registers().gpr(9);
            assertEquals(1L << 29, eax & 1L << 29, "SRSO_NO");
            assertEquals(reaching.cpuid().leaf(0x8000_0021, 0).eax() | 1L << 29, eax, "the model's other bits as they are");
        }
        try (EmuVm vm = new EmuVm(amd, hex(code))) {
            assertInstanceOf(VcpuExit.Hlt.class, vm.vcpu.run());
            assertEquals(0, vm.vcpu.registers().gpr(9), "0x80000021 beyond the model's extended leaves: nothing added");
        }
        io.jkvm.x86.CpuModel intel = new io.jkvm.x86.CpuModel("intel with the leaf",
                io.jkvm.x86.CpuidFixtures.withVendor(reaching.cpuid(), "GenuineIntel"), io.jkvm.x86.CpuModel.INTEL_MXCSR_MASK);
        try (EmuVm vm = new EmuVm(intel, hex(code))) {
            assertInstanceOf(VcpuExit.Hlt.class, vm.vcpu.run());
            assertEquals(intel.cpuid().leaf(0x8000_0021, 0).eax(), vm.vcpu.registers().gpr(9), "an Intel model's leaf as its table has it");
        }
    }

    /**
     * IA32_ARCH_CAPABILITIES (arch-capabilities, CPUID.(7,0):EDX[29]), read-only: the core, with no speculative
     * execution, is not affected by Meltdown (RDCL_NO: Linux leaves page-table isolation off), MDS (no VERW at each
     * return to user) or ITS (no aligned thunks), and has no IBRS_ALL (it has no SPEC_CTRL); without the CPUID bit the
     * MSR is #GP. IA32_BIOS_SIGN_ID, on either vendor as KVM has it: a write is dropped, a read gives revision 1 in EDX.
     */
    @Test
    void archCapabilitiesSayWhatTheCoreIsNotAffectedBy() {
        String code = ""
                + "b9 0a 01 00 00 0f 32 49 89 c0 49 89 d1" // mov ecx, ARCH_CAPABILITIES; rdmsr; mov r8, rax; mov r9, rdx
                + "b9 8b 00 00 00 31 c0 31 d2 0f 30 0f 32 49 89 d2" // mov ecx, BIOS_SIGN_ID; wrmsr 0; rdmsr; mov r10, rdx
                + "b9 0a 01 00 00 f4" // mov ecx, ARCH_CAPABILITIES; hlt
                + "0f 30 f4"; // wrmsr
        io.jkvm.x86.CpuModel intel = io.jkvm.x86.CpuidFixtures.intelModel();
        io.jkvm.x86.CpuModel withIt = io.jkvm.x86.CpuModel.parse("host,+arch-capabilities", intel.cpuid(), intel.mxcsrMask());
        try (EmuVm vm = new EmuVm(withIt, hex(code))) {
            ExceptionsTest.installIdt(vm);
            assertInstanceOf(VcpuExit.Hlt.class, vm.vcpu.run());
            Registers r = vm.vcpu.registers();
            long caps = r.gpr(8) & 0xFFFFFFFFL | r.gpr(9) << 32;
            assertEquals(1, caps & 1, "RDCL_NO");
            assertEquals(1L << 5, caps & 1L << 5, "MDS_NO");
            assertEquals(1L << 8, caps & 1L << 8, "TAA_NO");
            assertEquals(1L << 62, caps & 1L << 62, "ITS_NO");
            assertEquals(0, caps & 2, "no IBRS_ALL");
            assertEquals(1, r.gpr(10), "microcode revision 1");
            assertEquals(13, vm.nextOut(0x90), "the MSR is read-only: #GP");
        }
        for (io.jkvm.x86.CpuModel model : new io.jkvm.x86.CpuModel[] {intel, io.jkvm.x86.CpuidFixtures.amdModel()}) {
            try (EmuVm vm = new EmuVm(model, hex("b9 8b 00 00 00 0f 32 b9 0a 01 00 00 f4 0f 32 f4"))) {
                ExceptionsTest.installIdt(vm);
                assertInstanceOf(VcpuExit.Hlt.class, vm.vcpu.run());
                assertEquals(1, vm.vcpu.registers().gpr(2), model.spec() + ": BIOS_SIGN_ID reads revision 1");
                assertEquals(13, vm.nextOut(0x90), model.spec() + ": no arch-capabilities, no MSR 0x10A");
            }
        }
    }
}

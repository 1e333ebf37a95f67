package io.jkvm.emu;

import io.jkvm.testing.Asm;
import io.jkvm.testing.EmuVm;
import io.jkvm.x86.ControlBits;
import io.jkvm.x86.SpecialRegisters;
import org.junit.jupiter.api.Test;

import static io.jkvm.emu.ExceptionsTest.hex;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Protection keys for user pages (PKU, CR4.PKE): WRPKRU and RDPKRU, a data access to a user page refused by its key's
 * access-disable bit and a write by its write-disable bit under CR0.WP (a #PF with the PK bit, 0x20), OSPKE in
 * CPUID, and PKRU as XSAVE component 9. Supervisor code reaches the user page here, as kvm-unit-tests' pku does.
 */
class ProtectionKeysTest {
    private static final long PML4 = 0x200000, PDPT = 0x201000, PD = 0x202000, PT = 0x203000;
    private static final long VIRT = 0x4000_0000L, FRAME = 0x300000, KEY = 2;

    /** The 1 GiB at 0 as supervisor pages; VIRT a user page of key 2. */
    private static EmuVm vm(byte[] code) {
        return vm(code, ControlBits.PTE_USER);
    }

    /** The same with VIRT's own entry given {@code leafUser} (0: a supervisor page of key 2). */
    private static EmuVm vm(byte[] code, long leafUser) {
        EmuVm vm = new EmuVm("max", code);
        long u = ControlBits.PTE_USER;
        vm.memory.writeLong(PML4, PDPT | 3 | u);
        vm.memory.writeLong(PDPT, 0x83);
        vm.memory.writeLong(PDPT + 8, PD | 3 | u);
        vm.memory.writeLong(PD, PT | 3 | u);
        vm.memory.writeLong(PT, FRAME | 3 | leafUser | KEY << 59);
        vm.memory.writeLong(FRAME, 0x5A5A);
        SpecialRegisters s = vm.vcpu.specialRegisters();
        vm.vcpu.setSpecialRegisters(new SpecialRegisters(s.cs(), s.ds(), s.es(), s.fs(), s.gs(), s.ss(), s.tr(), s.ldt(),
                s.gdt(), s.idt(), s.cr0() | ControlBits.CR0_WP, s.cr2(), PML4, s.cr4(), s.cr8(), s.efer(), s.apicBase(),
                s.interruptBitmap()));
        ExceptionsTest.installIdt(vm);
        return vm;
    }

    private static Asm pke() {
        return new Asm().raw("0f 20 e0 48 0d 00 00 40 00 0f 22 e0"); // mov rax, cr4; or rax, PKE; mov cr4, rax
    }

    private static String wrpkru(int value) {
        return String.format("b8 %02x %02x %02x %02x 31 c9 31 d2 0f 01 ef", value & 0xFF, (value >>> 8) & 0xFF,
                (value >>> 16) & 0xFF, value >>> 24);
    }

    @Test
    void writeDisableRefusesAWriteButNotAReadAndRdpkruReadsItBack() {
        Asm a = pke().raw(wrpkru(0x20)) // key 2: write-disable
                .raw("b8 07 00 00 00 31 c9 0f a2").outAl(0x80) // cpuid 7: ECX.OSPKE
                .raw("31 c9 0f 01 ee").outAl(0x81) // rdpkru
                .movImm64(3, VIRT).raw("48 8b 33").outAl(0x82) // rsi = [VIRT]: a read, allowed
                .raw("48 89 03") // mov [VIRT], rax: refused
                .hlt();
        try (EmuVm vm = vm(a.bytes())) {
            vm.nextOut(0x80);
            assertEquals(1 << 4, vm.vcpu.registers().rcx() & (1 << 4), "OSPKE with CR4.PKE");
            vm.nextOut(0x81);
            assertEquals(0x20, vm.vcpu.registers().rax(), "RDPKRU");
            vm.nextOut(0x82);
            assertEquals(0x5A5A, vm.vcpu.registers().rsi());
            assertEquals(14, vm.nextOut(0x90), "#PF");
            assertEquals(0x23, vm.vcpu.registers().rbx(), "P, W and PK in the error code");
            assertEquals(VIRT, vm.vcpu.specialRegisters().cr2());
        }
    }

    @Test
    void accessDisableRefusesAReadAfterTheTranslationWasCachedAllowed() {
        Asm a = pke().movImm64(3, VIRT).raw("48 8b 33").outAl(0x80) // a read with every key open: the TLB has it
                .raw(wrpkru(0x10)) // key 2: access-disable
                .raw("48 8b 33") // the same read: refused
                .hlt();
        try (EmuVm vm = vm(a.bytes())) {
            vm.nextOut(0x80);
            assertEquals(14, vm.nextOut(0x90), "#PF");
            assertEquals(0x21, vm.vcpu.registers().rbx(), "P and PK");
        }
    }

    /** PKS: IA32_PKRS gives supervisor pages the same rights under CR4.PKS, and WRMSR of it takes effect at once. */
    @Test
    void pkrsRefusesSupervisorPagesUnderCr4Pks() {
        Asm a = new Asm().raw("0f 20 e0 48 0d 00 00 00 01 0f 22 e0") // mov rax, cr4; or rax, PKS; mov cr4, rax
                .movImm64(3, VIRT).raw("48 8b 33").outAl(0x80) // a read with every key open
                .raw("b9 e1 06 00 00 b8 20 00 00 00 31 d2 0f 30") // wrmsr IA32_PKRS = key 2 write-disable
                .raw("48 8b 33").outAl(0x81) // a read: allowed
                .raw("48 89 03") // a write under CR0.WP: refused
                .hlt();
        try (EmuVm vm = vm(a.bytes(), 0)) {
            vm.nextOut(0x80);
            vm.nextOut(0x81);
            assertEquals(0x5A5A, vm.vcpu.registers().rsi());
            assertEquals(14, vm.nextOut(0x90), "#PF");
            assertEquals(0x23, vm.vcpu.registers().rbx(), "P, W and PK");
            assertEquals(0x20, vm.vcpu.saveState().msrs().get(io.jkvm.x86.Msrs.IA32_PKRS), "IA32_PKRS in the state record");
        }
    }

    @Test
    void pkruInstructionsAreUndefinedWithoutCr4PkeAndPkruIsXsaveComponent9() {
        assertEquals(6, ExceptionsTest.vectorRaised("max", "", "31 c9 0f 01 ee"), "RDPKRU without CR4.PKE: #UD");
        try (EmuVm vm = vm(pke().raw(wrpkru(0x0C)).hlt().bytes())) {
            vm.vcpu.run();
            io.jkvm.x86.VcpuState s = vm.vcpu.saveState();
            try (EmuVm other = vm(pke().raw("31 c9 0f 01 ee").hlt().bytes())) {
                other.vcpu.restoreState(s.withRegisters(other.vcpu.registers()).withActivity(io.jkvm.x86.Activity.ACTIVE));
                other.vcpu.run();
                assertEquals(0x0C, other.vcpu.registers().rax() & 0xFFFFFFFFL, "PKRU rode the state record's XSAVE area");
            }
        }
    }
}

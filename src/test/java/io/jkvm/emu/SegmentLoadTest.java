package io.jkvm.emu;

import io.jkvm.machine.LongModeBoot;
import io.jkvm.testing.EmuVm;
import io.jkvm.x86.DescriptorTable;
import io.jkvm.x86.Registers;
import io.jkvm.x86.SpecialRegisters;
import io.jkvm.x86.VcpuExit;
import org.junit.jupiter.api.Test;

import static io.jkvm.emu.ExceptionsTest.CODE;
import static io.jkvm.emu.ExceptionsTest.USER;
import static io.jkvm.emu.ExceptionsTest.hex;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;

/**
 * MOV to and from segment registers and PUSH/POP FS/GS in 64-bit mode on the software core: FS/GS bases from the
 * descriptor, the accessed bit, and each check's fault with its error code (the selector without RPL, or 0).
 */
class SegmentLoadTest {
    private static final long GDT = 0x105000;
    private static final int FS_DATA = 0x28, NOT_PRESENT = 0x30, EXECUTE_ONLY = 0x38, DATA_DPL3 = 0x40, READ_ONLY = 0x48,
            READABLE_CODE = 0x50, SYSTEM = 0x58, GDT_LIMIT = 0x5F;

    private static long descriptor(long base, int access) {
        return 0xFFFF | (base & 0xFFFFFF) << 16 | (long) access << 40 | 0xCFL << 48 | (base >>> 24 & 0xFF) << 56;
    }

    /** The boot GDT's null, code, data and TSS entries, then the test's descriptors. */
    private static void installGdt(EmuVm vm) {
        for (int i = 0; i < 5; i++) {
            vm.memory.writeLong(GDT + i * 8L, vm.memory.readLong(LongModeBoot.GDT + i * 8L));
        }
        vm.memory.writeLong(GDT + FS_DATA, descriptor(0x12345678, 0x92)); // writable data, not yet accessed
        vm.memory.writeLong(GDT + NOT_PRESENT, descriptor(0, 0x12));
        vm.memory.writeLong(GDT + EXECUTE_ONLY, descriptor(0, 0x98));
        vm.memory.writeLong(GDT + DATA_DPL3, descriptor(0, 0xF2));
        vm.memory.writeLong(GDT + READ_ONLY, descriptor(0, 0x90));
        vm.memory.writeLong(GDT + READABLE_CODE, descriptor(0, 0x9A));
        vm.memory.writeLong(GDT + SYSTEM, descriptor(0, 0x82)); // an LDT descriptor: not a segment MOV can load
        SpecialRegisters s = vm.vcpu.specialRegisters();
        vm.vcpu.setSpecialRegisters(new SpecialRegisters(s.cs(), s.ds(), s.es(), s.fs(), s.gs(), s.ss(), s.tr(), s.ldt(),
                new DescriptorTable(GDT, GDT_LIMIT), s.idt(), s.cr0(), s.cr2(), s.cr3(), s.cr4(), s.cr8(), s.efer(),
                s.apicBase(), s.interruptBitmap()));
    }

    private static EmuVm vm(String code) {
        EmuVm vm = new EmuVm(hex(code));
        ExceptionsTest.installIdt(vm);
        installGdt(vm);
        return vm;
    }

    /** mov ax, selector; mov Sreg, ax (Sreg 0 ES, 2 SS, 3 DS, 4 FS, 5 GS): the fault it raises. */
    private static ExceptionsTest.Taken load(int sreg, int selector) {
        String code = String.format("66 b8 %02x %02x 8e %02x", selector & 0xFF, selector >>> 8, 0xC0 | sreg << 3);
        try (EmuVm vm = vm(code)) {
            long vector = vm.nextOut(0x90);
            Registers r = vm.vcpu.registers();
            return new ExceptionsTest.Taken((int) vector, r.rbx(), 0, r.rdx(), r.rsi());
        }
    }

    private static ExceptionsTest.Taken fault(int vector, int code) {
        return new ExceptionsTest.Taken(vector, code, 0, CODE + 4, 0x08);
    }

    @Test
    void movFsAndGsLoadTheDescriptorsBaseAndMarkItAccessed() {
        // mov ax, 0x28; mov fs, ax; mov gs, ax; rdmsr FS_BASE -> r8; rdmsr GS_BASE; hlt
        try (EmuVm vm = vm("66 b8 28 00 8e e0 8e e8 b9 00 01 00 c0 0f 32 49 89 c0 b9 01 01 00 c0 0f 32 f4")) {
            assertInstanceOf(VcpuExit.Hlt.class, vm.vcpu.run());
            Registers r = vm.vcpu.registers();
            assertEquals(0x12345678, r.r8(), "FS base: the descriptor's 32-bit base");
            assertEquals(0x12345678, r.rax(), "GS base");
            assertEquals(FS_DATA, vm.vcpu.specialRegisters().fs().selector());
            assertEquals(0x93, vm.memory.readLong(GDT + FS_DATA) >>> 40 & 0xFF, "the accessed bit is set in the GDT");
        }
    }

    @Test
    void aSelectorPastTheGdtLimitIsGpWithItsIndex() {
        assertEquals(fault(13, 0x60), load(3, 0x60));
        assertEquals(fault(13, 0x60), load(3, 0x63), "the RPL bits are not in the error code");
        assertEquals(fault(13, 0x0C), load(4, 0x0C), "TI = 1: the core has no LDT, so every LDT selector is past its limit");
    }

    @Test
    void aNotPresentSegmentIsNpForDataAndSsForTheStack() {
        assertEquals(fault(11, NOT_PRESENT), load(3, NOT_PRESENT));
        assertEquals(fault(11, NOT_PRESENT), load(5, NOT_PRESENT));
        assertEquals(fault(12, NOT_PRESENT), load(2, NOT_PRESENT));
    }

    @Test
    void typeChecks() {
        assertEquals(fault(13, EXECUTE_ONLY), load(3, EXECUTE_ONLY), "execute-only code is not readable");
        assertEquals(fault(13, SYSTEM), load(0, SYSTEM), "a system descriptor");
        assertEquals(fault(13, READ_ONLY), load(2, READ_ONLY), "SS needs a writable data segment");
        assertEquals(fault(13, READABLE_CODE), load(2, READABLE_CODE), "SS cannot be code");
    }

    @Test
    void privilegeChecks() {
        assertEquals(fault(13, 0x10), load(3, 0x13), "RPL 3 above the data segment's DPL 0");
        assertEquals(fault(13, DATA_DPL3), load(2, DATA_DPL3), "SS: DPL must equal CPL");
        assertEquals(fault(13, 0x10), load(2, 0x13), "SS: RPL must equal CPL");
        assertEquals(fault(13, 0), load(2, 0x01), "a null SS with RPL other than CPL");
    }

    @Test
    void loadsThatPassLeaveTheSelector() {
        // mov ax, 0x50; mov ds, ax (readable code); mov ax, 0x43; mov es, ax (DPL3 data, RPL3, CPL0); xor eax, eax;
        // mov ss, ax (a null SS at CPL0); hlt
        try (EmuVm vm = vm("66 b8 50 00 8e d8 66 b8 43 00 8e c0 31 c0 8e d0 f4")) {
            assertInstanceOf(VcpuExit.Hlt.class, vm.vcpu.run());
            SpecialRegisters s = vm.vcpu.specialRegisters();
            assertEquals(READABLE_CODE, s.ds().selector());
            assertEquals(DATA_DPL3 | 3, s.es().selector());
            assertEquals(0, s.ss().selector());
        }
    }

    @Test
    void aNullSsAtCpl3IsGp0() {
        try (EmuVm vm = new EmuVm(ExceptionsTest.toUser().bytes())) {
            ExceptionsTest.installIdt(vm);
            ExceptionsTest.userPages(vm);
            byte[] user = hex("31 c0 8e d0"); // xor eax, eax; mov ss, ax
            vm.memory.write(USER, user, 0, user.length);
            assertEquals(13, vm.nextOut(0x90));
            assertEquals(0, vm.vcpu.registers().rbx());
            assertEquals(USER + 2, vm.vcpu.registers().rdx());
        }
    }

    @Test
    void movToCsAndSegmentRegisters6And7AreUndefined() {
        assertEquals(6, load(1, 0x08).vector(), "MOV CS");
        assertEquals(6, load(6, 0x10).vector());
        try (EmuVm vm = vm("8c f0")) {
            assertEquals(6, vm.nextOut(0x90), "MOV r/m, Sreg 6");
        }
    }

    @Test
    void movFromSegmentRegistersZeroExtendsIntoRegistersAndStores16Bits() {
        // mov rax, -1; mov eax, fs; mov rbx, -1; mov bx, ss; mov rcx, cs (REX.W); mov dword [0x121000], -1;
        // mov [0x121000], gs; hlt
        String code = "48 c7 c0 ff ff ff ff 8c e0 48 c7 c3 ff ff ff ff 66 8c d3 48 8c c9"
                + " c7 04 25 00 10 12 00 ff ff ff ff 8c 2c 25 00 10 12 00 f4";
        try (EmuVm vm = vm(code)) {
            assertInstanceOf(VcpuExit.Hlt.class, vm.vcpu.run());
            Registers r = vm.vcpu.registers();
            assertEquals(0x10, r.rax(), "32-bit destination: zero-extended");
            assertEquals(0xFFFF_FFFF_FFFF_0010L, r.rbx(), "16-bit destination: the rest kept");
            assertEquals(0x08, r.rcx());
            assertEquals(0xFFFF_0010L, vm.memory.readLong(0x121000) & 0xFFFF_FFFFL, "a memory destination takes 16 bits");
        }
    }

    @Test
    void pushAndPopFsAndGs() {
        // push -1; pop rax (the slot below RSP is all ones); push fs; pop rbx; push 0x28; pop gs; 66 push gs;
        // movzx ecx, word [rsp]; add rsp, 2; hlt
        try (EmuVm vm = vm("6a ff 58 0f a0 5b 6a 28 0f a9 66 0f a8 0f b7 0c 24 48 83 c4 02 f4")) {
            long rsp = vm.vcpu.registers().rsp();
            assertInstanceOf(VcpuExit.Hlt.class, vm.vcpu.run());
            Registers r = vm.vcpu.registers();
            assertEquals(0x10, r.rbx(), "PUSH FS writes the whole 8-byte slot, the selector zero-extended");
            assertEquals(0x28, r.rcx() & 0xFFFF, "POP GS loaded 0x28, PUSH GS with 66 pushed 2 bytes");
            assertEquals(rsp, r.rsp());
            assertEquals(0x12345678, vm.vcpu.specialRegisters().gs().base());
        }
    }

    @Test
    void popGsWithABadSelectorFaultsBeforeMovingRsp() {
        // push 0x30 (not present); pop gs -> #NP(0x30); the handler's frame sits below the unpopped slot
        try (EmuVm vm = vm("6a 30 0f a9")) {
            long rsp = vm.vcpu.registers().rsp();
            assertEquals(11, vm.nextOut(0x90));
            assertEquals(NOT_PRESENT, vm.vcpu.registers().rbx());
            assertEquals(CODE + 2, vm.vcpu.registers().rdx());
            assertEquals(0x30, vm.memory.readLong(rsp - 8), "the slot POP GS left in place");
            assertEquals(rsp - 8, vm.memory.readLong(vm.vcpu.registers().rsp() + 24), "the saved RSP still points at it");
        }
    }
}

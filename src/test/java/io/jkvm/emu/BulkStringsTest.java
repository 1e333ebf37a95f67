package io.jkvm.emu;

import io.jkvm.testing.Asm;
import io.jkvm.testing.EmuVm;
import io.jkvm.x86.Registers;
import io.jkvm.x86.SpecialRegisters;
import io.jkvm.x86.VcpuExit;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * REP STOS and REP MOVS store a page's run of elements at once where the pages allow it, with the memory, registers
 * and faults of one element at a time: across page ends, onto their own source, at an element across a page end, at a
 * page that faults halfway, and between a kernel's pages and a user's under SMAP.
 */
class BulkStringsTest {
    private static final long PATTERN = 0x1122334455667788L;

    @Test
    void repStosAndMovsLeaveWhatOneElementAtATimeLeaves() {
        Asm a = new Asm()
                .movImm64(7, 0x300000).movImm64(1, 1500).movImm64(0, PATTERN).raw("f3 48 ab") // rep stosq, 2.9 pages
                .movImm64(1, 5000).raw("b8 5a 00 00 00 f3 aa") // mov eax, 0x5A; rep stosb on from there
                .movImm64(6, 0x300000).movImm64(7, 0x310004).movImm64(1, 2000).raw("f3 48 a5") // rep movsq, unaligned
                .movImm64(7, 0x320000).raw("c6 07 77") // mov byte [rdi], 0x77
                .movImm64(6, 0x320000).movImm64(7, 0x320003).movImm64(1, 5000).raw("f3 a4") // rep movsb onto its source
                .raw("49 89 f0 49 89 f9") // mov r8, rsi; mov r9, rdi
                .movImm64(7, 0x330ffc).movImm64(1, 4).movImm64(0, PATTERN).raw("f3 48 ab") // the first qword across a page end
                .hlt();
        try (EmuVm vm = new EmuVm(a.bytes())) {
            assertInstanceOf(VcpuExit.Hlt.class, vm.vcpu.run());
            byte[] expected = new byte[0x40000];
            for (int i = 0; i < 1500 * 8; i++) {
                expected[i] = (byte) (PATTERN >>> (8 * (i % 8)));
            }
            for (int i = 1500 * 8; i < 1500 * 8 + 5000; i++) {
                expected[i] = 0x5A;
            }
            System.arraycopy(expected, 0, expected, 0x10004, 2000 * 8);
            for (int i = 0; i < 5003; i += 3) {
                expected[0x20000 + i] = 0x77; // each byte read what the byte three before it wrote: 77 00 00 77 ...
            }
            for (int i = 0; i < 32; i++) {
                expected[0x30ffc + i] = (byte) (PATTERN >>> (8 * (i % 8)));
            }
            byte[] memory = new byte[expected.length];
            vm.memory.read(0x300000, memory);
            assertArrayEquals(expected, memory);
            Registers r = vm.vcpu.registers();
            assertEquals(0x320000 + 5000, r.gpr(8), "RSI after the copy onto its source");
            assertEquals(0x320003 + 5000, r.gpr(9), "RDI after it");
            assertEquals(0x330ffc + 32, r.rdi());
            assertEquals(0, r.rcx());
            assertTrue(vm.vcpu.bulkStringRuns() > 10, "runs stored at once: " + vm.vcpu.bulkStringRuns());
        }
    }

    /** A REP STOSQ from a page written before into one not present: #PF at the first element there, RCX and RDI at it. */
    @Test
    void aFaultHalfwayLeavesRcxAndRdiAtTheFaultingElement() {
        long pml4 = 0x200000, pdpt = 0x201000, pd = 0x202000, pt = 0x203000, virt = 0x4000_0000L, frame = 0x300000;
        Asm a = new Asm().movImm64(7, virt + 0xF00).movImm64(0, PATTERN).raw("48 89 07") // mov [rdi], rax: a direct page
                .movImm64(1, 64).raw("f3 48 ab").hlt(); // rep stosq: 32 qwords to the page end, then the next page
        try (EmuVm vm = new EmuVm(a.bytes())) {
            vm.memory.writeLong(pml4, pdpt | 3);
            vm.memory.writeLong(pdpt, 0x83); // the first GiB as one page: the code, the stack, the tables
            vm.memory.writeLong(pdpt + 8, pd | 3);
            vm.memory.writeLong(pd, pt | 3);
            vm.memory.writeLong(pt, frame | 3); // virt -> frame; virt + 4 KiB not present
            runUnderPagingToAPageFault(vm, pml4);
            Registers r = vm.vcpu.registers();
            assertEquals(ExceptionsTest.HANDLERS + 14 * 0x40 + 1, r.rip(), "in the #PF handler");
            assertEquals(virt + 0x1000, vm.vcpu.specialRegisters().cr2());
            assertEquals(virt + 0x1000, r.rdi(), "RDI at the first element of the page not present");
            assertEquals(32, r.rcx(), "the 32 elements left");
            for (int i = 0; i < 32; i++) {
                assertEquals(PATTERN, vm.memory.readLong(frame + 0xF00 + 8 * i), "qword " + i);
            }
            assertTrue(vm.vcpu.bulkStringRuns() > 0, "the first page's run stored at once");
        }
    }

    /**
     * A kernel's copies to and from user pages under SMAP (STAC, as Linux's copy_to_user and copy_from_user run REP
     * MOVSB and REP MOVSQ): a page's run at once, as between its own pages; after CLAC the first element's #PF, with
     * nothing stored and RCX and RDI at that element.
     */
    @Test
    void aKernelsCopiesToAndFromUserPagesUnderSmapRunAPageAtOnce() {
        long pml4 = 0x200000, pdpt = 0x201000, pd = 0x202000, pt = 0x203000, user = 0x4000_0000L, frame = 0x380000;
        long kernelSource = 0x300000, kernelTarget = 0x310000;
        Asm a = new Asm().raw("0f 20 e0 48 0f ba e8 15 0f 22 e0") // mov rax, cr4; bts rax, 21 (SMAP); mov cr4, rax
                .raw("0f 01 cb") // stac
                .movImm64(6, kernelSource).movImm64(7, user + 0x10).movImm64(1, 3 * 4096).raw("f3 a4") // rep movsb to the user
                .movImm64(6, user + 0x10).movImm64(7, kernelTarget).movImm64(1, 1024).raw("f3 48 a5") // rep movsq back
                .movImm64(7, user + 0x3100).movImm64(1, 0x100).raw("b8 5a 00 00 00 f3 aa") // rep stosb to the user
                .raw("0f 01 ca") // clac
                .movImm64(7, user).movImm64(1, 16).raw("f3 aa").hlt(); // rep stosb to the user: #PF
        try (EmuVm vm = new EmuVm("host,+smap", a.bytes())) {
            vm.memory.writeLong(pml4, pdpt | 7);
            vm.memory.writeLong(pdpt, 0x83); // the first GiB as one supervisor page: the code, the stack, the tables
            vm.memory.writeLong(pdpt + 8, pd | 7);
            vm.memory.writeLong(pd, pt | 7);
            for (int i = 0; i < 4; i++) {
                vm.memory.writeLong(pt + 8L * i, frame + 0x1000L * i | 7); // user pages, U on every level
            }
            byte[] source = new byte[3 * 4096];
            for (int i = 0; i < source.length; i++) {
                source[i] = (byte) (i * 7 + i / 251);
            }
            vm.memory.write(kernelSource, source, 0, source.length);
            vm.memory.writeLong(frame, PATTERN); // the first user bytes, which the last REP STOSB must leave
            vm.memory.writeLong(frame + 8, PATTERN);
            runUnderPagingToAPageFault(vm, pml4);
            byte[] copied = new byte[source.length];
            vm.memory.read(frame + 0x10, copied);
            assertArrayEquals(source, copied, "the kernel's bytes in the user pages");
            byte[] back = new byte[8 * 1024];
            vm.memory.read(kernelTarget, back);
            assertArrayEquals(java.util.Arrays.copyOf(source, back.length), back, "the user's bytes back in the kernel's");
            for (int i = 0; i < 0x100; i++) {
                assertEquals(0x5A, vm.memory.readByte(frame + 0x3100 + i), "byte " + i + " the REP STOSB stored");
            }
            assertTrue(vm.vcpu.bulkStringRuns() >= 7, "runs stored at once, a page's each: " + vm.vcpu.bulkStringRuns());
            Registers r = vm.vcpu.registers();
            assertEquals(ExceptionsTest.HANDLERS + 14 * 0x40 + 1, r.rip(), "in the #PF handler after CLAC");
            assertEquals(user, vm.vcpu.specialRegisters().cr2());
            assertEquals(user, r.rdi(), "RDI at the first element");
            assertEquals(16, r.rcx(), "no element stored");
            assertEquals(PATTERN, vm.memory.readLong(frame), "the user's bytes untouched");
            assertEquals(PATTERN, vm.memory.readLong(frame + 8), "the user's bytes untouched");
        }
    }

    /** Runs {@code vm} under the page tables at {@code pml4} until it halts, a #PF's handler being a HLT. */
    private static void runUnderPagingToAPageFault(EmuVm vm, long pml4) {
        SpecialRegisters s = vm.vcpu.specialRegisters();
        vm.vcpu.setSpecialRegisters(new SpecialRegisters(s.cs(), s.ds(), s.es(), s.fs(), s.gs(), s.ss(), s.tr(),
                s.ldt(), s.gdt(), s.idt(), s.cr0(), s.cr2(), pml4, s.cr4(), s.cr8(), s.efer(), s.apicBase(),
                s.interruptBitmap()));
        ExceptionsTest.installIdt(vm);
        vm.memory.write(ExceptionsTest.HANDLERS + 14 * 0x40, new byte[] {(byte) 0xF4}, 0, 1); // #PF: hlt at once
        assertInstanceOf(VcpuExit.Hlt.class, vm.vcpu.run());
    }
}

package io.jkvm.emu;

import io.jkvm.machine.LongModeBoot;
import io.jkvm.testing.Asm;
import io.jkvm.testing.EmuVm;
import io.jkvm.x86.SpecialRegisters;
import io.jkvm.x86.VcpuExit;
import org.junit.jupiter.api.Test;

import java.util.HexFormat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

/** The software core's MMU: 4 KiB and 1 GiB pages, accessed and dirty bits, CR3 reloads and INVLPG against the TLB. */
class PagingTest {
    // Own page tables at 0x200000: PML4 -> PDPT (entry 0: 1 GiB identity page; entry 1 -> PD -> PT of 4 KiB pages)
    private static final long PML4 = 0x200000, PDPT = 0x201000, PD = 0x202000, PT = 0x203000;
    private static final long VIRT = 0x4000_0000L; // 1 GiB: mapped through PD[0] -> PT
    private static final long FRAME_A = 0x300000, FRAME_B = 0x301000;

    private static byte[] hex(String s) {
        return HexFormat.of().parseHex(s.replace(" ", ""));
    }

    private static EmuVm vm(byte[] code) {
        EmuVm vm = new EmuVm(code);
        vm.memory.writeLong(PML4, PDPT | 3);
        vm.memory.writeLong(PDPT, 0x83); // 1 GiB page at 0, writable
        vm.memory.writeLong(PDPT + 8, PD | 3);
        vm.memory.writeLong(PD, PT | 3);
        vm.memory.writeLong(PT, FRAME_A | 3); // VIRT -> FRAME_A
        vm.memory.writeLong(FRAME_A, 0xAAAA);
        vm.memory.writeLong(FRAME_B, 0xBBBB);
        SpecialRegisters s = vm.vcpu.specialRegisters();
        vm.vcpu.setSpecialRegisters(new SpecialRegisters(s.cs(), s.ds(), s.es(), s.fs(), s.gs(), s.ss(), s.tr(), s.ldt(),
                s.gdt(), s.idt(), s.cr0(), s.cr2(), PML4, s.cr4(), s.cr8(), s.efer(), s.apicBase(), s.interruptBitmap()));
        return vm;
    }

    @Test
    void fourKilobytePagesThroughTheTlbAndInvlpg() {
        Asm a = new Asm()
                .movImm64(3, VIRT).raw("48 8b 03").outAl(0x80) // rax = [VIRT] (fills the TLB)
                .raw("48 8b 03").outAl(0x81) // again: the host changes the PTE in between, the TLB still has the old frame
                .raw("0f 01 3b") // invlpg [rbx]
                .raw("48 8b 03").outAl(0x82) // now the new frame
                .hlt();
        try (EmuVm vm = vm(a.bytes())) {
            vm.nextOut(0x80);
            assertEquals(0xAAAA, vm.vcpu.registers().rax());
            vm.memory.writeLong(PT, FRAME_B | 3);
            vm.nextOut(0x81);
            assertEquals(0xAAAA, vm.vcpu.registers().rax(), "a stale TLB entry, as on hardware, until INVLPG");
            vm.nextOut(0x82);
            assertEquals(0xBBBB, vm.vcpu.registers().rax());
        }
    }

    @Test
    void accessedAndDirtyBitsAreSetOnTheWalk() {
        Asm a = new Asm().movImm64(3, VIRT).raw("48 8b 03").outAl(0x80).raw("48 89 03").outAl(0x81).hlt();
        try (EmuVm vm = vm(a.bytes())) {
            vm.nextOut(0x80);
            assertEquals(0x20, vm.memory.readLong(PT) & 0x60, "read: accessed, not dirty");
            assertEquals(0x20, vm.memory.readLong(PD) & 0x20, "upper levels accessed too");
            vm.nextOut(0x81);
            assertEquals(0x60, vm.memory.readLong(PT) & 0x60, "write: accessed and dirty");
            assertEquals(0xAAAA, vm.memory.readLong(FRAME_A));
        }
    }

    @Test
    void aCr3ReloadFlushesTheTlb() {
        Asm a = new Asm().movImm64(3, VIRT).raw("48 8b 03").outAl(0x80)
                .raw("0f 20 d8 0f 22 d8") // mov rax, cr3; mov cr3, rax
                .raw("48 8b 03").outAl(0x81).hlt();
        try (EmuVm vm = vm(a.bytes())) {
            vm.nextOut(0x80);
            vm.memory.writeLong(PT, FRAME_B | 3);
            vm.nextOut(0x81);
            assertEquals(0xBBBB, vm.vcpu.registers().rax());
        }
    }

    @Test
    void anEntryUntouchedFor512FlushesIsNotServedWhenTheTlbsGenerationsComeRound() {
        // a flush moves the TLB to its next generation; after 512 the generation of an old entry comes back
        Asm a = new Asm().movImm64(3, VIRT).raw("48 8b 03").outAl(0x80) // fills VIRT's entry
                .raw("b9 00 02 00 00") // mov ecx, 512
                .raw("0f 20 d8 0f 22 d8 ff c9 75 f6") // 1: mov rax, cr3; mov cr3, rax; dec ecx; jnz 1b
                .raw("48 8b 03").outAl(0x81).hlt();
        try (EmuVm vm = vm(a.bytes())) {
            vm.nextOut(0x80);
            assertEquals(0xAAAA, vm.vcpu.registers().rax());
            vm.memory.writeLong(PT, FRAME_B | 3);
            vm.nextOut(0x81);
            assertEquals(0xBBBB, vm.vcpu.registers().rax(), "the entry filled 512 flushes ago");
        }
    }

    /**
     * A function called through a linear page from one call, its page switched between two frames by the guest with
     * INVLPG after each of three passes of one run: each pass runs the code of the frame mapped then, though the call
     * linked to the block at that RIP in the pass before.
     */
    @Test
    void aCallThroughAPageRemappedWithInvlpgRunsTheNewFramesCode() {
        Asm a = new Asm().movImm64(3, VIRT).movImm64(1, PT).movImm64(5, 3)
                .raw("ff d3") // 1: call rbx
                .raw("4d 89 ca 4d 89 c1 49 89 c0") // mov r10, r9; mov r9, r8; mov r8, rax
                .raw("48 81 31").immediate(FRAME_A ^ FRAME_B, 4) // xor qword [rcx], FRAME_A ^ FRAME_B
                .raw("0f 01 3b") // invlpg [rbx]
                .raw("ff cd 75 e7").hlt(); // dec ebp; jnz 1b
        try (EmuVm vm = vm(a.bytes())) {
            vm.memory.write(FRAME_A, hex("b8 01 00 00 00 c3"), 0, 6); // mov eax, 1; ret
            vm.memory.write(FRAME_B, hex("b8 02 00 00 00 c3"), 0, 6); // mov eax, 2; ret
            assertInstanceOf(VcpuExit.Hlt.class, vm.vcpu.run());
            assertEquals(1, vm.vcpu.registers().gpr(10), "the first pass, through FRAME_A");
            assertEquals(2, vm.vcpu.registers().gpr(9), "the second pass, through FRAME_B after INVLPG");
            assertEquals(1, vm.vcpu.registers().gpr(8), "the third pass, through FRAME_A again");
        }
    }

    @Test
    void theOneGigabytePageMapsTheCodeAndANotPresentPteFaults() {
        try (EmuVm vm = vm(new Asm().movImm64(3, VIRT + 0x1000).raw("48 8b 03").hlt().bytes())) {
            assertInstanceOf(VcpuExit.Shutdown.class, vm.vcpu.run(), "#PF (PT entry 1 not present), no IDT: triple fault");
            assertEquals(VIRT + 0x1000, vm.vcpu.specialRegisters().cr2());
            assertNotEquals(0, vm.memory.readLong(PDPT) & 0x20, "the 1 GiB page the code runs from was accessed");
            assertEquals(LongModeBoot.GDT, vm.vcpu.specialRegisters().gdt().base());
        }
    }
    /** NX: with EFER.NXE (the entry contract sets it) a fetch from a page whose PTE has bit 63 set is #PF, I/D and P. */
    @Test
    void anInstructionFetchFromAnNxPageFaultsAndAReadDoesNot() {
        Asm a = new Asm().movImm64(3, VIRT).raw("48 8b 03").outAl(0x80) // a read through the NX page is allowed
                .movImm64(0, VIRT + 8).raw("ff e0"); // jmp rax: a fetch from it is not
        try (EmuVm vm = vm(a.bytes())) {
            vm.memory.writeLong(PT, FRAME_A | 3 | 1L << 63);
            ExceptionsTest.installIdt(vm);
            assertEquals(io.jkvm.x86.ControlBits.EFER_NXE, vm.vcpu.specialRegisters().efer() & io.jkvm.x86.ControlBits.EFER_NXE);
            vm.nextOut(0x80);
            assertEquals(0xAAAA, vm.vcpu.registers().rax());
            assertEquals(14, vm.nextOut(0x90));
            assertEquals(0x11, vm.vcpu.registers().rbx(), "error code: an instruction fetch (I/D) from a present page");
            assertEquals(VIRT + 8, vm.vcpu.registers().rcx(), "CR2");
        }
    }

    /**
     * CR4.PGE (global pages) is accepted, and turning it off flushes every TLB entry, global ones included: the
     * architecture's one promise about them that software can see.
     */
    @Test
    void clearingCr4PgeFlushesGlobalPages() {
        Asm a = new Asm().raw("0f 20 e0 48 0d 80 00 00 00 0f 22 e0") // mov rax, cr4; or rax, PGE; mov cr4, rax
                .movImm64(3, VIRT).raw("48 8b 03").outAl(0x80) // through the global page: in the TLB
                .raw("0f 20 e0 48 25 7f ff ff ff 0f 22 e0") // mov rax, cr4; and rax, ~PGE; mov cr4, rax
                .raw("48 8b 03").outAl(0x81).hlt();
        try (EmuVm vm = vm(a.bytes())) {
            vm.memory.writeLong(PT, FRAME_A | 3 | 0x100); // G
            vm.nextOut(0x80);
            assertEquals(0xAAAA, vm.vcpu.registers().rax());
            assertEquals(0x80, vm.vcpu.specialRegisters().cr4() & 0x80, "CR4.PGE set");
            vm.memory.writeLong(PT, FRAME_B | 3 | 0x100);
            vm.nextOut(0x81);
            assertEquals(0xBBBB, vm.vcpu.registers().rax(), "the global entry went with PGE");
        }
    }

    /**
     * CR4.PCIDE (with PCID 0 in CR3, in IA-32e mode): MOV to CR3 with bit 63 keeps it out of CR3; INVPCID type 0 drops
     * one address from the TLB as INVLPG does, type 2 everything; a type above 3 is #GP(0).
     */
    @Test
    void pcideAndInvpcid() {
        Asm a = new Asm().raw("0f 20 e0 48 0f ba e8 11 0f 22 e0") // mov rax, cr4; bts rax, 17 (PCIDE); mov cr4, rax
                .raw("0f 20 d8 48 0f ba e8 3f 48 83 c8 01 0f 22 d8 0f 20 da") // cr3 | bit 63 | PCID 1 -> cr3; rdx = cr3
                .movImm64(3, VIRT).raw("48 8b 03").outAl(0x80) // rax = [VIRT]: into the TLB
                .movImm64(6, 0x400000).raw("48 89 5e 08 48 c7 06 00 00 00 00") // descriptor at 0x400000: {0, VIRT}
                .raw("31 c9 66 0f 38 82 0e").raw("48 8b 03").outAl(0x81) // invpcid rcx (0), [rsi]; rax = [VIRT]
                .raw("b9 04 00 00 00 66 0f 38 82 0e").hlt(); // type 4: #GP(0)
        try (EmuVm vm = new EmuVm("host,+pcid,+invpcid", a.bytes())) {
            vm.memory.writeLong(PML4, PDPT | 3);
            vm.memory.writeLong(PDPT, 0x83);
            vm.memory.writeLong(PDPT + 8, PD | 3);
            vm.memory.writeLong(PD, PT | 3);
            vm.memory.writeLong(PT, FRAME_A | 3);
            vm.memory.writeLong(FRAME_A, 0xAAAA);
            vm.memory.writeLong(FRAME_B, 0xBBBB);
            SpecialRegisters s = vm.vcpu.specialRegisters();
            vm.vcpu.setSpecialRegisters(new SpecialRegisters(s.cs(), s.ds(), s.es(), s.fs(), s.gs(), s.ss(), s.tr(), s.ldt(),
                    s.gdt(), s.idt(), s.cr0(), s.cr2(), PML4, s.cr4(), s.cr8(), s.efer(), s.apicBase(), s.interruptBitmap()));
            ExceptionsTest.installIdt(vm);
            vm.nextOut(0x80);
            assertEquals(PML4 | 1, vm.vcpu.registers().rdx(), "CR3 keeps the PCID, not bit 63");
            assertEquals(0xAAAA, vm.vcpu.registers().rax());
            vm.memory.writeLong(PT, FRAME_B | 3);
            vm.nextOut(0x81);
            assertEquals(0xBBBB, vm.vcpu.registers().rax(), "INVPCID type 0 dropped VIRT from the TLB");
            assertEquals(13, vm.nextOut(0x90), "INVPCID type 4: #GP");
        }
    }

    /** VIRT's page made a user page (U on every level), for the supervisor-mode protections. */
    private static void userPageAtVirt(EmuVm vm) {
        vm.memory.writeLong(PML4, PDPT | 7);
        vm.memory.writeLong(PDPT + 8, PD | 7);
        vm.memory.writeLong(PD, PT | 7);
        vm.memory.writeLong(PT, FRAME_A | 7);
    }

    /** CR4.SMEP: a CPL0 fetch from a user page is #PF (present, instruction fetch, supervisor: 0x11). */
    @Test
    void smepStopsTheKernelRunningAUserPage() {
        Asm a = new Asm().raw("0f 20 e0 48 0f ba e8 14 0f 22 e0") // mov rax, cr4; bts rax, 20 (SMEP); mov cr4, rax
                .movImm64(0, VIRT + 8).raw("ff e0"); // jmp rax
        try (EmuVm vm = vm(a.bytes())) {
            userPageAtVirt(vm);
            ExceptionsTest.installIdt(vm);
            assertEquals(14, vm.nextOut(0x90));
            assertEquals(0x11, vm.vcpu.registers().rbx(), "error code: a fetch from a present page, as a supervisor");
            assertEquals(VIRT + 8, vm.vcpu.registers().rcx(), "CR2");
        }
    }

    /** CR4.SMAP: a CPL0 read of a user page is #PF unless STAC set EFLAGS.AC; CLAC clears it again. */
    @Test
    void smapStopsKernelAccessToUserPagesOutsideStacAndClac() {
        Asm a = new Asm().raw("0f 20 e0 48 0f ba e8 15 0f 22 e0") // mov rax, cr4; bts rax, 21 (SMAP); mov cr4, rax
                .movImm64(3, VIRT)
                .raw("0f 01 cb 48 8b 03").outAl(0x80) // stac; mov rax, [rbx]: allowed
                .raw("0f 01 ca 48 8b 03").hlt(); // clac; mov rax, [rbx]: #PF
        try (EmuVm vm = new EmuVm("host,+smap", a.bytes())) {
            vm.memory.writeLong(PML4, PDPT | 3);
            vm.memory.writeLong(PDPT, 0x83);
            vm.memory.writeLong(FRAME_A, 0xAAAA);
            userPageAtVirt(vm);
            SpecialRegisters s = vm.vcpu.specialRegisters();
            vm.vcpu.setSpecialRegisters(new SpecialRegisters(s.cs(), s.ds(), s.es(), s.fs(), s.gs(), s.ss(), s.tr(), s.ldt(),
                    s.gdt(), s.idt(), s.cr0(), s.cr2(), PML4, s.cr4(), s.cr8(), s.efer(), s.apicBase(), s.interruptBitmap()));
            ExceptionsTest.installIdt(vm);
            vm.nextOut(0x80);
            assertEquals(0xAAAA, vm.vcpu.registers().rax(), "with AC set (STAC) the kernel reads the user page");
            assertEquals(14, vm.nextOut(0x90), "after CLAC: #PF");
            assertEquals(0x1, vm.vcpu.registers().rbx(), "error code: a read of a present page, as a supervisor");
        }
    }

    /** An instruction fetch from a page that is not present: #PF with CR2 the address fetched, not its page. */
    @Test
    void anInstructionFetchFaultReportsTheFetchedAddressInCr2() {
        long target = VIRT + 0x123;
        Asm a = new Asm().movImm64(0, target).raw("ff e0"); // jmp rax
        try (EmuVm vm = vm(a.bytes())) {
            vm.memory.writeLong(PT, 0); // VIRT's page: not present
            ExceptionsTest.installIdt(vm);
            assertEquals(14, vm.nextOut(0x90));
            io.jkvm.x86.Registers r = vm.vcpu.registers();
            assertEquals(0x10, r.rbx(), "error code: an instruction fetch (I/D), page not present");
            assertEquals(target, r.rcx(), "CR2");
            assertEquals(target, r.rdx(), "the saved RIP: the jump's target");
        }
    }
    /**
     * A read-modify-write whose store faults (a read-only page) changes nothing, RFLAGS included: ADC computed its
     * flags before the store, and the carry it consumed must still be there when the instruction runs again.
     */
    @Test
    void aStoreThatFaultsLeavesRflagsAsTheInstructionFoundThem() {
        for (String adc : new String[]{"48 11 03", "f0 48 11 03", "48 0f c1 03"}) { // adc, lock adc, xadd [rbx], rax
            Asm a = new Asm().movImm64(3, VIRT).raw("b8 01 00 00 00 f9").raw(adc).hlt(); // mov eax, 1; stc; adc
            try (EmuVm vm = vm(a.bytes())) {
                vm.memory.writeLong(PT, FRAME_A | 1); // present, read-only (CR0.WP is set at entry)
                assertInstanceOf(VcpuExit.Shutdown.class, vm.vcpu.run(), "no IDT here: the #PF ends in a triple fault");
                io.jkvm.x86.Registers r = vm.vcpu.registers();
                assertEquals(EmuVm.CODE + 16, r.rip(), adc + ": RIP at the faulting ADC");
                assertEquals(1, r.rflags() & 0x8D5, adc + ": CF from STC only, as before the ADC");
                assertEquals(0xAAAA, vm.memory.readLong(FRAME_A), adc + ": memory untouched");
                assertEquals(1, r.rax(), adc + ": RAX untouched (XADD would have loaded the old memory value)");
            }
        }
    }
    /** POP r/m whose store faults leaves RSP where it was, so the POP can run again once the page is fixed. */
    @Test
    void aPopWhoseStoreFaultsLeavesRspAsItWas() {
        Asm a = new Asm().movImm64(3, VIRT).raw("68 34 12 00 00 8f 03").hlt(); // push 0x1234; pop qword [rbx]
        try (EmuVm vm = vm(a.bytes())) {
            vm.memory.writeLong(PT, FRAME_A | 1); // read-only
            long rsp = vm.vcpu.registers().rsp();
            assertInstanceOf(VcpuExit.Shutdown.class, vm.vcpu.run(), "no IDT here: the #PF ends in a triple fault");
            io.jkvm.x86.Registers r = vm.vcpu.registers();
            assertEquals(EmuVm.CODE + 15, r.rip(), "RIP at the faulting POP");
            assertEquals(rsp - 8, r.rsp(), "RSP as the PUSH left it, not incremented by the POP");
            assertEquals(0xAAAA, vm.memory.readLong(FRAME_A), "memory untouched");
        }
    }
}

package io.jkvm.emu;

import io.jkvm.machine.LongModeBoot;
import io.jkvm.testing.Asm;
import io.jkvm.testing.EmuVm;
import io.jkvm.testing.Idt;
import io.jkvm.x86.ControlBits;
import io.jkvm.x86.DescriptorTable;
import io.jkvm.x86.Registers;
import io.jkvm.x86.SpecialRegisters;
import io.jkvm.x86.VcpuExit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.HexFormat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Exceptions through the IDT on the software core, with their vectors, error codes, CR2 and return addresses;
 * and a trip to CPL3 by IRETQ and back by SYSCALL (and by #GP from a privileged instruction).
 */
class ExceptionsTest {
    static final long CODE = EmuVm.CODE, USER = 0x101000, HANDLERS = 0x102000, SYSCALL = 0x103000, IDT = 0x104000;
    static final long USER_STACK = 0x180000, KERNEL_STACK = 0x190000;

    /** What the handler for {@code vector} saw: RBX = error code (0 if none), RCX = CR2, RDX = saved RIP, RSI = saved CS. */
    record Taken(int vector, long errorCode, long cr2, long rip, long cs) {
    }

    static byte[] hex(String s) {
        return HexFormat.of().parseHex(s.replace(" ", ""));
    }

    /** Installs interrupt gates for vectors 0-31, each handler reporting its vector by OUT 0x90 and stopping. */
    static void installIdt(EmuVm vm) {
        for (int v = 0; v < 32; v++) {
            boolean hasCode = v == 8 || (v >= 10 && v <= 14) || v == 17;
            Asm h = new Asm();
            if (hasCode) {
                h.raw("5b"); // pop rbx: the error code
            } else {
                h.raw("31 db"); // xor ebx, ebx
            }
            h.raw("0f 20 d1"); // mov rcx, cr2
            h.raw("48 8b 14 24"); // mov rdx, [rsp]: the saved RIP
            h.raw("48 8b 74 24 08"); // mov rsi, [rsp + 8]: the saved CS
            h.movAl(v).outAl(0x90).hlt();
            byte[] b = h.bytes();
            long at = HANDLERS + v * 0x40L;
            vm.memory.write(at, b, 0, b.length);
            Idt.writeGate(vm.memory, IDT, v, at);
        }
        vm.memory.writeLong(LongModeBoot.TSS + 4, KERNEL_STACK); // RSP0 for entries from CPL3
        Idt.load(vm.vcpu, IDT, 32 * 16 - 1);
    }

    /**
     * The vector {@code code} raises (hex, run at CPL0 after {@code setup}, with the handlers above), or -1 when it
     * reaches the HLT appended to it.
     */
    static long vectorRaised(String setup, String code) {
        return vectorRaised("host", setup, code);
    }

    /** The same on the CPU model {@code cpu}. */
    static long vectorRaised(String cpu, String setup, String code) {
        try (EmuVm vm = new EmuVm(cpu, hex(setup + code + "f4"))) {
            installIdt(vm);
            VcpuExit e = vm.vcpu.run();
            if (e instanceof VcpuExit.Hlt) {
                return -1;
            }
            return assertInstanceOf(VcpuExit.Io.class, e).data().get(0);
        }
    }

    static Taken run(String cpu, String code) {
        try (EmuVm vm = new EmuVm(cpu, hex(code))) {
            installIdt(vm);
            long vector = vm.nextOut(0x90);
            Registers r = vm.vcpu.registers();
            return new Taken((int) vector, r.rbx(), r.rcx(), r.rdx(), r.rsi());
        }
    }

    /** TR's cached limit set to {@code limit}, as LTR of a descriptor with that limit would leave it. */
    static void setTrLimit(EmuVm vm, int limit) {
        SpecialRegisters s = vm.vcpu.specialRegisters();
        io.jkvm.x86.Segment tr = s.tr();
        io.jkvm.x86.Segment resized = new io.jkvm.x86.Segment(tr.base(), limit, tr.selector(), tr.type(), tr.present(),
                tr.dpl(), tr.db(), tr.s(), tr.l(), tr.g(), tr.avl(), tr.unusable());
        vm.vcpu.setSpecialRegisters(new SpecialRegisters(s.cs(), s.ds(), s.es(), s.fs(), s.gs(), s.ss(), resized, s.ldt(),
                s.gdt(), s.idt(), s.cr0(), s.cr2(), s.cr3(), s.cr4(), s.cr8(), s.efer(), s.apicBase(), s.interruptBitmap()));
    }

    /** 15 bytes is the longest instruction (SDM Vol. 2A, 2.3.11): 14 prefixes and a NOP run; 15 prefixes are #GP(0). */
    @Test
    void anInstructionOf15BytesRunsAndOneLongerIsAGeneralProtectionFault() {
        assertEquals(new Taken(6, 0, 0, CODE + 15, 0x08), run("host", "2e".repeat(14) + "90 0f 0b"),
                "14 CS prefixes and NOP run; the UD2 after them is #UD");
        assertEquals(new Taken(13, 0, 0, CODE, 0x08), run("host", "2e".repeat(15) + "90"), "15 prefixes: #GP(0) at the first");
        assertEquals(new Taken(13, 0, 0, CODE, 0x08), run("host", "66".repeat(8) + "2e".repeat(7) + "48 90"),
                "15 prefixes of two kinds, then REX and NOP");
    }

    @Test
    void aTssTooShortForTheIstStackIsAnInvalidTssFault() {
        try (EmuVm vm = new EmuVm("host", hex("0f 0b"))) { // ud2, whose gate asks for IST1
            installIdt(vm);
            long gate = vm.memory.readLong(IDT + 6 * 16L);
            vm.memory.writeLong(IDT + 6 * 16L, gate | (1L << 32)); // IST = 1
            setTrLimit(vm, 0x23); // IST1 at 0x24 is past it
            long vector = vm.nextOut(0x90);
            Registers r = vm.vcpu.registers();
            assertEquals(new Taken(10, LongModeBoot.TSS_SELECTOR | 1, 0, CODE, 0x08),
                    new Taken((int) vector, r.rbx(), r.rcx(), r.rdx(), r.rsi()), "#TS(TR selector, EXT) while delivering #UD");
        }
    }

    /**
     * #MF: FXRSTOR loads an x87 state with IE raised but masked, FLDCW unmasks it (FSW gets ES and B), FNSTSW shows
     * that without waiting, and FWAIT faults on itself with CR0.NE set; FNCLEX clears it, after which FWAIT runs.
     */
    @Test
    void x87FloatingPointErrorOnFwait() {
        String prologue = "0f 20 c0 48 83 c8 20 0f 22 c0" // CR0.NE: native x87 error reporting
                + "48 c7 c3 00 00 17 00 0f ae 0b"          // mov rbx, 0x170000; fxrstor [rbx]
                + "d9 ab 00 02 00 00 df e0 48 89 c7";      // fldcw [rbx + 0x200]; fnstsw ax; mov rdi, rax
        try (EmuVm vm = new EmuVm("host", hex(prologue + "9b"))) {
            installIdt(vm);
            loadX87Images(vm);
            long vector = vm.nextOut(0x90);
            Registers r = vm.vcpu.registers();
            assertEquals(new Taken(16, 0, 0, CODE + hex(prologue).length, 0x08),
                    new Taken((int) vector, r.rbx(), r.rcx(), r.rdx(), r.rsi()), "#MF on FWAIT, as a fault");
            assertEquals(0x8081, r.rdi() & 0xFFFF, "FSW: B, ES and IE");
        }
        try (EmuVm vm = new EmuVm("host", hex(prologue + "db e2 9b b0 ee e6 90 f4"))) { // fnclex; fwait; report 0xEE
            installIdt(vm);
            loadX87Images(vm);
            assertEquals(0xEE, vm.nextOut(0x90), "no fault once FNCLEX cleared the exception");
        }
    }

    /**
     * Every waiting x87 instruction and every MMX instruction takes a pending unmasked x87 exception as #MF before it
     * executes (FADD, FLD1, PADDB); the no-wait control forms (FNSTSW, FNSTCW, FNCLEX) run through it.
     */
    @Test
    void waitingX87AndMmxInstructionsTakePendingErrors() {
        String prologue = "0f 20 c0 48 83 c8 20 0f 22 c0"
                + "48 c7 c3 00 00 17 00 0f ae 0b"
                + "d9 ab 00 02 00 00";                     // the pending exception, as above
        for (String insn : new String[]{"d8 c0", "d9 e8", "0f fc c0"}) {
            try (EmuVm vm = new EmuVm("host", hex(prologue + "df e0 d9 7b 10 " + insn))) { // fnstsw ax; fnstcw [rbx+16]
                installIdt(vm);
                loadX87Images(vm);
                long vector = vm.nextOut(0x90);
                Registers r = vm.vcpu.registers();
                assertEquals(new Taken(16, 0, 0, CODE + hex(prologue).length + 5, 0x08),
                        new Taken((int) vector, r.rbx(), r.rcx(), r.rdx(), r.rsi()), insn + ": #MF before it, after the no-wait forms");
            }
        }
    }

    @Test
    void mmxInstructionsUnderCr0EmAreUndefinedAndUnderTsNotAvailable() {
        assertEquals(6, run("host", "0f 20 c0 48 83 c8 04 0f 22 c0 0f fc c0").vector(), "PADDB mm0, mm0 with CR0.EM");
        assertEquals(7, run("host", "0f 20 c0 48 83 c8 08 0f 22 c0 0f fc c0").vector(), "PADDB mm0, mm0 with CR0.TS");
        assertEquals(7, run("host", "0f 20 c0 48 83 c8 08 0f 22 c0 0f 77").vector(), "EMMS with CR0.TS");
    }

    /** The FXRSTOR image at 0x170000 (FCW 0x037F, all masked; FSW with IE raised) and the FCW FLDCW loads (IE unmasked). */
    private static void loadX87Images(EmuVm vm) {
        vm.memory.writeLong(0x170000, 0x0001_037FL);
        vm.memory.writeLong(0x170018, 0x1F80); // MXCSR
        vm.memory.writeLong(0x170200, 0x037E);
    }

    @Test
    void x87InstructionsUnderCr0TsOrEmAreDeviceNotAvailable() {
        assertEquals(7, run("host", "0f 20 c0 48 83 c8 0a 0f 22 c0 9b").vector(), "FWAIT with CR0.TS and CR0.MP");
        assertEquals(7, run("host", "0f 20 c0 48 83 c8 04 0f 22 c0 db e3").vector(), "FNINIT with CR0.EM");
        assertEquals(7, run("host", "0f 20 c0 48 83 c8 08 0f 22 c0 d8 c1").vector(), "FADD with CR0.TS");
    }

    /** An NMI is taken at the next boundary with IF clear (vector 2, RIP of the instruction not run), and is in the state record. */
    @Test
    void aNonMaskableInterruptIgnoresIfAndRidesTheStateRecord() {
        try (EmuVm vm = new EmuVm("max", hex("fa 90 90 f4"))) { // cli; nop; nop; hlt
            installIdt(vm);
            vm.vcpu.injectNmi();
            io.jkvm.x86.VcpuState s = vm.vcpu.saveState();
            assertTrue(s.events().nmi().pending(), "pending in the record");
            vm.vcpu.restoreState(s.withActivity(io.jkvm.x86.Activity.ACTIVE));
            long vector = vm.nextOut(0x90);
            Registers r = vm.vcpu.registers();
            assertEquals(new Taken(2, 0, 0, CODE, 0x08), new Taken((int) vector, r.rbx(), r.rcx(), r.rdx(), r.rsi()),
                    "NMI before the first instruction, whatever IF");
            assertTrue(vm.vcpu.saveState().events().nmi().masked(), "blocked until IRET");
        }
    }

    /** Two NMIs raised together are both taken, the second after the first one's IRET; a third merges with them (as KVM). */
    @Test
    void aSecondNmiWaitsBehindTheFirstAndAThirdMerges() {
        try (EmuVm vm = new EmuVm("max", hex("90 90 f4"))) { // nop; nop; hlt
            installIdt(vm);
            vm.memory.write(HANDLERS + 2 * 0x40, hex("49 ff c4 48 cf"), 0, 5); // NMI handler: inc r12; iretq
            vm.vcpu.injectNmi();
            vm.vcpu.injectNmi();
            vm.vcpu.injectNmi();
            assertInstanceOf(VcpuExit.Hlt.class, vm.vcpu.run());
            assertEquals(2, vm.vcpu.registers().r12(), "two NMIs taken");
        }
    }

    @Test
    void undefinedOpcode() {
        assertEquals(new Taken(6, 0, 0, CODE, 0x08), run("host", "0f 0b"));
    }

    @Test
    void divideError() {
        assertEquals(new Taken(0, 0, 0, CODE + 2, 0x08), run("host", "31 c9 f7 f1"));
    }

    @Test
    void generalProtectionFromAnUnknownMsr() {
        assertEquals(new Taken(13, 0, 0, CODE + 5, 0x08), run("host", "b9 45 23 01 00 0f 32"));
    }

    @Test
    void pageFaultsCarryCr2AndTheErrorCode() {
        String address = "48 b8 00 00 00 00 00 70 00 00 "; // mov rax, 0x700000000000 (nothing mapped there)
        assertEquals(new Taken(14, 0, 0x7000_0000_0000L, CODE + 10, 0x08), run("host", address + "48 8b 00"), "read, not present");
        assertEquals(new Taken(14, 2, 0x7000_0000_0000L, CODE + 10, 0x08), run("host", address + "48 89 00"), "write, not present");
    }

    @Test
    void writeToAReadOnlyPageWithCr0WpIsAProtectionFault() {
        try (EmuVm vm = new EmuVm(hex("48 c7 04 25 00 00 40 00 01 00 00 00"))) { // mov qword [0x400000], 1
            installIdt(vm);
            long pde = LongModeBoot.PAGE_DIRECTORIES + 2 * 8; // the 2 MiB page at 0x400000
            vm.memory.writeLong(pde, vm.memory.readLong(pde) & ~ControlBits.PTE_WRITABLE);
            assertEquals(14, vm.nextOut(0x90));
            assertEquals(3, vm.vcpu.registers().rbx(), "present | write");
            assertEquals(0x400000, vm.vcpu.registers().rcx());
        }
    }

    @Test
    void breakpointIsATrapAfterTheInstruction() {
        assertEquals(new Taken(3, 0, 0, CODE + 1, 0x08), run("host", "cc"));
    }

    @Test
    void rex2WithApxOffIsUndefinedOpcode() {
        assertEquals(new Taken(6, 0, 0, CODE, 0x08), run("host,+xsave,+apx", "d5 18 b8 01 00 00 00 00 00 00 00"));
    }

    /** Marks the first 2 MiB pages user-accessible, so CPL3 code and stack can live there. */
    /** User data (DPL3) at 0x28 and user 64-bit code at 0x30, after the boot GDT's TSS: SYSRET's order from STAR base 0x20. */
    static final int USER_DATA = 0x2B, USER_CODE = 0x33;

    /** The first 2 MiB user-accessible, and user segments in the GDT, as an OS sets them up. */
    static void userPages(EmuVm vm) {
        long u = ControlBits.PTE_USER;
        vm.memory.writeLong(LongModeBoot.PML4, vm.memory.readLong(LongModeBoot.PML4) | u);
        vm.memory.writeLong(LongModeBoot.PDPT, vm.memory.readLong(LongModeBoot.PDPT) | u);
        vm.memory.writeLong(LongModeBoot.PAGE_DIRECTORIES, vm.memory.readLong(LongModeBoot.PAGE_DIRECTORIES) | u);
        vm.memory.writeLong(LongModeBoot.GDT + 0x28, 0x00CF_F300_0000_FFFFL); // data read/write, DPL3
        vm.memory.writeLong(LongModeBoot.GDT + 0x30, 0x00AF_FB00_0000_FFFFL); // 64-bit code, DPL3
        SpecialRegisters s = vm.vcpu.specialRegisters();
        vm.vcpu.setSpecialRegisters(new SpecialRegisters(s.cs(), s.ds(), s.es(), s.fs(), s.gs(), s.ss(), s.tr(), s.ldt(),
                new DescriptorTable(LongModeBoot.GDT, 0x37), s.idt(), s.cr0(), s.cr2(), s.cr3(), s.cr4(), s.cr8(), s.efer(),
                s.apicBase(), s.interruptBitmap()));
    }

    /** Kernel: EFER.SCE, LSTAR, STAR, then IRETQ to CPL3 user code (CS 0x33, SS 0x2B, IF set). */
    static Asm toUser() {
        return new Asm()
                .raw("b9 80 00 00 c0 0f 32 83 c8 01 0f 30") // EFER |= SCE
                .raw("b9 82 00 00 c0 b8").raw(le32(SYSCALL)).raw("31 d2 0f 30") // LSTAR = SYSCALL
                .raw("b9 81 00 00 c0 31 c0 ba 08 00 20 00 0f 30") // STAR: kernel CS 0x08, user base 0x20
                .raw("6a 2b") // push SS
                .raw("68").raw(le32(USER_STACK)) // push RSP
                .raw("68 02 02 00 00") // push RFLAGS (IF)
                .raw("6a 33") // push CS
                .raw("68").raw(le32(USER)) // push RIP
                .raw("48 cf"); // iretq
    }

    private static String le32(long v) {
        return String.format("%02x %02x %02x %02x", v & 0xFF, (v >>> 8) & 0xFF, (v >>> 16) & 0xFF, (v >>> 24) & 0xFF);
    }

    @Test
    void cpl3ByIretqAndBackBySyscallAndSysret() {
        try (EmuVm vm = new EmuVm(toUser().bytes())) {
            installIdt(vm);
            userPages(vm);
            // User: rax = 42; syscall; rbx = 7; syscall. Kernel: count entries in r12; sysret after the first, hlt after the second.
            byte[] user = hex("b8 2a 00 00 00 0f 05 bb 07 00 00 00 0f 05");
            vm.memory.write(USER, user, 0, user.length);
            byte[] kernel = hex("49 ff c4 49 83 fc 02 74 03 48 0f 07 f4");
            vm.memory.write(SYSCALL, kernel, 0, kernel.length);
            assertInstanceOf(VcpuExit.Hlt.class, vm.vcpu.run());
            Registers r = vm.vcpu.registers();
            assertEquals(2, r.r12(), "two system calls");
            assertEquals(42, r.rax());
            assertEquals(7, r.rbx(), "the user code ran on after SYSRET");
            assertEquals(USER + user.length, r.rcx(), "RCX = the user RIP after SYSCALL");
            assertEquals(0x202, r.r11() & 0x202, "R11 = the user RFLAGS");
            assertEquals(0, vm.vcpu.specialRegisters().cs().dpl(), "back at CPL0");
        }
    }

    /**
     * A thousand system calls and returns, the kernel's path with an STI, in every setting: the instructions the blocks
     * end before run from the block decoder's reading of them (SYSCALL, STI, SYSRETQ), and the machine ends as the
     * interpreter's does.
     */
    @ParameterizedTest
    @ValueSource(strings = {"interpreter", "blocks", "compiled"})
    void aThousandSystemCallsRunAsTheInterpreterRunsThem(String execution) {
        // User: 1: syscall; jmp 1b. Kernel: inc r12; sti; cmp r12, 1000; je 1f; sysretq; 1: hlt.
        byte[] user = hex("0f 05 eb fc");
        byte[] kernel = hex("49 ff c4 fb 49 81 fc e8 03 00 00 74 03 48 0f 07 f4");
        ExecutionTest.with(execution, () -> {
            try (EmuVm vm = new EmuVm(toUser().bytes())) {
                installIdt(vm);
                userPages(vm);
                vm.memory.write(USER, user, 0, user.length);
                vm.memory.write(SYSCALL, kernel, 0, kernel.length);
                assertInstanceOf(VcpuExit.Hlt.class, vm.vcpu.run());
                Registers r = vm.vcpu.registers();
                assertEquals(1000, r.r12(), execution + ": system calls");
                assertEquals(SYSCALL + kernel.length, r.rip(), execution + ": at the kernel's HLT");
                assertEquals(USER + 2, r.rcx(), execution + ": RCX = the user RIP after the last SYSCALL");
                assertEquals(0, vm.vcpu.specialRegisters().cs().dpl(), execution + ": at CPL0");
            }
            return null;
        });
    }

    /**
     * A fault at CPL3 and IRETQ back from its handler: the frame's SS and CS carry RPL 3 as loaded, so the return passes
     * IRETQ's checks and the user code runs on (then a SYSCALL ends in the kernel's HLT).
     */
    @Test
    void iretqFromAUserFaultsHandlerReturnsToRing3() {
        try (EmuVm vm = new EmuVm(toUser().bytes())) {
            installIdt(vm);
            userPages(vm);
            long handler = HANDLERS + 0x800;
            byte[] skip = hex("48 83 04 24 02 48 cf"); // add qword [rsp], 2; iretq
            vm.memory.write(handler, skip, 0, skip.length);
            Idt.writeGate(vm.memory, IDT, 6, handler);
            byte[] user = hex("0f 0b 0f 05"); // ud2; syscall
            vm.memory.write(USER, user, 0, user.length);
            vm.memory.write(SYSCALL, hex("f4"), 0, 1);
            assertInstanceOf(VcpuExit.Hlt.class, vm.vcpu.run());
            assertEquals(USER + 4, vm.vcpu.registers().rcx(), "the SYSCALL after the UD2 ran at CPL3");
            assertEquals(USER_DATA, vm.memory.readLong(KERNEL_STACK - 8) & 0xFFFF, "the #UD frame's SS: RPL 3 as loaded");
        }
    }

    /** IN above IOPL: allowed where the TSS's I/O permission bitmap clears the port's bit, else #GP(0) at the IN. */
    @Test
    void portAccessAboveIoplFollowsTheTssBitmap() {
        try (EmuVm vm = new EmuVm(toUser().bytes())) {
            installIdt(vm);
            userPages(vm);
            long tss = LongModeBoot.TSS;
            vm.memory.write(tss + 0x66, new byte[]{0x68, 0}, 0, 2); // the bitmap right after the 104-byte TSS
            byte[] bitmap = new byte[0x12];
            java.util.Arrays.fill(bitmap, (byte) 0xFF);
            bitmap[0x10] = (byte) 0xFE; // port 0x80 allowed, 0x81 (bit 1) not
            vm.memory.write(tss + 0x68, bitmap, 0, bitmap.length);
            setTrLimit(vm, 0x68 + bitmap.length - 1);
            byte[] user = hex("e4 80 e4 81"); // in al, 0x80; in al, 0x81
            vm.memory.write(USER, user, 0, user.length);
            VcpuExit first = vm.vcpu.run();
            assertTrue(first instanceof VcpuExit.Io io && !io.out() && io.port() == 0x80, "port 0x80 passes: " + first);
            assertEquals(13, vm.nextOut(0x90), "port 0x81: #GP");
            assertEquals(0, vm.vcpu.registers().rbx(), "#GP(0)");
            assertEquals(USER + 2, vm.vcpu.registers().rdx(), "at the second IN");
        }
    }

    @Test
    void aPrivilegedInstructionAtCpl3IsGeneralProtection() {
        try (EmuVm vm = new EmuVm(toUser().bytes())) {
            installIdt(vm);
            userPages(vm);
            byte[] user = hex("90 fa"); // nop; cli
            vm.memory.write(USER, user, 0, user.length);
            assertEquals(13, vm.nextOut(0x90));
            Registers r = vm.vcpu.registers();
            assertEquals(0, r.rbx(), "#GP(0)");
            assertEquals(USER + 1, r.rdx(), "the saved RIP is the CLI");
            assertEquals(USER_CODE, r.rsi(), "the saved CS is the user's, RPL 3");
            assertEquals(KERNEL_STACK - 5 * 8, r.rsp(), "the handler ran on the TSS RSP0 stack: the 6-slot frame less the popped error code");
        }
    }

    @Test
    void singleStepTrapsAfterEachInstructionWithDr6Bs() {
        // pushfq; or qword [rsp], 0x100 (TF); popfq; nop; nop: POPF sets TF, the NOP after it runs with TF and traps
        Taken t = run("host", "9c 48 81 0c 24 00 01 00 00 9d 90 90");
        assertEquals(1, t.vector());
        assertEquals(CODE + 11, t.rip(), "a trap: the saved RIP is past the first instruction run with TF set");
    }

    /**
     * SYSCALL and SYSRET single-step by the TF they leave: a SYSCALL whose FMASK clears TF traps nowhere, and the SYSRET
     * that restores TF from R11 traps at once, at CPL3 on the user instruction after the SYSCALL (kvm-unit-tests' syscall).
     */
    @Test
    void syscallAndSysretSingleStepByTheFlagsTheyLeave() {
        Asm boot = new Asm().raw("b9 84 00 00 c0 b8 00 01 00 00 31 d2 0f 30"); // FMASK = TF
        byte[] toUser = toUser().bytes();
        byte[] code = new byte[boot.bytes().length + toUser.length];
        System.arraycopy(boot.bytes(), 0, code, 0, boot.bytes().length);
        System.arraycopy(toUser, 0, code, boot.bytes().length, toUser.length);
        try (EmuVm vm = new EmuVm(code)) {
            installIdt(vm);
            userPages(vm);
            byte[] user = hex("9c 48 81 0c 24 00 01 00 00 9d 0f 05 90 90"); // TF on by POPFQ; syscall; nop; nop
            vm.memory.write(USER, user, 0, user.length);
            vm.memory.write(SYSCALL, hex("48 0f 07"), 0, 3); // sysretq
            assertEquals(1, vm.nextOut(0x90), "one #DB");
            Registers r = vm.vcpu.registers();
            assertEquals(USER + 12, r.rdx(), "taken right after SYSRET, on the user instruction after SYSCALL");
            assertEquals(USER_CODE, r.rsi(), "at CPL3, not in the kernel SYSCALL entered");
        }
    }

    /** PUSH and POP (compiled ones too, in the surefire execution that compiles every block) with RSP not canonical. */
    @ParameterizedTest
    @ValueSource(strings = {"50", "58"})
    void aNonCanonicalStackIsAStackFault(String pushOrPop) {
        // mov rsp, 0x8000_0000_0000_0008; push rax (or pop rax)
        try (EmuVm vm = new EmuVm(hex("48 bc 08 00 00 00 00 80 00 00 " + pushOrPop))) {
            installIdt(vm);
            // The #SS handler gets its own stack through IST1, or its frame would go on the bad stack too.
            vm.memory.writeLong(IDT + 12 * 16L, vm.memory.readLong(IDT + 12 * 16L) | (1L << 32));
            vm.memory.writeLong(LongModeBoot.TSS + 0x24, KERNEL_STACK); // IST1
            assertEquals(12, vm.nextOut(0x90));
            assertEquals(0, vm.vcpu.registers().rbx(), "#SS(0)");
            assertEquals(CODE + 10, vm.vcpu.registers().rdx(), "the PUSH or POP faulted");
        }
    }

    /**
     * A load or store whose address is not canonical: #SS(0) through RSP, #GP(0) through another base (compiled ones
     * too, in the surefire execution that compiles every block, whose accessors say which on their full path only).
     */
    @ParameterizedTest
    @ValueSource(strings = {"48 8b 44 24 10:12", "48 89 44 24 10:12", "48 8b 43 10:13", "48 89 43 10:13"})
    void aNonCanonicalOperandIsAStackFaultThroughRspAndAGeneralOneElse(String access) {
        String[] parts = access.split(":");
        boolean stack = parts[1].equals("12");
        // mov rsp (or rbx), 0x0000_7fff_ffff_fff8, canonical; then the access at it + 0x10, which is not
        String load = (stack ? "48 bc" : "48 bb") + " f8 ff ff ff ff 7f 00 00 ";
        try (EmuVm vm = new EmuVm(hex(load + parts[0]))) {
            installIdt(vm);
            // #SS and #GP get their own stack through IST1, as RSP may point nowhere
            for (int vector : new int[]{12, 13}) {
                vm.memory.writeLong(IDT + vector * 16L, vm.memory.readLong(IDT + vector * 16L) | (1L << 32));
            }
            vm.memory.writeLong(LongModeBoot.TSS + 0x24, KERNEL_STACK); // IST1
            assertEquals(Integer.parseInt(parts[1]), vm.nextOut(0x90), stack ? "#SS through RSP" : "#GP through RBX");
            assertEquals(0, vm.vcpu.registers().rbx(), "error code 0");
            assertEquals(CODE + 10, vm.vcpu.registers().rdx(), "the access faulted");
        }
    }

    @Test
    void softwareInterruptThroughANotPresentGateIsNpWithoutExt() {
        try (EmuVm vm = new EmuVm(hex("cd 40"))) { // int 0x40
            installIdt(vm);
            Idt.load(vm.vcpu, IDT, 0x40 * 16 + 15);
            vm.memory.writeLong(IDT + 0x40 * 16L, vm.memory.readLong(IDT + 6 * 16L) & ~(1L << 47)); // a valid gate, not present
            vm.memory.writeLong(IDT + 0x40 * 16L + 8, 0);
            assertEquals(11, vm.nextOut(0x90));
            assertEquals(0x40 * 8 + 2, vm.vcpu.registers().rbx(), "IDT bit set, EXT clear for INT n");
        }
    }

    @Test
    void anUnmaskedSseExceptionIsXmWithOsxmmexcpt() {
        // push 0x1D80 (ZM unmasked); ldmxcsr [rsp]; xmm0 = 1.0f; xorps xmm1, xmm1; divss xmm0, xmm1: 1/0
        String code = "68 80 1d 00 00 0f ae 14 24 b8 00 00 80 3f 66 0f 6e c0 0f 57 c9 f3 0f 5e c1";
        assertEquals(new Taken(19, 0, 0, CODE + 21, 0x08), run("host", code));
    }

    @Test
    void alignmentCheckAtCpl3() {
        try (EmuVm vm = new EmuVm(toUser().bytes())) {
            installIdt(vm);
            userPages(vm);
            SpecialRegisters s = vm.vcpu.specialRegisters();
            assertEquals(ControlBits.CR0_AM, s.cr0() & ControlBits.CR0_AM, "the entry contract sets CR0.AM");
            // user: pushfq; or dword [rsp], 0x40000 (AC); popfq; mov eax, [rsp + 1]
            byte[] user = hex("9c 81 0c 24 00 00 04 00 9d 8b 44 24 01");
            vm.memory.write(USER, user, 0, user.length);
            assertEquals(17, vm.nextOut(0x90));
            assertEquals(0, vm.vcpu.registers().rbx(), "#AC(0)");
            assertEquals(USER + 9, vm.vcpu.registers().rdx());
        }
    }

    /**
     * Under the entry contract's CR0.AM, user code with AC clear reads a misaligned quadword from its stack page (no
     * fault: that page may then be direct), sets AC, and the same page's misaligned read is #AC(0): in each of the
     * core's settings, so compiled code's accesses, which take direct pages, see AC's change too.
     */
    @ParameterizedTest
    @ValueSource(strings = {"interpreter", "compiled", "blocks"})
    void alignmentCheckOnlyOnceAcIsSet(String setting) {
        ExecutionTest.with(setting, () -> {
            try (EmuVm vm = new EmuVm(toUser().bytes())) {
                installIdt(vm);
                userPages(vm);
                // user: mov rax, [rsp + 1]; pushfq; or dword [rsp], 0x40000 (AC); popfq; mov eax, [rsp + 1]
                byte[] user = hex("48 8b 44 24 01 9c 81 0c 24 00 00 04 00 9d 8b 44 24 01");
                vm.memory.write(USER, user, 0, user.length);
                assertEquals(17, vm.nextOut(0x90), setting);
                assertEquals(0, vm.vcpu.registers().rbx(), "#AC(0), " + setting);
                assertEquals(USER + 14, vm.vcpu.registers().rdx(), "at the read after POPFQ, not the one before, " + setting);
            }
            return null;
        });
    }
}

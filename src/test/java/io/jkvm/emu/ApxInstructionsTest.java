package io.jkvm.emu;

import io.jkvm.testing.Asm;
import io.jkvm.testing.EmuVm;
import io.jkvm.x86.Registers;
import io.jkvm.x86.VcpuState;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The APX rules an oracle cannot show: PUSH2/POP2 with their stack layout, #GP and #UD cases; CFCMOV suppressing
 * the fault of a move that does not happen, where CMOV and CCMP still access memory; #UD for every EVEX form with
 * XCR0[APX] clear, for the NDD/NF/conditional forms without CPUID.(0x29,0):EBX[0], and for reserved encodings.
 */
class ApxInstructionsTest {
    private static final String APX = "host,+xsave,+apx";
    private static final long STACK = 0x180000, NON_CANONICAL = 0x8000_0000_0000_0000L;
    private static final int R16 = 16, R17 = 17, R18 = 18, R20 = 20, R21 = 21;

    /** Enables APX (XCR0 = x87 | SSE | APX), then the code under test; the IDT reports faults on port 0x90. */
    private static Asm apxOn() {
        return new Asm().setXcr0(0x80003L);
    }

    private static ExceptionsTest.Taken fault(String cpu, Asm code) {
        try (EmuVm vm = new EmuVm(cpu, code.movAl(0xEE).outAl(0x90).hlt().bytes())) {
            ExceptionsTest.installIdt(vm);
            long vector = vm.nextOut(0x90);
            Registers r = vm.vcpu.registers();
            return new ExceptionsTest.Taken((int) vector, r.rbx(), r.rcx(), r.rdx(), r.rsi());
        }
    }

    /** The vector the code raised (0xEE: none, it ran to the end). */
    private static int vector(String cpu, Asm code) {
        return fault(cpu, code).vector();
    }

    /** Runs {@code code} to its OUT 0x80 and returns the state there. */
    private static VcpuState run(String cpu, Asm code) {
        try (EmuVm vm = new EmuVm(cpu, code.outAl(0x80).hlt().bytes())) {
            ExceptionsTest.installIdt(vm);
            vm.nextOut(0x80);
            return vm.vcpu.saveState();
        }
    }

    private static Asm stackAt(Asm a, long rsp) {
        return a.raw("48 bc").immediate(rsp, 8); // mov rsp, imm64
    }

    @Test
    void push2PushesTheFirstOperandFirstAndPop2ReadsItBackSecond() {
        Asm a = stackAt(apxOn(), STACK).movImm64(R16, 0x1111).movImm64(3, 0x3333);
        a.evex(4, 0, false, true, false, R16, 0xFF, 6, 3);      // push2 r16, rbx
        a.raw("48 8b 0c 24 48 8b 54 24 08");                     // mov rcx, [rsp]; mov rdx, [rsp + 8]
        a.evex(4, 0, true, true, false, R20, 0x8F, 0, R21);      // pop2p r20, r21 (W: the PPX hint)
        a.raw("d5 18 50 d5 18 59");                              // pushp r16; popp r17
        VcpuState s = run(APX, a);
        assertEquals(0x3333, s.gpr(1), "[rsp] after push2 r16, rbx holds rbx");
        assertEquals(0x1111, s.gpr(2), "[rsp + 8] holds r16");
        assertEquals(0x3333, s.gpr(R20), "pop2 r20, r21: r20 gets [rsp]");
        assertEquals(0x1111, s.gpr(R21), "r21 gets [rsp + 8]");
        assertEquals(0x1111, s.gpr(R17), "pushp/popp move the value like push/pop");
        assertEquals(STACK, s.gpr(4), "RSP back where it started");
    }

    @Test
    void push2AndPop2FaultOnAMisalignedStackAndRefuseRspOrTheSameRegisterTwice() {
        long push2At = EmuVm.CODE + 15 + 10; // after XSETBV's setup (15 bytes) and MOV RSP, imm64
        assertEquals(new ExceptionsTest.Taken(13, 0, 0, push2At, 0x08),
                fault(APX, stackAt(apxOn(), STACK + 8).evex(4, 0, false, true, false, R16, 0xFF, 6, 3)), "push2 with RSP % 16 = 8: #GP(0)");
        assertEquals(13, vector(APX, stackAt(apxOn(), STACK + 8).evex(4, 0, false, true, false, R16, 0x8F, 0, 3)), "pop2, misaligned: #GP");
        assertEquals(6, vector(APX, stackAt(apxOn(), STACK).evex(4, 0, false, true, false, R16, 0x8F, 0, R16)), "pop2 r16, r16: #UD");
        assertEquals(6, vector(APX, stackAt(apxOn(), STACK).evex(4, 0, false, true, false, 4, 0xFF, 6, 3)), "push2 rsp, rbx: #UD");
        assertEquals(6, vector(APX, stackAt(apxOn(), STACK).evex(4, 0, false, true, false, 3, 0x8F, 0, 4)), "pop2 rbx, rsp: #UD");
        assertEquals(6, vector(APX, stackAt(apxOn(), STACK).evex(4, 0, false, false, false, 0, 0xFF, 6, 3)), "push2 needs ND=1");
        assertEquals(0xEE, vector(APX, stackAt(apxOn(), STACK).evex(4, 0, false, true, false, R16, 0xFF, 6, 3)), "aligned: no fault");
    }

    /** [rax] with RAX non-canonical: any access is #GP(0). CF is set by STC, so "B" holds and "NB" does not. */
    private static Asm nonCanonicalInRax() {
        return apxOn().raw("48 b8").immediate(NON_CANONICAL, 8).raw("f9"); // mov rax, imm64; stc
    }

    @Test
    void cfcmovSuppressesTheFaultOfAMoveThatDoesNotHappen() {
        assertEquals(0xEE, vector(APX, nonCanonicalInRax().evexMem(4, 0, true, false, false, 0, 0x43, R16, 0, -1, 0, 0)),
                "cfcmovnb r16, [rax] with CF=1: no access, no fault");
        assertEquals(13, vector(APX, nonCanonicalInRax().evexMem(4, 0, true, false, false, 0, 0x42, R16, 0, -1, 0, 0)),
                "cfcmovb r16, [rax] with CF=1: the load happens and faults");
        assertEquals(0xEE, vector(APX, nonCanonicalInRax().evexMem(4, 0, true, false, true, 0, 0x43, R16, 0, -1, 0, 0)),
                "cfcmovnb [rax], r16 (store form): no fault");
        assertEquals(0xEE, vector(APX, nonCanonicalInRax().evexMem(4, 0, true, true, true, R17, 0x43, R16, 0, -1, 0, 0)),
                "cfcmovnb r17, r16, [rax] (NDD): no fault");
        assertEquals(13, vector(APX, nonCanonicalInRax().evexMem(4, 0, true, true, false, R17, 0x43, R16, 0, -1, 0, 0)),
                "cmovnb r17, r16, [rax] (NDD, not CF): reads memory either way, like CMOV");
        assertEquals(13, vector(APX, nonCanonicalInRax().conditionalMem(0, true, 0xB, 0, 0x39, 3, 0, -1, 0, 0)),
                "ccmpf [rax], rbx: the operand is read though the condition is false");
        VcpuState s = run(APX, nonCanonicalInRax().movImm64(R17, 5).evexMem(4, 0, true, true, true, R17, 0x43, R16, 0, -1, 0, 0));
        assertEquals(s.gpr(R16), s.gpr(R17), "cfcmovnb r17, r16, [rax] not taken: r17 = r16");
    }

    @Test
    void nddWithAMemorySourceLeavesMemoryAlone() {
        long cell = 0x170000;
        Asm a = apxOn().raw("48 b8").immediate(cell - 123, 8) // mov rax, cell - 123
                .raw("48 c7 80 7b 00 00 00 0a 00 00 00")          // mov qword [rax + 123], 10
                .movImm64(R16, 32);
        a.evexMem(4, 0, true, true, false, R18, 0x01, R16, 0, -1, 0, 123); // add r18, [rax + 123], r16
        a.raw("48 8b 88 7b 00 00 00");                                      // mov rcx, [rax + 123]
        VcpuState s = run(APX, a);
        assertEquals(42, s.gpr(R18));
        assertEquals(10, s.gpr(1), "the memory operand is a source only");
    }

    @Test
    void ccmpWithARipRelativeOperandAndAnImmediateAddressesFromTheInstructionsEnd() {
        // ccmpt {dfv=} qword ptr [rip + 6], 0x55 (83 /7 ib): equal, so ZF
        Asm a = apxOn().conditional(0, true, 0xA, 0, 0x83, 7, 5);
        byte[] code = a.bytes();
        code[code.length - 1] = 0x3D; // ModRM mod 00 r/m 101: RIP-relative, reg /7
        Asm b = new Asm().raw(java.util.HexFormat.of().formatHex(code)).immediate(6, 4).immediate(0x55, 1)
                .raw("9c 58").outAl(0x80).raw("f4 f4 55"); // pushf; pop rax; out; hlt; hlt; then 0x55: six bytes past the end
        try (EmuVm vm = new EmuVm(APX, b.bytes())) {
            vm.nextOut(0x80);
            assertEquals(0x40, vm.vcpu.registers().rax() & 0x40, "ZF: the byte two past the instruction's end matched");
        }
    }

    @Test
    void everyEvexFormIsUndefinedWithXcr0ApxClear() {
        Asm off = new Asm().setXcr0(0x3L);
        assertEquals(6, vector(APX, off.evex(4, 0, true, false, false, 0, 0x01, 0, 3)), "{evex} add rbx, rax");
        assertEquals(6, vector(APX, new Asm().setXcr0(0x3L).evex(4, 0, true, true, false, 2, 0x01, 0, 3)), "add rdx, rbx, rax");
        assertEquals(6, vector(APX, new Asm().setXcr0(0x3L).conditional(0, true, 0xA, 0, 0x39, 0, 3)), "ccmpt rbx, rax");
        assertEquals(6, vector(APX, stackAt(new Asm().setXcr0(0x3L), STACK).evex(4, 0, false, true, false, 7, 0xFF, 6, 3)), "push2");
        assertEquals(6, vector(APX, new Asm().setXcr0(0x3L).evex(2, 0, true, false, false, 1, 0xF2, 0, 3)), "andn (EVEX)");
        assertEquals(0xEE, vector(APX, apxOn().evex(4, 0, true, false, false, 0, 0x01, 0, 3)), "the same with APX on runs");
    }

    @Test
    void theNddNfAndConditionalFormsNeedTheirCpuidSubFeature() {
        String without = APX + ",-apx-nci-ndd-nf";
        assertEquals(6, vector(without, apxOn().evex(4, 0, true, true, false, 2, 0x01, 0, 3)), "NDD add");
        assertEquals(6, vector(without, apxOn().evex(4, 0, true, false, true, 0, 0x01, 0, 3)), "{nf} add");
        assertEquals(6, vector(without, apxOn().conditional(0, true, 0xA, 0, 0x39, 0, 3)), "ccmpt");
        assertEquals(6, vector(without, apxOn().evex(4, 0, true, false, false, 0, 0x42, 0, 3)), "cfcmovb");
        assertEquals(6, vector(without, apxOn().evex(4, 3, false, true, false, 0, 0x44, 0, 3)), "setzue");
        assertEquals(0xEE, vector(without, apxOn().evex(4, 0, true, false, false, 0, 0x01, 0, 3)), "{evex} add is APX_F");
        assertEquals(0xEE, vector(without, stackAt(apxOn(), STACK).evex(4, 0, false, true, false, 7, 0xFF, 6, 3)), "push2 is APX_F");
        assertEquals(0xEE, vector(APX, apxOn().evex(4, 0, true, true, false, 2, 0x01, 0, 3)), "with the sub-feature, NDD runs");
    }

    @Test
    void reservedEncodingsAreUndefined() {
        assertEquals(6, vector(APX, apxOn().evex(4, 0, true, false, true, 0, 0x11, 0, 3)), "{nf} adc: ADC has no NF form");
        assertEquals(6, vector(APX, apxOn().evex(4, 0, true, false, true, 0, 0xD1, 2, 3)), "{nf} rcl");
        assertEquals(6, vector(APX, apxOn().evex(4, 0, true, true, false, 2, 0xF7, 4, 3)), "mul with ND");
        assertEquals(6, vector(APX, apxOn().evex(4, 0, true, false, true, 0, 0xF7, 2, 3)), "{nf} not");
        assertEquals(6, vector(APX, apxOn().evex(4, 0, true, false, false, 5, 0x01, 0, 3)), "vvvv set without ND");
        assertEquals(6, vector(APX, apxOn().evex(4, 2, true, false, false, 0, 0x01, 0, 3)), "F3 (pp=2) on ADD");
        assertEquals(6, vector(APX, apxOn().raw("62 f4 fc 09 01 c3")), "P2 aaa[0] set");
        assertEquals(6, vector(APX, apxOn().raw("62 f4 fc 28 01 c3")), "P2 L'L set");
        assertEquals(6, vector(APX, apxOn().raw("62 f5 fc 08 01 c3")), "map 5");
        assertEquals(6, vector(APX, apxOn().raw("48 62 f4 fc 08 01 c3")), "REX before EVEX");
        assertEquals(6, vector(APX, apxOn().raw("66 62 f4 fc 08 01 c3")), "66 before EVEX");
        assertEquals(6, vector(APX, apxOn().evex(4, 3, false, true, false, 5, 0x44, 0, 3)), "setzue with vvvv set");
        assertEquals(0xEE, vector(APX, apxOn().raw("62 f4 fc 08 01 c3")), "{evex} add rbx, rax itself is fine");
    }
}

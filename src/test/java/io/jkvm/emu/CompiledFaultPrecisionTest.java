package io.jkvm.emu;

import io.jkvm.machine.LongModeBoot;
import io.jkvm.testing.EmuVm;
import io.jkvm.testing.Idt;
import io.jkvm.x86.Registers;
import io.jkvm.x86.VcpuExit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.io.ByteArrayOutputStream;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;

/**
 * A fault at every instruction position of one block: the block's memory operands go through RSI (RAM), but the one
 * at position k goes through RDI, an address with no page. Whether the block is interpreted, run decoded, or compiled
 * to bytecode before its first run, the #PF handler finds the same registers, flags, saved RIP and RFLAGS, CR2 and
 * memory: the faulting instruction's own start, with everything before it done and nothing of it or after it.
 */
class CompiledFaultPrecisionTest {
    private static final long DATA = 0x300000, NO_PAGE = 0x7000_0000_0000L, IDT = 0x104000, HANDLER = EmuVm.CODE + 0x800;

    /** Exception {@code vector} of {@code vm} goes to a HLT at HANDLER. */
    private static void haltOn(EmuVm vm, int vector) {
        vm.memory.write(HANDLER, new byte[]{(byte) 0xF4}, 0, 1);
        Idt.writeGate(vm.memory, IDT, vector, HANDLER);
        Idt.load(vm.vcpu, IDT, 32 * 16 - 1);
    }

    /** Every GPR of {@code end}, then its RIP: what a test compares first across the settings. */
    private static List<Long> gprsAndRip(Registers end) {
        List<Long> seen = new ArrayList<>();
        for (int g = 0; g < 16; g++) {
            seen.add(end.gpr(g));
        }
        seen.add(end.rip());
        return seen;
    }

    /** The block's instructions: {@code %s} is the ModRM byte's base (6 = RSI, 7 = RDI); register-only forms between. */
    private static final String[] MEMORY_FORMS = {
        "48 03 %02x", // add rax, [m]
        "48 89 %02x 08", // mov [m+8], rax
        "48 29 %02x 10", // sub [m+16], rbx: flags set before the store that faults
        "48 39 %02x", // cmp [m], rcx
        "ff %02x 18", // inc dword [m+24]
        "0f b6 %02x 01", // movzx edx, byte [m+1]
        "48 85 %02x 08", // test [m+8], rax
        "48 13 %02x 10", // adc rbx, [m+16]
        "48 f7 %02x 20", // neg qword [m+32]
        "48 c1 %02x 28 03", // shl qword [m+40], 3
        "ff %02x", // push qword [m]
        "48 f7 %02x 30", // not qword [m+48]
        "48 d3 %02x 38", // shl qword [m+56], cl
        "d3 %02x 38", // sar dword [m+56], cl
        "48 8b %02x 18", // mov rdx, [m+24]
        "48 c7 %02x 20 05 00 00 00", // mov qword [m+32], 5
        "8b %02x 04", // mov ebx, [m+4]
        "c1 %02x 30 07", // rol dword [m+48], 7
        "48 d1 %02x 28", // ror qword [m+40], 1
    };
    private static final int[] MOD_REG = {0x00, 0x40, 0x58, 0x08, 0x40, 0x50, 0x40, 0x58, 0x58, 0x60, 0x30, 0x50, 0x60, 0x78,
        0x50, 0x40, 0x58, 0x40, 0x48};
    /** add rcx, rax; dec r8; not r9; neg r10; shl rdx, cl; rol r11d, cl: the compiler's own register forms. */
    private static final String BETWEEN = "48 01 c1 49 ff c8 49 f7 d1 49 f7 da 48 d3 e2 41 d3 c3";
    /**
     * After BETWEEN, in turn: mov r12d, 0x7fffffff; add r12d, 1 (AF and OF set); shr rdx, 5 (a fault in the next form
     * shows the AF and OF the shift kept of the ADD), the same then inc r8 (the CF it kept of the shift), and the ADD
     * then rol r11d, 5; ror r11, 1 (a fault in the next form shows the ADD's flags but CF and OF, the RORs's).
     */
    private static final String[] TAILS = {"41 bc ff ff ff 7f 41 83 c4 01 48 c1 ea 05",
        "41 bc ff ff ff 7f 41 83 c4 01 48 c1 ea 05 49 ff c0", "41 bc ff ff ff 7f 41 83 c4 01 41 c1 c3 05 49 d1 cb"};

    /** The block with position {@code k}'s operand through RDI; the offsets of each memory instruction. */
    private static byte[] code(int k, List<Integer> starts) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (int i = 0; i < MEMORY_FORMS.length; i++) {
            starts.add(out.size());
            out.writeBytes(HexFormat.of().parseHex(String.format(MEMORY_FORMS[i], MOD_REG[i] | (i == k ? 7 : 6)).replace(" ", "")));
            out.writeBytes(HexFormat.of().parseHex((BETWEEN + " " + TAILS[i % TAILS.length]).replace(" ", "")));
        }
        out.writeBytes(HexFormat.of().parseHex("e680f4")); // out 0x80, al; hlt: reached only if nothing faulted
        return out.toByteArray();
    }

    /** What the handler finds: every GPR, RFLAGS, the frame's RIP and RFLAGS, CR2 and the data, in {@code setting}. */
    private static List<Long> faultAt(int k, String setting, List<Integer> starts) {
        return ExecutionTest.with(setting, () -> {
            try (EmuVm vm = new EmuVm(code(k, starts))) {
                haltOn(vm, 14);
                for (int i = 0; i < 8; i++) {
                    vm.memory.writeLong(DATA + 8L * i, 0x0123_4567_89AB_CDEFL * (i + 1));
                }
                Registers r = vm.vcpu.registers().withGpr(0, 0x1111).withGpr(3, 0x2222).withGpr(1, -5).withGpr(8, 1)
                        .withGpr(6, DATA).withGpr(7, NO_PAGE).withRflags(0x203); // CF set: ADC reads it
                vm.vcpu.setRegisters(r);
                assertInstanceOf(VcpuExit.Hlt.class, vm.vcpu.run(), setting + ", position " + k);
                Registers end = vm.vcpu.registers();
                List<Long> seen = gprsAndRip(end);
                long rsp = end.rsp();
                seen.add(vm.memory.readLong(rsp)); // error code
                seen.add(vm.memory.readLong(rsp + 8)); // RIP of the faulting instruction
                seen.add(vm.memory.readLong(rsp + 24)); // RFLAGS at it
                seen.add(vm.vcpu.specialRegisters().cr2());
                for (int i = 0; i < 8; i++) {
                    seen.add(vm.memory.readLong(DATA + 8L * i));
                }
                return seen;
            }
        });
    }

    @Test
    void everyPositionFaultsAlikeInterpretedDecodedAndCompiled() {
        for (int k = 0; k < MEMORY_FORMS.length; k++) {
            List<Integer> starts = new ArrayList<>();
            List<Long> interpreted = faultAt(k, "interpreter", starts);
            assertEquals(EmuVm.CODE + starts.get(k), interpreted.get(18), "position " + k + ": the saved RIP is its start");
            assertEquals(HANDLER + 1, interpreted.get(16), "in the handler's HLT");
            assertEquals(List.of(interpreted, interpreted), List.of(faultAt(k, "blocks", new ArrayList<>()),
                    faultAt(k, "compiled", new ArrayList<>())), "position " + k + ": decoded and compiled as interpreted");
        }
    }

    /**
     * movabs rbx, 1 << 63; push rbx; add rax, 1; ret: the RET pops a non-canonical address, #GP(0) with RSP where it was
     * before the RET (the frame's RSP points at the address again), the ADD done.
     */
    private static final String RETURN_TO_NON_CANONICAL = "48bb0000000000000080" + "53" + "4883c001" + "c3";

    /** Every GPR, the handler's RIP, the frame (error code, RIP, CS, RFLAGS, RSP) and the qword at its RSP, in {@code setting}. */
    private static List<Long> nonCanonicalReturn(String setting) {
        return ExecutionTest.with(setting, () -> {
            try (EmuVm vm = new EmuVm(HexFormat.of().parseHex(RETURN_TO_NON_CANONICAL))) {
                haltOn(vm, 13);
                assertInstanceOf(VcpuExit.Hlt.class, vm.vcpu.run(), setting);
                Registers end = vm.vcpu.registers();
                List<Long> seen = gprsAndRip(end);
                for (int at = 0; at <= 32; at += 8) {
                    seen.add(vm.memory.readLong(end.rsp() + at)); // error code, RIP, CS, RFLAGS, RSP
                }
                seen.add(vm.memory.readLong(vm.memory.readLong(end.rsp() + 32))); // what the frame's RSP points at
                return seen;
            }
        });
    }

    @Test
    void aReturnToANonCanonicalAddressFaultsWithRspBeforeIt() {
        List<Long> interpreted = nonCanonicalReturn("interpreter");
        assertEquals(HANDLER + 1, interpreted.get(16), "in the #GP handler's HLT");
        assertEquals(EmuVm.CODE + 15, interpreted.get(18), "the saved RIP: the RET");
        assertEquals(1L << 63, interpreted.get(22), "the frame's RSP points at the popped address");
        assertEquals(List.of(interpreted, interpreted), List.of(nonCanonicalReturn("blocks"), nonCanonicalReturn("compiled")),
                "decoded and compiled as interpreted");
    }

    /** The first byte of the 2 MiB page the test below makes not present; the page before it is RAM. */
    private static final long ABSENT = 0x400000;

    /**
     * An access at the last qword of a RAM page (which fills its direct entry), then one of the same direction across
     * that page's end into a page that is not present ({@code first}, {@code across}, with RBX = ABSENT - 8 and RCX =
     * 0x5555): the #PF is taken at the second, CR2 the absent page's start, RCX as before. A look-up that took the
     * first page's direct entry for the whole access would read or write past its end instead.
     */
    @ParameterizedTest
    @CsvSource({
        "48 8b 03, 48 8b 4b 04, 0", // mov rax, [rbx]; mov rcx, [rbx + 4]: read, not present
        "48 8b 03, 8b 4b 06, 0", // mov ecx, [rbx + 6]
        "48 8b 03, 66 8b 4b 07, 0", // mov cx, [rbx + 7]
        "48 89 03, 48 89 4b 04, 2", // mov [rbx], rax; mov [rbx + 4], rcx: write, not present
        "48 89 03, 89 4b 06, 2", // mov [rbx + 6], ecx
        "48 89 03, 48 01 4b 04, -1", // add [rbx + 4], rcx: its error code as the interpreter gives it
    })
    void anAccessAcrossAPageEndIntoNoPageFaultsAtItInEachSetting(String first, String across, long errorCode) {
        byte[] code = HexFormat.of().parseHex((first + across + "f4").replace(" ", ""));
        long acrossAt = EmuVm.CODE + first.replace(" ", "").length() / 2;
        List<Long> interpreted = acrossThePageEnd("interpreter", code);
        assertEquals(List.of(HANDLER + 1, acrossAt, ABSENT, 0x5555L), interpreted.subList(0, 4),
                "in the #PF handler; the saved RIP, CR2, RCX");
        if (errorCode >= 0) {
            assertEquals(errorCode, interpreted.get(4), "the error code");
        }
        assertEquals(List.of(interpreted, interpreted), List.of(acrossThePageEnd("blocks", code),
                acrossThePageEnd("compiled", code)), "decoded and compiled as interpreted");
    }

    /** The handler's RIP, the saved RIP, CR2, RCX and the error code after {@code code} ran in {@code setting}. */
    private static List<Long> acrossThePageEnd(String setting, byte[] code) {
        return ExecutionTest.with(setting, () -> {
            try (EmuVm vm = new EmuVm(code)) {
                long entry = LongModeBoot.PAGE_DIRECTORIES + (ABSENT >>> 21) * 8;
                vm.memory.writeLong(entry, vm.memory.readLong(entry) & ~1L); // the 2 MiB page at ABSENT: not present
                haltOn(vm, 14);
                vm.vcpu.setRegisters(vm.vcpu.registers().withGpr(3, ABSENT - 8).withGpr(1, 0x5555).withGpr(0, 7));
                assertInstanceOf(VcpuExit.Hlt.class, vm.vcpu.run(), setting);
                Registers end = vm.vcpu.registers();
                return List.of(end.rip(), vm.memory.readLong(end.rsp() + 8), vm.vcpu.specialRegisters().cr2(), end.rcx(),
                        vm.memory.readLong(end.rsp()));
            }
        });
    }

    /**
     * mov rdx, [rsp] (the stack's page a direct one from then on); pop rax; pop rbx; pop rcx from ABSENT - 16: a stack
     * run ({@link StackRuns}) whose span reaches from that RAM page into one not present. Its one look-up misses, each
     * pop finds its own page, and the third faults with RAX and RBX popped, RCX as before and RSP at ABSENT; a look-up
     * of the first pop's page serving all three would read past it.
     */
    @Test
    void aStackRunIntoNoPageFaultsAtItsFirstAccessThereInEachSetting() {
        List<Long> interpreted = stackRunInto("interpreter");
        assertEquals(List.of(HANDLER + 1, EmuVm.CODE + 6, ABSENT, 0x1111L, 0x2222L, 0x5555L, ABSENT), interpreted,
                "in the #PF handler: the saved RIP (the third pop), CR2, RAX, RBX, RCX, the saved RSP");
        assertEquals(List.of(interpreted, interpreted), List.of(stackRunInto("blocks"), stackRunInto("compiled")),
                "decoded and compiled as interpreted");
    }

    /** The handler's RIP, the saved RIP, CR2, RAX, RBX, RCX and the saved RSP after the three pops in {@code setting}. */
    private static List<Long> stackRunInto(String setting) {
        return ExecutionTest.with(setting, () -> {
            try (EmuVm vm = new EmuVm(HexFormat.of().parseHex("488b1424" + "585b59" + "f4"))) {
                long entry = LongModeBoot.PAGE_DIRECTORIES + (ABSENT >>> 21) * 8;
                vm.memory.writeLong(entry, vm.memory.readLong(entry) & ~1L); // the 2 MiB page at ABSENT: not present
                vm.memory.writeLong(ABSENT - 16, 0x1111);
                vm.memory.writeLong(ABSENT - 8, 0x2222);
                haltOn(vm, 14);
                vm.vcpu.setRegisters(vm.vcpu.registers().withGpr(4, ABSENT - 16).withGpr(1, 0x5555));
                assertInstanceOf(VcpuExit.Hlt.class, vm.vcpu.run(), setting);
                Registers end = vm.vcpu.registers();
                return List.of(end.rip(), vm.memory.readLong(end.rsp() + 8), vm.vcpu.specialRegisters().cr2(), end.rax(),
                        end.rbx(), end.rcx(), vm.memory.readLong(end.rsp() + 32));
            }
        });
    }

    /**
     * add rax, rbx (RAX -1, RBX 1: CF, PF, AF and ZF set); call +0x100, a callee out of the block's region, with RSP at
     * ABSENT + 8: the push writes into the page not present, #PF with CR2 at ABSENT, the saved RIP the CALL's, RSP not
     * moved and the frame's RFLAGS the ADD's (compiled, its record still pending when the push faults); the callee's
     * HLT is never reached.
     */
    @Test
    void aCallOutOfItsRegionWhosePushFaultsLeavesTheInterpretersState() {
        List<Long> interpreted = callPushInto("interpreter");
        assertEquals(List.of(HANDLER + 1, EmuVm.CODE + 3, ABSENT, ABSENT + 8, 0L), interpreted.subList(0, 5),
                "in the #PF handler: the saved RIP (the CALL), CR2, the saved RSP, RAX");
        assertEquals(0x55L, interpreted.get(5) & 0x8D5, "the frame's RFLAGS: the ADD's CF, PF, AF and ZF");
        assertEquals(List.of(interpreted, interpreted), List.of(callPushInto("blocks"), callPushInto("compiled")),
                "decoded and compiled as interpreted");
    }

    /** The handler's RIP, the saved RIP, CR2, the saved RSP, RAX and the saved RFLAGS after the CALL in {@code setting}. */
    private static List<Long> callPushInto(String setting) {
        return ExecutionTest.with(setting, () -> {
            try (EmuVm vm = new EmuVm(HexFormat.of().parseHex("4801d8" + "e800010000" + "f4"))) {
                vm.memory.write(EmuVm.CODE + 8 + 0x100, new byte[]{(byte) 0xF4}, 0, 1); // the callee: HLT
                long entry = LongModeBoot.PAGE_DIRECTORIES + (ABSENT >>> 21) * 8;
                vm.memory.writeLong(entry, vm.memory.readLong(entry) & ~1L); // the 2 MiB page at ABSENT: not present
                haltOn(vm, 14);
                vm.vcpu.setRegisters(vm.vcpu.registers().withGpr(4, ABSENT + 8).withGpr(0, -1).withGpr(3, 1));
                assertInstanceOf(VcpuExit.Hlt.class, vm.vcpu.run(), setting);
                Registers end = vm.vcpu.registers();
                return List.of(end.rip(), vm.memory.readLong(end.rsp() + 8), vm.vcpu.specialRegisters().cr2(),
                        vm.memory.readLong(end.rsp() + 32), end.rax(), vm.memory.readLong(end.rsp() + 24));
            }
        });
    }

    /**
     * mov [rsp - 8], rdx (a direct write page from then on); push rax; push rbx; pop rcx; push rsi; pop rdx; pop rdi,
     * one stack run, from RSP {@code offset} bytes above a page end in RAM: its span (16 bytes down from RSP) across
     * the end (8; 12, where one push itself crosses it) or in one page (16, 24, where the run's look-up serves all six).
     * Registers and the stack's bytes as the interpreter leaves them, in each setting.
     */
    @ParameterizedTest
    @org.junit.jupiter.params.provider.ValueSource(longs = {8, 12, 16, 24})
    void aStackRunAtAPageEndLeavesWhatTheInterpreterDoes(long offset) {
        List<Long> interpreted = stackRunAt("interpreter", offset);
        assertEquals(List.of(0xA0L, 0xB0L, 0xB0L, 0xC0L, 0xC0L, 0xA0L), interpreted.subList(0, 6),
                "RAX, RBX, RCX (RBX's), RSI, RDX (RSI's), RDI (RAX's)");
        assertEquals(List.of(interpreted, interpreted), List.of(stackRunAt("blocks", offset), stackRunAt("compiled", offset)),
                "decoded and compiled as interpreted");
    }

    /** RAX, RBX, RCX, RSI, RDX, RDI, RSP and the four qwords below the start RSP, after the run in {@code setting}. */
    private static List<Long> stackRunAt(String setting, long offset) {
        long top = DATA + 0x2000 + offset;
        return ExecutionTest.with(setting, () -> {
            try (EmuVm vm = new EmuVm(HexFormat.of().parseHex("48895424f8" + "50535956" + "5a5f" + "f4"))) {
                vm.vcpu.setRegisters(vm.vcpu.registers().withGpr(4, top).withGpr(0, 0xA0).withGpr(3, 0xB0).withGpr(6, 0xC0));
                assertInstanceOf(VcpuExit.Hlt.class, vm.vcpu.run(), setting);
                Registers end = vm.vcpu.registers();
                List<Long> seen = new ArrayList<>(List.of(end.rax(), end.rbx(), end.rcx(), end.gpr(6), end.rdx(), end.gpr(7),
                        end.rsp()));
                for (int q = 1; q <= 4; q++) {
                    seen.add(vm.memory.readLong(top - 8L * q));
                }
                return seen;
            }
        });
    }

    /**
     * 1: mov rax, [rsi]; add rdx, rax; dec rcx; cmp rcx, 3; cmove rsi, rdi; jmp 1b: a loop whose first instruction is a
     * load, so the CMP's flags at its back edge are seen only if that load faults, as the eighth round's does (RSI has
     * become RDI's address with no page). Compiled, the back edge leaves the CMP's record pending in locals, and the
     * handler must put it in the core: the frame's RFLAGS is the CMP's (ZF and PF set), as interpreted.
     */
    private static final String LOOP_WITH_A_LOAD_FIRST = "488b06" + "4801c2" + "48ffc9" + "4883f903" + "480f44f7" + "ebed";
    /** The same with ror r9, 1 before the JMP: the frame's RFLAGS is the CMP's but for CF and OF, the ROR's. */
    private static final String LOOP_WITH_A_ROTATE_LAST = "488b06" + "4801c2" + "48ffc9" + "4883f903" + "480f44f7" + "49d1c9"
            + "ebea";

    /** Every GPR, the handler's RIP, the frame's RIP and RFLAGS, CR2, in {@code setting}. */
    private static List<Long> loopHeadFault(String setting, String guest) {
        return pageFaultIn(setting, guest, vm -> {
            vm.memory.writeLong(DATA, 0x0101_0101_0101_0101L);
            vm.vcpu.setRegisters(vm.vcpu.registers().withGpr(1, 10).withGpr(2, 0).withGpr(6, DATA)
                    .withGpr(7, NO_PAGE).withGpr(9, 0x1234_5678_9ABC_DEF1L).withRflags(0x202));
        });
    }

    /** Every GPR, the handler's RIP, the frame's RIP and RFLAGS, CR2 after {@code guest}, set up so, ran to a #PF. */
    private static List<Long> pageFaultIn(String setting, String guest, java.util.function.Consumer<EmuVm> setUp) {
        return ExecutionTest.with(setting, () -> {
            try (EmuVm vm = new EmuVm(HexFormat.of().parseHex(guest))) {
                haltOn(vm, 14);
                setUp.accept(vm);
                assertInstanceOf(VcpuExit.Hlt.class, vm.vcpu.run(), setting);
                Registers end = vm.vcpu.registers();
                List<Long> seen = gprsAndRip(end);
                seen.add(vm.memory.readLong(end.rsp() + 8)); // RIP of the faulting load
                seen.add(vm.memory.readLong(end.rsp() + 24)); // RFLAGS at it
                seen.add(vm.vcpu.specialRegisters().cr2());
                return seen;
            }
        });
    }

    @Test
    void aLoopsFirstLoadFaultingSeesTheFlagsOfTheRoundBefore() {
        List<Long> interpreted = loopHeadFault("interpreter", LOOP_WITH_A_LOAD_FIRST);
        assertEquals(EmuVm.CODE, interpreted.get(17), "the saved RIP is the loop's load");
        assertEquals(0x44, interpreted.get(18) & 0x8C5, "the CMP's flags (3 - 3): ZF and PF of CF, PF, ZF, SF and OF");
        assertEquals(7 * 0x0101_0101_0101_0101L, interpreted.get(2), "seven rounds added");
        assertEquals(List.of(interpreted, interpreted), List.of(loopHeadFault("blocks", LOOP_WITH_A_LOAD_FIRST),
                loopHeadFault("compiled", LOOP_WITH_A_LOAD_FIRST)), "decoded and compiled as interpreted");
    }

    @Test
    void aLoopsFirstLoadFaultingSeesTheRotateOverTheFlagsOfTheRoundBefore() {
        List<Long> interpreted = loopHeadFault("interpreter", LOOP_WITH_A_ROTATE_LAST);
        assertEquals(EmuVm.CODE, interpreted.get(17), "the saved RIP is the loop's load");
        long r9 = Long.rotateRight(0x1234_5678_9ABC_DEF1L, 7); // seven rounds' RORs by one, the last one's result
        long cf = r9 >>> 63, of = (r9 >>> 63) ^ (r9 >>> 62 & 1);
        assertEquals(r9, interpreted.get(9), "seven rounds rotated R9");
        assertEquals(0x44 | cf | of << 11, interpreted.get(18) & 0x8C5, "the CMP's ZF and PF, the ROR's CF and OF");
        assertEquals(List.of(interpreted, interpreted), List.of(loopHeadFault("blocks", LOOP_WITH_A_ROTATE_LAST),
                loopHeadFault("compiled", LOOP_WITH_A_ROTATE_LAST)), "decoded and compiled as interpreted");
    }

    /**
     * 1: mov rax, [rsi]; add rdx, rax; mov rsi, rax; {@code body}; jne 1b: a loop walking a list whose fourth pointer
     * has no page, so that the fourth round's first load faults with the flags the third round's body left pending.
     * Compiled, a CMP of a register with an immediate or another register, or a TEST of a register with itself, crosses
     * the back edge as its shape's number, and the handler makes the record again from RCX's (and RBX's) locals; a CMP
     * of RAX, which the loop's load writes first, and the records of DEC, SUB, ADD and AND cross in the pending locals.
     */
    private static String listLoop(String body) {
        int before = 9 + body.length() / 2 + 2; // the JNE back to the load
        return "488b06" + "4801c2" + "4889c6" + body + "75" + HexFormat.of().toHexDigits((byte) -before) + "f4";
    }

    /**
     * 1: mov rax, [rsi]; mov r8, [rax]; add rdx, rax; mov rsi, rax; dec rcx; cmp rax, 30; jne 1b: the third round's
     * second load faults after its first wrote RAX, the register of the second round's CMP, whose record must cross
     * the back edge in the pending locals: the frame's RFLAGS is that of the list's second pointer less 30.
     */
    private static final String LIST_LOOP_WRITING_FIRST = "488b06" + "4c8b00" + "4801c2" + "4889c6" + "48ffc9" + "4883f81e"
            + "75eb" + "f4";

    /** Every GPR, the handler's RIP, the frame's RIP and RFLAGS, CR2, after list loop {@code guest} ran. */
    private static List<Long> listLoopFault(String setting, String guest) {
        return pageFaultIn(setting, guest, vm -> {
            vm.memory.writeLong(DATA, DATA + 64);
            vm.memory.writeLong(DATA + 64, DATA + 128);
            vm.memory.writeLong(DATA + 128, NO_PAGE);
            // RDX so that the third round's ADD carries (and DEC keeps CF set)
            vm.vcpu.setRegisters(vm.vcpu.registers().withGpr(1, 20).withGpr(3, 30).withGpr(2, 0xFFFF_A000_0000_0000L)
                    .withGpr(6, DATA).withRflags(0x202));
        });
    }

    @ParameterizedTest
    @CsvSource({
            "48ffc9 4883f91e, 149, 17", // dec rcx; cmp rcx, 30: 17 - 30 sets CF, PF, AF and SF
            "48ffc9 4839d9, 149, 17",   // dec rcx; cmp rcx, rbx (30): the same
            "48ffc9 4885c9, 4, 17",     // dec rcx; test rcx, rcx: 17, PF alone
            "48ffc9 4883f81e, -1, 17",  // dec rcx; cmp rax, 30: RAX, which the load writes first, crosses in the locals
            "48ffc9, 5, 17",            // dec rcx: 18 - 1, PF, and CF kept: the ADD's carry
            "4883e901, 4, 17",          // sub rcx, 1: PF alone
            "4883c1ff, 21, 17",         // add rcx, -1: CF, PF and AF
            "4821c9, 4, 20"})           // and rcx, rcx: 20, PF alone
    void aListLoopsFirstLoadFaultingSeesTheFlagsOfTheRoundBeforeInEachSetting(String body, long flags, long rcx) {
        String guest = listLoop(body.replace(" ", ""));
        List<Long> interpreted = listLoopFault("interpreter", guest);
        assertEquals(EmuVm.CODE, interpreted.get(17), "the saved RIP is the loop's load");
        assertEquals(NO_PAGE, interpreted.get(19), "CR2");
        assertEquals(rcx, interpreted.get(1), "RCX after three rounds");
        if (flags >= 0) {
            assertEquals(flags, interpreted.get(18) & 0x8D5, "the body's CF, PF, AF, ZF, SF and OF");
        }
        assertEquals(List.of(interpreted, interpreted), List.of(listLoopFault("blocks", guest),
                listLoopFault("compiled", guest)), "decoded and compiled as interpreted");
    }

    @Test
    void aFaultAfterTheLoopHeadWroteTheComparedRegisterSeesTheCompareOfItsValueBefore() {
        List<Long> interpreted = listLoopFault("interpreter", LIST_LOOP_WRITING_FIRST);
        assertEquals(EmuVm.CODE + 3, interpreted.get(17), "the saved RIP is the loop's second load");
        assertEquals(NO_PAGE, interpreted.get(0), "RAX, written by the first");
        assertEquals(0x10, interpreted.get(18) & 0x8D5, "0x300080 - 30 = 0x300062: AF alone (PF clear: three bits)");
        assertEquals(List.of(interpreted, interpreted), List.of(listLoopFault("blocks", LIST_LOOP_WRITING_FIRST),
                listLoopFault("compiled", LIST_LOOP_WRITING_FIRST)), "decoded and compiled as interpreted");
    }

    /**
     * 1: mov rax, [rsi]; add rdx, rax; mov rsi, rax; cmp rcx, 30; lea rcx, [rcx - 1]; jne 1b: RCX is written between
     * the CMP and its back edge, so its record crosses in the pending locals: the fourth round's load sees 18 - 30.
     */
    @Test
    void aCompareWhoseRegisterChangesBeforeTheBackEdgeIsSeenWithItsValueThen() {
        String guest = "488b06" + "4801c2" + "4889c6" + "4883f91e" + "488d49ff" + "75ed" + "f4";
        List<Long> interpreted = listLoopFault("interpreter", guest);
        assertEquals(EmuVm.CODE, interpreted.get(17), "the saved RIP is the loop's load");
        assertEquals(17, interpreted.get(1), "three rounds decremented RCX");
        assertEquals(0x91, interpreted.get(18) & 0x8D5, "18 - 30: CF, AF and SF (PF clear: 0xF4)");
        assertEquals(List.of(interpreted, interpreted), List.of(listLoopFault("blocks", guest),
                listLoopFault("compiled", guest)), "decoded and compiled as interpreted");
    }
}

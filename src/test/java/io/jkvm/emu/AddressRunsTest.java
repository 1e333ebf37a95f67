package io.jkvm.emu;

import io.jkvm.machine.LongModeBoot;
import io.jkvm.testing.EmuVm;
import io.jkvm.testing.Idt;
import io.jkvm.x86.Registers;
import io.jkvm.x86.VcpuExit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;

/**
 * Loads and stores of one memory operand sharing one look-up in compiled blocks ({@link AddressRuns}): what they leave
 * is what the interpreter leaves, when the look-up finds the page, when the page may not be written, and when the
 * store reaches code the block itself runs.
 */
class AddressRunsTest {
    private static final long DATA = 0x300000, COUNTER = 0x301000, READ_ONLY = 0x600000, HANDLER = EmuVm.CODE + 0x800,
            IDT = 0x104000;

    /**
     * 64 rounds of runs (llvm-mc): a limb multiplied and stored back (8 bytes, [rdi+rcx*8]); a byte added to and
     * compared ([rdi+rcx+256]); a word XORed and tested ([rdi+rcx*2+512]); a dword rotated, stored, overwritten with
     * an immediate and compared with the register ([rdi+rcx*4+1024]); a counter at [r8] added to. Then HLT.
     */
    private static final String ROUNDS = "488b04cf49f7e24c01c84883d200488904cf4989d18a9c0f0001000080c303889c0f0001000080bc0f"
            + "0001000040668b944f000200006681f25a5a6689944f0002000066f7844f0002000001008bb48f00040000c1c60589b48f0004"
            + "0000c7848f00040000070000003bb48f000400004d8b184901cb4d8918ffc183f9407580f4";

    @Test
    void runsOfEachSizeLeaveRegistersAndMemoryAsInterpreted() {
        List<Long> interpreted = rounds("interpreter");
        assertEquals(64L, interpreted.get(1), "RCX: every round ran");
        assertEquals(64L * 63 / 2 + 5, interpreted.get(interpreted.size() - 1), "the counter: 5 and each round's RCX");
        assertEquals(List.of(interpreted, interpreted), List.of(rounds("blocks"), rounds("compiled")),
                "decoded and compiled as interpreted");
    }

    /** Every GPR, RFLAGS and the data the rounds reach, after them in {@code setting}. */
    private static List<Long> rounds(String setting) {
        return ExecutionTest.with(setting, () -> {
            try (EmuVm vm = new EmuVm(HexFormat.of().parseHex(ROUNDS))) {
                for (int q = 0; q < 256; q++) {
                    vm.memory.writeLong(DATA + 8L * q, 0x9E37_79B9_7F4A_7C15L * (q + 1) ^ Long.rotateLeft(q, 29));
                }
                vm.memory.writeLong(COUNTER, 5);
                vm.vcpu.setRegisters(vm.vcpu.registers().withGpr(7, DATA).withGpr(8, COUNTER).withGpr(1, 0).withGpr(9, 0)
                        .withGpr(10, 0xD6E8_FEB8_6659_FD93L).withRflags(0x202));
                assertInstanceOf(VcpuExit.Hlt.class, vm.vcpu.run(), setting);
                Registers end = vm.vcpu.registers();
                List<Long> seen = new ArrayList<>();
                for (int g = 0; g < 16; g++) {
                    seen.add(end.gpr(g));
                }
                seen.add(end.rflags());
                for (int q = 0; q < 256; q++) {
                    seen.add(vm.memory.readLong(DATA + 8L * q));
                }
                seen.add(vm.memory.readLong(COUNTER));
                return seen;
            }
        });
    }

    /**
     * mov [rdi], rax (RBX's page a direct write page from then on), then six rounds (llvm-mc) of one run through RBX at
     * displacements 1 to 42 and sizes 1 to 8 (loads, a CMP, stores of registers and an immediate), RBX 56 bytes on
     * each round from 0xF0 below the 2 MiB page at 0x600000, which maps the RAM at 0xA00000: the fifth round's span
     * crosses into it (its look-up misses and each access looks itself up), the others lie in one page (each access
     * at its offset in the one look-up's page). A look-up of less than the span would reach past the first page's end
     * in host memory, the RAM at 0x600000. The same with read-modify-writes in the run (ADD, INC, SHL, NEG, SUB, NOT of
     * memory, between a load and a CMP), whose read and store take the run's look-up.
     */
    @ParameterizedTest
    @ValueSource(strings = {"488907488b43088b53104801d048894318c6430107837b1005668b4b2066894b284883c338ffce75daf4",
        "48890748014b08ff4310488b430848c1631803f65b024829432066f75328837b10074883c338ffce75d9f4"})
    void aRunsFieldsAtSeveralDisplacementsLeaveWhatTheInterpreterDoes(String guest) {
        long below = 0x5FF000, above = 0x600000, elsewhere = 0xA00000;
        List<List<Long>> seen = new ArrayList<>();
        for (String setting : List.of("interpreter", "blocks", "compiled")) {
            seen.add(ExecutionTest.with(setting, () -> {
                try (EmuVm vm = new EmuVm(HexFormat.of().parseHex(guest))) {
                    long entry = LongModeBoot.PAGE_DIRECTORIES + (above >>> 21) * 8;
                    vm.memory.writeLong(entry, vm.memory.readLong(entry) - above + elsewhere);
                    for (long page : new long[] {below, above, elsewhere}) {
                        for (int q = 0; q < 512; q++) {
                            vm.memory.writeLong(page + 8L * q,
                                    0x0101_0101_0101_0101L * (q % 251) ^ page << 8 ^ (long) q << 40);
                        }
                    }
                    vm.vcpu.setRegisters(vm.vcpu.registers().withGpr(7, below).withGpr(3, above - 0xF0).withGpr(6, 6)
                            .withGpr(1, 0x0123_4567_89AB_CDEFL));
                    assertInstanceOf(VcpuExit.Hlt.class, vm.vcpu.run(), setting);
                    Registers end = vm.vcpu.registers();
                    List<Long> state = new ArrayList<>(List.of(end.rax(), end.rbx(), end.rcx(), end.rdx(), end.rflags()));
                    for (long page : new long[] {below, above, elsewhere}) {
                        for (int q = 0; q < 512; q++) {
                            state.add(vm.memory.readLong(page + 8L * q));
                        }
                    }
                    return state;
                }
            }));
        }
        assertEquals(0x600000L - 0xF0 + 6 * 56, seen.get(0).get(1), "RBX after six rounds");
        assertEquals(List.of(seen.get(0), seen.get(0)), seen.subList(1, 3), "decoded and compiled as interpreted");
    }

    /**
     * A function's frame (llvm-mc), eight rounds: push rbx; push rbp; sub rsp, 24; stores, loads and an ADD through
     * RSP; pop rcx; add rsp, 8; a load at [rsp-8]; pop rbp; add [rsp+8], rdx; pop rbx. One run through RSP from the
     * first store to the ADD to memory, with the pops and RSP's moves between it and its later accesses: each access
     * at its slot's place from RSP at the run's start (a round leaves RSP 8 bytes lower). RSP 16 bytes above a page end
     * (the first round's span across it) or in a page.
     */
    @ParameterizedTest
    @ValueSource(longs = {0x800, 0x1010})
    void aFramesSlotsAcrossPushesPopsAndRspMovesLeaveWhatTheInterpreterDoes(long top) {
        String guest = "48894424c053554883ec1848897c24104889742408488b442428480344241048890424594883c408488b5424f85d48"
                + "015424085b4883c70341ffc875c8f4";
        List<List<Long>> seen = new ArrayList<>();
        for (String setting : List.of("interpreter", "blocks", "compiled")) {
            seen.add(ExecutionTest.with(setting, () -> {
                try (EmuVm vm = new EmuVm(HexFormat.of().parseHex(guest))) {
                    vm.memory.writeLong(DATA + top, 0x5000);
                    vm.vcpu.setRegisters(vm.vcpu.registers().withGpr(4, DATA + top).withGpr(3, 0x100).withGpr(6, 0x20)
                            .withGpr(7, 0x7).withGpr(8, 8));
                    assertInstanceOf(VcpuExit.Hlt.class, vm.vcpu.run(), setting);
                    Registers end = vm.vcpu.registers();
                    List<Long> state = new ArrayList<>();
                    for (int g = 0; g < 16; g++) {
                        state.add(end.gpr(g));
                    }
                    for (int q = -8; q <= 1; q++) {
                        state.add(vm.memory.readLong(DATA + top + 8L * q));
                    }
                    return state;
                }
            }));
        }
        assertEquals(List.of(0x20L, DATA + top - 8 * 8, 0x7L + 8 * 3), List.of(seen.get(0).get(2), seen.get(0).get(4),
                seen.get(0).get(7)), "RDX (RSI, from its slot), RSP (8 bytes lower each round), RDI");
        assertEquals(List.of(seen.get(0), seen.get(0)), seen.subList(1, 3), "decoded and compiled as interpreted");
    }

    /**
     * mov [rsi+0x100], rcx (the page a direct write page from then on); mov rax, [rsi]; add rsi, 8; mov [rsi], rax;
     * mov rdx, [rsi], then mov rsi, [rsi]; mov [rsi], rdx: the operand's
     * register changes between accesses of the same form (by an ADD, by the load itself), so they are no run; a look-up
     * shared across the change would store to, and load from, the first address.
     */
    @Test
    void accessesAcrossAChangeOfTheOperandsRegisterGoWhereItPointsThen() {
        String guest = "48898e00010000" + "488b06" + "4883c608" + "488906" + "488b16" + "488b36" + "488916" + "f4";
        for (String setting : List.of("interpreter", "blocks", "compiled")) {
            List<Long> seen = ExecutionTest.with(setting, () -> {
                try (EmuVm vm = new EmuVm(HexFormat.of().parseHex(guest))) {
                    vm.memory.writeLong(DATA, 0xAAAA);
                    vm.vcpu.setRegisters(vm.vcpu.registers().withGpr(6, DATA));
                    assertInstanceOf(VcpuExit.Hlt.class, vm.vcpu.run(), setting);
                    Registers end = vm.vcpu.registers();
                    return List.of(vm.memory.readLong(DATA), vm.memory.readLong(DATA + 8), end.rdx(), end.gpr(6),
                            vm.memory.readLong(0xAAAA));
                }
            });
            assertEquals(List.of(0xAAAAL, 0xAAAAL, 0xAAAAL, 0xAAAAL, 0xAAAAL), seen,
                    setting + ": [DATA], [DATA+8], RDX, RSI (loaded from DATA+8), the qword at 0xAAAA");
        }
    }

    /**
     * mov rdx, [rsi+8] (the page a direct read page from then on); mov rax, [rsi]; add rax, rbx; mov [rsi], rax on a
     * page the guest may read but not write (CR0.WP): the run's look-up, in the direct write entries, finds nothing,
     * the load reads, and the store faults with RAX added, as interpreted. A look-up of the read entries for the run
     * would let the store through.
     */
    @Test
    void aRunsStoreToAPageNotWritableFaultsAtItAfterItsLoad() {
        List<Long> interpreted = storeToReadOnly("interpreter");
        assertEquals(List.of(EmuVm.CODE + 10, 3L, READ_ONLY, 0x1234L + 0x10, 0x1234L), interpreted.subList(0, 5),
                "the frame's RIP (the store), the error code (present, write), CR2, RAX, the page's qword");
        assertEquals(List.of(interpreted, interpreted), List.of(storeToReadOnly("blocks"), storeToReadOnly("compiled")),
                "decoded and compiled as interpreted");
    }

    private static List<Long> storeToReadOnly(String setting) {
        return ExecutionTest.with(setting, () -> {
            try (EmuVm vm = new EmuVm(HexFormat.of().parseHex("488b5608" + "488b06" + "4801d8" + "488906" + "f4"))) {
                long entry = LongModeBoot.PAGE_DIRECTORIES + (READ_ONLY >>> 21) * 8;
                vm.memory.writeLong(entry, vm.memory.readLong(entry) & ~2L); // the 2 MiB page: not writable
                vm.memory.writeLong(READ_ONLY, 0x1234);
                vm.memory.write(HANDLER, new byte[]{(byte) 0xF4}, 0, 1);
                Idt.writeGate(vm.memory, IDT, 14, HANDLER);
                Idt.load(vm.vcpu, IDT, 32 * 16 - 1);
                vm.vcpu.setRegisters(vm.vcpu.registers().withGpr(6, READ_ONLY).withGpr(3, 0x10));
                assertInstanceOf(VcpuExit.Hlt.class, vm.vcpu.run(), setting);
                Registers end = vm.vcpu.registers();
                return List.of(vm.memory.readLong(end.rsp() + 8), vm.memory.readLong(end.rsp()),
                        vm.vcpu.specialRegisters().cr2(), end.rax(), vm.memory.readLong(READ_ONLY), end.rdx(), end.rip());
            }
        });
    }

    /**
     * lea rbx, [rip + 10]; mov dl, [rbx+1] (the page a direct read page); mov al, [rbx]; add al, 1; mov [rbx], al;
     * mov ecx, 5; hlt: the run's store writes the immediate of the MOV after it, in the block being run. The page
     * holds decoded code, so it has no direct write entry: the store takes its full path, drops the block and the MOV
     * runs as changed (ECX 6). A look-up of the read entries for the run would store past the code's drop.
     */
    @Test
    void aRunsStoreIntoTheBlockItselfRunsTheChangedCode() {
        String guest = "488d1d0a000000" + "8a5301" + "8a03" + "0401" + "8803" + "b905000000" + "f4";
        for (String setting : List.of("interpreter", "blocks", "compiled")) {
            long ecx = ExecutionTest.with(setting, () -> {
                try (EmuVm vm = new EmuVm(HexFormat.of().parseHex(guest))) {
                    assertInstanceOf(VcpuExit.Hlt.class, vm.vcpu.run(), setting);
                    return vm.vcpu.registers().rcx();
                }
            });
            assertEquals(6L, ecx, setting);
        }
    }
}

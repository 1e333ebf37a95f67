package io.jkvm.emu;

import io.jkvm.testing.EmuVm;
import io.jkvm.x86.VcpuExit;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A compiled region's loads and stores through RSP or RBP take their host address from the stack page last found
 * direct ({@link StackPages}): an array in the frame walked across its page's end, accesses that cross it, a walk
 * into a page not present and stores into a page whose dirty bit is clear give the interpreter's results.
 */
class StackPagesTest {
    /**
     * mov esp, 0x201040; mov rbp, rsp; xor eax, eax; xor edx, edx; mov r8d, 0x1000; then 0x1000 rounds of: for ecx in
     * 0..63 { mov ebx, [rsp + rcx*4 - 0x80]; add ebx, ecx; add ebx, eax; mov [rsp + rcx*4 - 0x80], ebx; add word
     * [rbp + rcx*4 - 0x7e], dx; mov esi, [rbp + rcx*4 - 0x80]; add eax, esi }; mov rdx, [rsp - 0x44]; add rax, rdx;
     * mov [rsp - 0x43], rax; then hlt. The array's 256 bytes from 0x200fc0 cross 0x201000; the quadwords at 0x200ffc
     * and 0x200ffd cross it too.
     */
    private static final String ARRAY = "bc40102000" + "4889e5" + "31c0" + "31d2" + "41b800100000" + "31c9"
            + "8b5c8c80" + "01cb" + "01c3" + "895c8c80" + "6601548d82" + "8b748d80" + "01f0" + "ffc1" + "83f940" + "75e2"
            + "488b5424bc" + "4801d0" + "48894424bd" + "41ffc8" + "75ce" + "f4";
    private static final long ARRAY_START = 0x200fc0;

    @Test
    void anArrayInTheFrameWalkedAcrossItsPagesEndGetsTheInterpretersResults() {
        byte[] code = HexFormat.of().parseHex(ARRAY);
        List<Long> interpreter = CompiledGuests.runToHltInEachSetting(code, vm -> {
            List<Long> array = new ArrayList<>();
            for (long at = ARRAY_START; at < ARRAY_START + 0x100; at += 8) {
                array.add(vm.memory.readLong(at));
            }
            return array;
        });
        assertNotEquals(0L, interpreter.get(0), "the array's first quadword");
        ExecutionTest.with("blocks", () -> {
            try (EmuVm vm = new EmuVm(code)) {
                assertInstanceOf(VcpuExit.Hlt.class, vm.vcpu.run());
                CoreStats stats = vm.vcpu.coreStats();
                assertTrue(stats.inCompiledRegions() * 2 > stats.instructions(), "the loop ran compiled");
            }
            return null;
        });
    }

    /** mov eax, [rsp + rcx*4 + 8] goes through the stack pages; mov eax, [rsi + rcx*4 + 8] through the core's read. */
    @Test
    void anAccessThroughRspTakesTheStackPagesAndAnotherTheCoresRead() {
        List<String> stack = CompiledGuests.readsAndCalls(CompiledGuests.decode("8b448c08"));
        assertTrue(stack.contains("io/jkvm/emu/Core.compiledReadAddress()"), stack.toString());
        assertTrue(stack.contains("io/jkvm/emu/Core.readAt32()"), stack.toString());
        assertFalse(stack.contains("io/jkvm/emu/Core.read32()"), stack.toString());
        List<String> other = CompiledGuests.readsAndCalls(CompiledGuests.decode("8b448e08"));
        assertTrue(other.contains("io/jkvm/emu/Core.read32()"), other.toString());
        assertFalse(other.contains("io/jkvm/emu/Core.compiledReadAddress()"), other.toString());
    }

    /**
     * mov esp, VIRT + 0xf04; xor ecx, ecx; xor ebx, ebx; walk: mov rax, [rsp + rcx*8]; add rbx, rax; inc ecx; jmp
     * walk. Page 1 from VIRT is not present: the quadword at VIRT + 0xffc, which crosses into it, is the walk's #PF.
     */
    @Test
    void aWalkIntoAPageNotPresentFaultsWhereTheInterpretersDoes() {
        byte[] code = HexFormat.of().parseHex("bc040f0040" + "31c9" + "31db" + "488b04cc" + "4801c3" + "ffc1" + "ebf5");
        CompiledGuests.Fault interpreter = fault("interpreter", code);
        assertEquals(14, interpreter.vector(), "#PF");
        assertEquals(FourKilobytePages.VIRT + 0x1000, interpreter.cr2(), "the first byte past the present page");
        assertEquals(interpreter, fault("compiled", code));
        assertEquals(interpreter, fault("blocks", code));
    }

    private static CompiledGuests.Fault fault(String setting, byte[] code) {
        return CompiledGuests.fault(setting, code, vm -> FourKilobytePages.map(vm, 0x300000), vm -> List.of());
    }

    /**
     * mov esp, VIRT + 0x800; mov ecx, 0x100; fill: mov [rsp + rcx*8 - 8], rcx; add [rsp + rcx*8 - 8], rcx; dec ecx;
     * jnz fill; mov rax, [rsp]; mov rdx, [rsp + 0x7f8]; hlt, into a page whose PTE has neither A nor D: the first
     * store sets D on the full path, the page is then direct for stores.
     */
    @Test
    void storesIntoAPageWhoseDirtyBitIsClearSetItAndLand() {
        byte[] code = HexFormat.of().parseHex("bc00080040" + "b900010000" + "48894cccf8" + "48014cccf8" + "ffc9" + "75f2"
                + "488b0424" + "488b9424f8070000" + "f4");
        List<Long> interpreter = filled("interpreter", code);
        assertEquals(List.of(0x300000L | 0x63, 2L, 0x200L), interpreter, "PTE present, writable, accessed and dirty; RAX; RDX");
        assertEquals(interpreter, filled("compiled", code));
        assertEquals(interpreter, filled("blocks", code));
    }

    /** Page 0 from VIRT's PTE after the guest, and RAX and RDX. */
    private static List<Long> filled(String setting, byte[] code) {
        return ExecutionTest.with(setting, () -> {
            try (EmuVm vm = new EmuVm(code)) {
                FourKilobytePages.map(vm, 0x300000);
                assertInstanceOf(VcpuExit.Hlt.class, vm.vcpu.run(), setting);
                return List.of(vm.memory.readLong(FourKilobytePages.pte(0)), vm.vcpu.registers().rax(),
                        vm.vcpu.registers().rdx());
            }
        });
    }
}

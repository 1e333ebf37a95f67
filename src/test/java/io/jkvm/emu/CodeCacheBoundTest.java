package io.jkvm.emu;

import io.jkvm.testing.EmuVm;
import io.jkvm.x86.VcpuExit;
import org.junit.jupiter.api.Test;

import static io.jkvm.emu.ExceptionsTest.hex;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The decoded-block cache stays within its bound however many pages a guest runs code in, and stays exact. */
class CodeCacheBoundTest {
    @Test
    void aGuestCallingIntoThousandsOfPagesKeepsTheCacheBoundedAndRunsRight() {
        int pages = 3 * CodeCache.MAX_PAGES;
        // ebx = 0x200000; ecx = pages; loop: call rbx; add rbx, 0x1000; dec ecx; jnz loop; hlt
        String count = String.format("%02x %02x %02x %02x", pages & 0xFF, pages >>> 8 & 0xFF, pages >>> 16 & 0xFF,
                pages >>> 24);
        long memory = 0x200000 + 0x1000L * pages + (1 << 20);
        byte[] code = hex("bb 00 00 20 00 b9 " + count + " ff d3 48 81 c3 00 10 00 00 ff c9 75 f3 f4");
        try (EmuVm vm = new EmuVm("max", code, memory)) {
            for (int i = 0; i < pages; i++) {
                // inc r15; ret: each page's code counts itself, so a stale or lost block would show in R15
                vm.memory.write(0x200000 + 0x1000L * i, hex("49 ff c7 c3"), 0, 4);
            }
            assertInstanceOf(VcpuExit.Hlt.class, vm.vcpu.run());
            assertEquals(pages, vm.vcpu.registers().gpr(15), "every page's code ran once");
            assertTrue(vm.vcpu.decodedPages() <= CodeCache.MAX_PAGES, "pages cached: " + vm.vcpu.decodedPages());
            if (Execution.fromProperty() != Execution.INTERPRETER) {
                assertTrue(vm.vcpu.decodedPages() > 0, "the blocks were decoded");
            } else {
                assertEquals(0, vm.vcpu.decodedPages(), "the interpreter alone decodes nothing");
            }
        }
    }

    /**
     * Code that stores keep dropping and the core keeps decoding again (as a kernel patching its text does all boot
     * long) counts once in the cache's bound, however often it is decoded: a loop stores over the first of a function's
     * 256 NOPs (and a MOV) 5000 times and calls it, and the store drops the block over it (64 instructions): 320,000
     * instructions decoded in all, more than the bound, and the cache is never emptied; what it holds stays within it.
     */
    @Test
    void codeDecodedAgainAfterStoresOverItCountsOnce() {
        int rounds = 5000;
        // ecx = rounds; r15 = 0; loop: mov byte [0x200000], 0x90; mov ebx, 0x200000; call rbx; add r15, rax; dec ecx; jnz loop; hlt
        byte[] code = hex("b9 88 13 00 00 45 31 ff c6 04 25 00 00 20 00 90 bb 00 00 20 00 ff d3 49 01 c7 ff c9 75 ea f4");
        try (EmuVm vm = new EmuVm("max", code, 0x400000)) {
            byte[] function = new byte[262];
            java.util.Arrays.fill(function, (byte) 0x90); // 256 NOPs (the store writes the first one again), then
            System.arraycopy(hex("b8 07 00 00 00 c3"), 0, function, 256, 6); // mov eax, 7; ret
            vm.memory.write(0x200000, function, 0, function.length);
            assertInstanceOf(VcpuExit.Hlt.class, vm.vcpu.run());
            assertEquals(7L * rounds, vm.vcpu.registers().gpr(15), "the function ran each round");
            EmulatedVcpu.DecodedCounts counts = vm.vcpu.decodedInstructions();
            assertEquals(0, counts.flushes(), "the cache was never emptied");
            assertTrue(counts.held() <= CodeCache.MAX_INSNS, "instructions held: " + counts.held());
            if (Execution.fromProperty() != Execution.INTERPRETER) {
                assertTrue(counts.decoded() > CodeCache.MAX_INSNS, "the function was decoded again each round: " + counts.decoded());
            }
        }
    }
}

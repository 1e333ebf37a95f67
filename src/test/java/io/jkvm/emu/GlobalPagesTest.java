package io.jkvm.emu;

import io.jkvm.testing.EmuVm;
import io.jkvm.x86.ControlBits;
import io.jkvm.x86.RamLayout;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Global pages: with CR4.PGE, a translation whose leaf has G outlives a CR3 write, as the SDM's TLB keeps it (a
 * kernel's own pages are not walked again after each switch of address space); INVLPG of the page, a CR4 write, and
 * INVPCID of every context with globals drop it; without PGE, or without G, a CR3 write does. Two address spaces map
 * one linear page to two frames, so which translation the core used shows in the frame. The block executor keeps the
 * blocks it finds by linear RIP on a page the TLB holds as global under a salt of the global pages' own
 * ({@code BlockExecution.codeSalt}), so they too are found again after a CR3 write.
 */
class GlobalPagesTest {
    private static final long LINEAR = 0x40_0000, A = 0x10000, B = 0x20000, FRAME_A = 0x50000, FRAME_B = 0x60000;

    /** Four levels at {@code root}: PML4, PDPT, PD, PT (consecutive pages), mapping LINEAR to {@code frame}. */
    private static void map(EmuVm vm, long root, long frame, long leafBits) {
        vm.memory.writeLong(root, (root + 0x1000) | 3);
        vm.memory.writeLong(root + 0x1000, (root + 0x2000) | 3);
        vm.memory.writeLong(root + 0x2000 + 8 * 2, (root + 0x3000) | 3); // the PD's entry for 4-6 MiB
        vm.memory.writeLong(root + 0x3000, frame | 3 | leafBits);
    }

    private static Core core(EmuVm vm, long cr4, long leafBitsOfA) {
        map(vm, A, FRAME_A, leafBitsOfA);
        map(vm, B, FRAME_B, 0);
        Core c = new Core(vm.memory.mapping(), RamLayout.flat(vm.memory.size()), vm.model.cpuid(), vm.model.mxcsrMask(), null);
        c.cr0 = ControlBits.CR0_PE | ControlBits.CR0_PG;
        c.cr4 = ControlBits.CR4_PAE | cr4;
        c.efer = ControlBits.EFER_LME | ControlBits.EFER_LMA;
        c.cr3 = A;
        c.flushTlbWithGlobals();
        return c;
    }

    /** MOV CR3 as the core makes it. */
    private static void switchTo(Core c, long root) {
        c.cr3 = root;
        c.flushTlb();
    }

    @Test
    void aGlobalTranslationOutlivesCr3Writes() {
        try (EmuVm vm = new EmuVm(new byte[] {(byte) 0xF4})) {
            Core c = core(vm, ControlBits.CR4_PGE, ControlBits.PTE_GLOBAL);
            assertEquals(FRAME_A + 8, c.translate(LINEAR + 8, Paging.ACC_READ));
            switchTo(c, B);
            assertEquals(FRAME_A + 8, c.translate(LINEAR + 8, Paging.ACC_READ), "kept across the CR3 write");
            assertEquals(true, c.globalTranslation(LINEAR), "blocks at RIPs there are kept by their linear address too");
            c.invlpg(LINEAR);
            assertEquals(false, c.globalTranslation(LINEAR));
            assertEquals(FRAME_B + 8, c.translate(LINEAR + 8, Paging.ACC_READ), "INVLPG drops a global page too");

            switchTo(c, A);
            assertEquals(FRAME_A, c.translate(LINEAR, Paging.ACC_READ));
            c.flushTlbWithGlobals(); // MOV CR4, INVPCID type 2
            switchTo(c, B);
            assertEquals(FRAME_B, c.translate(LINEAR, Paging.ACC_READ), "a flush with globals drops it");
        }
    }

    @Test
    void withoutPgeOrGACr3WriteDropsTheTranslation() {
        try (EmuVm vm = new EmuVm(new byte[] {(byte) 0xF4})) {
            Core c = core(vm, 0, ControlBits.PTE_GLOBAL);
            assertEquals(FRAME_A, c.translate(LINEAR, Paging.ACC_READ));
            switchTo(c, B);
            assertEquals(FRAME_B, c.translate(LINEAR, Paging.ACC_READ), "G without CR4.PGE is ignored");
        }
        try (EmuVm vm = new EmuVm(new byte[] {(byte) 0xF4})) {
            Core c = core(vm, ControlBits.CR4_PGE, 0);
            assertEquals(FRAME_A, c.translate(LINEAR, Paging.ACC_READ));
            switchTo(c, B);
            assertEquals(FRAME_B, c.translate(LINEAR, Paging.ACC_READ), "a page without G goes with its address space");
            assertEquals(false, c.globalTranslation(LINEAR));
        }
    }
}

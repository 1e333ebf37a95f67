package io.jkvm.emu;

import io.jkvm.testing.EmuVm;
import io.jkvm.x86.SpecialRegisters;

/**
 * Page tables for an {@link EmuVm} guest: the first GiB identity-mapped as one page (its code, these tables, the
 * exception handlers) and 4 KiB pages from {@link #VIRT} on, each to a frame of the test's choosing.
 */
final class FourKilobytePages {
    /** Where the 4 KiB pages begin: the second GiB. */
    static final long VIRT = 0x4000_0000L;
    private static final long PML4 = 0x200000, PDPT = 0x201000, PD = 0x202000, PT = 0x203000;

    private FourKilobytePages() {
    }

    /** Maps page i from VIRT on to {@code frames[i]} (the rest not present) and loads CR3 with the tables. */
    static void map(EmuVm vm, long... frames) {
        vm.memory.writeLong(PML4, PDPT | 3);
        vm.memory.writeLong(PDPT, 0x83);
        vm.memory.writeLong(PDPT + 8, PD | 3);
        vm.memory.writeLong(PD, PT | 3);
        for (int i = 0; i < frames.length; i++) {
            mapPage(vm, i, frames[i]);
        }
        SpecialRegisters r = vm.vcpu.specialRegisters();
        vm.vcpu.setSpecialRegisters(new SpecialRegisters(r.cs(), r.ds(), r.es(), r.fs(), r.gs(), r.ss(), r.tr(),
                r.ldt(), r.gdt(), r.idt(), r.cr0(), r.cr2(), PML4, r.cr4(), r.cr8(), r.efer(), r.apicBase(),
                r.interruptBitmap()));
    }

    /** The address of page {@code i}'s PTE (identity-mapped: the guest may rewrite it). */
    static long pte(int i) {
        return PT + 8L * i;
    }

    /** Page {@code i} from VIRT on, present now, at {@code frame} (what a #PF handler would do). */
    static void mapPage(EmuVm vm, int i, long frame) {
        vm.memory.writeLong(PT + 8L * i, frame | 3);
    }
}

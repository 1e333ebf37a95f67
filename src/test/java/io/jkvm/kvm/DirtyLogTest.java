package io.jkvm.kvm;

import io.jkvm.machine.LongModeBoot;
import io.jkvm.testing.Asm;
import io.jkvm.testing.LongModeVm;
import io.jkvm.testing.RequiresKvm;
import io.jkvm.x86.VcpuExit;
import org.junit.jupiter.api.Test;

import java.util.stream.LongStream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Dirty page logging on the real /dev/kvm: a guest stores to three chosen pages and halts, touching no other
 * memory but what its page walks update (no stack, no segment loads, no interrupts).
 */
@RequiresKvm
class DirtyLogTest {
    /** The pages the guest writes: in three different 2 MiB pages, none holding code or boot tables. */
    private static final long[] WRITTEN = {0x200000, 0x345000, 0xABC000};
    private static final long ACCESSED = 1L << 5;
    private static final long DIRTY = 1L << 6;

    /** {@code mov rax, page; mov dword [rax], 0x600d0000 + i} for each written page, then HLT. */
    private static byte[] storesThenHlt() {
        Asm a = new Asm();
        for (int i = 0; i < WRITTEN.length; i++) {
            a.movImm64(0, WRITTEN[i]).raw("c7 00").immediate(0x600d0000L + i, 4);
        }
        return a.hlt().bytes();
    }

    private static void runToHlt(LongModeVm g) {
        g.vcpu.setRegisters(LongModeBoot.registers(LongModeVm.CODE, g.memory.size()));
        VcpuExit exit = g.vcpu.run();
        assertInstanceOf(VcpuExit.Hlt.class, exit, () -> "guest ended with " + exit);
        for (int i = 0; i < WRITTEN.length; i++) {
            assertEquals(0x600d0000 + i, g.memory.readInt(WRITTEN[i]), "the guest's store to 0x" + Long.toHexString(WRITTEN[i]));
        }
    }

    /**
     * Sets the accessed bit in every paging-structure entry of the boot tables and the dirty bit in every 2 MiB
     * leaf, as written by the host: the guest's walks then have nothing to update in its page tables.
     */
    private static void presetAccessedAndDirty(LongModeVm g) {
        g.memory.writeLong(LongModeBoot.PML4, g.memory.readLong(LongModeBoot.PML4) | ACCESSED);
        for (long e = 0; e < 4; e++) {
            long pdpte = LongModeBoot.PDPT + e * 8;
            g.memory.writeLong(pdpte, g.memory.readLong(pdpte) | ACCESSED);
            for (long d = 0; d < 512; d++) {
                long pde = LongModeBoot.PAGE_DIRECTORIES + e * 0x1000 + d * 8;
                g.memory.writeLong(pde, g.memory.readLong(pde) | ACCESSED | DIRTY);
            }
        }
    }

    private static long[] sorted(long... addresses) {
        return LongStream.of(addresses).sorted().distinct().toArray();
    }

    @Test
    void exactlyThePagesTheGuestStoredToAreDirty() {
        try (LongModeVm g = new LongModeVm(storesThenHlt())) {
            presetAccessedAndDirty(g);
            g.vm.setDirtyLogging(0, true);
            assertTrue(g.vm.dirtyLogging(0));
            assertTrue(g.vm.dirtyLog(0).isEmpty(), "host writes before and after logging was turned on are not logged");
            runToHlt(g);
            DirtyBitmap log = g.vm.dirtyLog(0);
            assertEquals(g.memory.size() / 4096, log.pages());
            assertArrayEquals(WRITTEN, log.dirtyAddresses(), log.toString());
            assertTrue(g.vm.dirtyLog(0).isEmpty(), "KVM_GET_DIRTY_LOG cleared the log it returned");
        }
    }

    /**
     * With the boot tables as the entry contract writes them (accessed and dirty bits clear), each walk sets the
     * accessed bit in the PML4, PDPT and page directory entries it uses and the dirty bit in the 2 MiB leaf it
     * writes through: KVM logs those three table pages as the guest's writes too.
     */
    @Test
    void pageWalksDirtyThePageTablesTheySetAccessedAndDirtyBitsIn() {
        try (LongModeVm g = new LongModeVm(storesThenHlt())) {
            g.vm.setDirtyLogging(0, true);
            runToHlt(g);
            DirtyBitmap log = g.vm.dirtyLog(0);
            long[] expected = sorted(LongStream.concat(LongStream.of(WRITTEN),
                    LongStream.of(LongModeBoot.PML4, LongModeBoot.PDPT, LongModeBoot.PAGE_DIRECTORIES)).toArray());
            assertArrayEquals(expected, log.dirtyAddresses(), log.toString());
            long pde = LongModeBoot.PAGE_DIRECTORIES + (WRITTEN[0] >>> 21) * 8;
            assertEquals(ACCESSED | DIRTY, g.memory.readLong(pde) & (ACCESSED | DIRTY), "the walk set A and D in the PDE");

            runToHlt(g);
            assertArrayEquals(WRITTEN, g.vm.dirtyLog(0).dirtyAddresses(), "the bits are set now: a second run dirties only its stores");
        }
    }

    @Test
    void noGuestWritesNoDirtyPagesAndHostWritesAreNeverLogged() {
        try (LongModeVm g = new LongModeVm(storesThenHlt())) {
            presetAccessedAndDirty(g);
            g.vm.setDirtyLogging(0, true);
            runToHlt(g);
            assertEquals(3, g.vm.dirtyLog(0).count());
            assertTrue(g.vm.dirtyLog(0).isEmpty(), "nothing ran since the last call");
            g.memory.writeLong(0x600000, 0x1234);
            g.memory.writeLong(WRITTEN[1], 0x5678);
            g.memory.write(0x700000, new byte[3 * 4096], 0, 3 * 4096);
            DirtyBitmap afterHostWrites = g.vm.dirtyLog(0);
            assertTrue(afterHostWrites.isEmpty(), "the VMM's writes through its own mapping are not logged: " + afterHostWrites);
        }
    }

    @Test
    void loggingOffAgainDropsTheLogAndMisuseNamesTheIoctl() {
        try (LongModeVm g = new LongModeVm(storesThenHlt())) {
            KvmException off = assertThrows(KvmException.class, () -> g.vm.dirtyLog(0));
            assertEquals("KVM_GET_DIRTY_LOG: dirty logging is off for memory slot 0 (setDirtyLogging first)", off.getMessage());
            KvmException none = assertThrows(KvmException.class, () -> g.vm.dirtyLog(7));
            assertEquals("KVM_GET_DIRTY_LOG: this VM has no memory slot 7 (set it with setUserMemoryRegion first)", none.getMessage());
            assertThrows(KvmException.class, () -> g.vm.setDirtyLogging(7, true));

            g.vm.setDirtyLogging(0, true);
            g.vm.setDirtyLogging(0, false);
            assertFalse(g.vm.dirtyLogging(0));
            runToHlt(g);
            assertThrows(KvmException.class, () -> g.vm.dirtyLog(0));
            g.vm.setDirtyLogging(0, true);
            assertTrue(g.vm.dirtyLog(0).isEmpty(), "a log turned on again starts empty");
        }
    }

    @Test
    void manualProtectKeepsTheLogUntilCleared() {
        try (LongModeVm g = new LongModeVm(storesThenHlt())) {
            int offered = g.vm.checkExtension(Capability.MANUAL_DIRTY_LOG_PROTECT2);
            assertEquals(3, offered, "KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE | KVM_DIRTY_LOG_INITIALLY_SET on x86 since Linux 5.7");
            presetAccessedAndDirty(g);
            g.vm.enableManualDirtyLogProtect(false);
            assertTrue(g.vm.manualDirtyLogProtect());
            g.vm.setDirtyLogging(0, true);
            runToHlt(g);
            DirtyBitmap first = g.vm.dirtyLog(0);
            assertArrayEquals(WRITTEN, first.dirtyAddresses(), first.toString());
            assertEquals(first, g.vm.dirtyLog(0), "KVM_GET_DIRTY_LOG left the log as it was");
            g.vm.clearDirtyLog(first);
            assertTrue(g.vm.dirtyLog(0).isEmpty(), "KVM_CLEAR_DIRTY_LOG cleared it");
            runToHlt(g);
            assertArrayEquals(WRITTEN, g.vm.dirtyLog(0).dirtyAddresses(), "cleared pages were write-protected again");
        }
    }

    @Test
    void initiallySetStartsWithEveryPageDirty() {
        try (LongModeVm g = new LongModeVm(storesThenHlt())) {
            g.vm.enableManualDirtyLogProtect(true);
            g.vm.setDirtyLogging(0, true);
            DirtyBitmap all = g.vm.dirtyLog(0);
            assertEquals(all.pages(), all.count(), all.toString());
            g.vm.clearDirtyLog(all);
            assertTrue(g.vm.dirtyLog(0).isEmpty());
            presetAccessedAndDirty(g);
            runToHlt(g);
            assertArrayEquals(WRITTEN, g.vm.dirtyLog(0).dirtyAddresses());
        }
    }
}

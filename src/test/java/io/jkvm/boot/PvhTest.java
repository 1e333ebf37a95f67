package io.jkvm.boot;

import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The PVH loader on a small ELF64 it builds: the entry note found, the start information laid out, bad input refused. */
class PvhTest {
    private static final long RAM = 64L << 20;
    private static final List<LinuxBoot.MemoryRange> MAP = List.of(new LinuxBoot.MemoryRange(0, 0x9FC00, 1),
            new LinuxBoot.MemoryRange(0x100000, RAM - 0x100000, 1));

    /** An ELF64 with one PT_LOAD of 16 bytes at {@code load} and a PT_NOTE: a GNU note, then Xen's PHYS32_ENTRY = {@code entry}. */
    static byte[] kernel(long load, long entry) {
        ByteBuffer b = ByteBuffer.allocate(0x400).order(ByteOrder.LITTLE_ENDIAN);
        b.put(new byte[]{0x7F, 'E', 'L', 'F', 2, 1, 1});
        b.putShort(16, (short) 2).putShort(18, (short) 62).putLong(24, 0xFFFFFFFF81000000L).putLong(32, 64);
        b.putShort(54, (short) 56).putShort(56, (short) 2);
        b.putInt(64, 1).putLong(64 + 8, 0x200).putLong(64 + 24, load).putLong(64 + 32, 16).putLong(64 + 40, 4096); // PT_LOAD
        int notes = 0x300;
        b.putInt(120, 4).putLong(120 + 8, notes).putLong(120 + 32, 16 + 4 + 20 + 8); // PT_NOTE
        b.putInt(notes, 4).putInt(notes + 4, 4).putInt(notes + 8, 1).put(notes + 12, "GNU\0".getBytes()).putInt(notes + 16, 7);
        int xen = notes + 20;
        b.putInt(xen, 4).putInt(xen + 4, 8).putInt(xen + 8, Pvh.XEN_ELFNOTE_PHYS32_ENTRY).put(xen + 12, "Xen\0".getBytes())
                .putLong(xen + 16, entry);
        return b.array();
    }

    @Test
    void theEntryNoteIsFoundAndTheStartInformationLaidOut() {
        byte[] kernel = kernel(0x1000000, 0x1000850);
        assertEquals(0x1000850, Pvh.entry(ByteBuffer.wrap(kernel)));
        byte[] initrd = new byte[8192];
        BootImage image = Pvh.load("vmlinux", ByteBuffer.wrap(kernel), "console=ttyS0", ByteBuffer.wrap(initrd), MAP, RAM, 0xF0000);
        assertEquals(0x1000850, image.entry());
        assertEquals(Pvh.START_INFO, image.information());
        BootImage.Chunk info = image.chunks().stream().filter(c -> c.address() == Pvh.START_INFO).findFirst().orElseThrow();
        ByteBuffer s = ByteBuffer.wrap(info.bytes()).order(ByteOrder.LITTLE_ENDIAN);
        assertEquals(Pvh.START_INFO_MAGIC, s.getInt(Pvh.MAGIC));
        assertEquals(1, s.getInt(Pvh.VERSION));
        assertEquals(1, s.getInt(Pvh.NR_MODULES));
        assertEquals(Pvh.COMMAND_LINE, s.getLong(Pvh.CMDLINE_PADDR));
        assertEquals(0xF0000, s.getLong(Pvh.RSDP_PADDR));
        assertEquals(MAP.size(), s.getInt(Pvh.MEMMAP_ENTRIES));
        long modules = s.getLong(Pvh.MODLIST_PADDR), memmap = s.getLong(Pvh.MEMMAP_PADDR);
        assertEquals(RAM - 8192, s.getLong((int) (modules - Pvh.START_INFO)), "the initrd at the top of RAM");
        assertEquals(8192, s.getLong((int) (modules - Pvh.START_INFO) + 8));
        int second = (int) (memmap - Pvh.START_INFO) + Pvh.MEMMAP_ENTRY_SIZE;
        assertEquals(0x100000, s.getLong(second));
        assertEquals(RAM - 0x100000, s.getLong(second + 8));
        assertEquals(1, s.getInt(second + 16));
        assertTrue(image.chunks().stream().anyMatch(c -> c.address() == 0x1000000 && c.memorySize() == 4096), "the PT_LOAD");
    }

    @Test
    void whatIsNotAPvhKernelOrDoesNotFitIsRefused() {
        byte[] noNote = kernel(0x1000000, 0x1000850);
        noNote[0x300 + 20 + 8] = 17; // another Xen note type
        assertEquals(-1, Pvh.entry(ByteBuffer.wrap(noNote)));
        assertEquals(-1, Pvh.entry(ByteBuffer.wrap(new byte[100])));
        assertTrue(assertThrows(BootException.class, () -> Pvh.load("k", ByteBuffer.wrap(noNote), "", null, MAP, RAM, 0)).getMessage()
                .contains("no Xen PVH entry note"));
        assertTrue(assertThrows(BootException.class, () -> Pvh.load("k", ByteBuffer.wrap(kernel(0x1000000, 0x1000850)), "x".repeat(2048), null, MAP,
                RAM, 0)).getMessage().contains("at most 2047 bytes"));
        assertTrue(assertThrows(BootException.class, () -> Pvh.load("k", ByteBuffer.wrap(kernel(0x1000000, 0x1000850)), "", ByteBuffer.wrap(new byte[63 << 20]), MAP,
                RAM, 0)).getMessage().contains("does not fit"));
        assertTrue(assertThrows(BootException.class, () -> Pvh.load("k", ByteBuffer.wrap(kernel(0x80000, 0x80000)), "", null, MAP, RAM, 0))
                .getMessage().contains("below 1 MiB"));
        assertTrue(assertThrows(BootException.class, () -> Pvh.load("k", ByteBuffer.wrap(kernel(0x8000000, 0x8000000)), "", null, MAP, RAM, 0))
                .getMessage().contains("beyond the 64 MiB of RAM"));
    }
}

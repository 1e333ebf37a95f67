package io.jkvm.boot;

import io.jkvm.x86.RamLayout;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Multiboot v1 loading: the header search, ELF32 and a.out-kludge images, the MBI's fields, and the refusals. */
class MultibootTest {
    private static final long RAM = 64L << 20;

    /** An ELF32 (EM_386) with one PT_LOAD of {@code code} at {@code paddr} (memsz {@code memsz}) and the header at the start of the code. */
    static byte[] elf32(long paddr, int memsz, byte[] code, long entry) {
        ByteBuffer b = ByteBuffer.allocate(0x1000 + code.length).order(ByteOrder.LITTLE_ENDIAN);
        b.put(0, new byte[]{0x7F, 'E', 'L', 'F', 1, 1, 1});
        b.putShort(16, (short) 2).putShort(18, (short) 3).putInt(20, 1).putInt(24, (int) entry).putInt(28, 52);
        b.putShort(40, (short) 52).putShort(42, (short) 32).putShort(44, (short) 1);
        b.putInt(52, 1).putInt(56, 0x1000).putInt(60, (int) paddr).putInt(64, (int) paddr).putInt(68, code.length).putInt(72, memsz);
        b.put(0x1000, code);
        return b.array();
    }

    static byte[] header(int flags, int... addresses) {
        ByteBuffer b = ByteBuffer.allocate(12 + 4 * addresses.length + 16).order(ByteOrder.LITTLE_ENDIAN);
        b.putInt(Multiboot.HEADER_MAGIC).putInt(flags).putInt(-(Multiboot.HEADER_MAGIC + flags));
        for (int a : addresses) {
            b.putInt(a);
        }
        return b.array();
    }

    @Test
    void anElf32KernelLoadsAtItsPhysicalAddressesWithItsInformation() {
        byte[] image = elf32(0x200000, 0x3000, header(0), 0x200004);
        assertTrue(Multiboot.detect(ByteBuffer.wrap(image)));
        byte[] module = "NR_CPUS=2\n".getBytes(StandardCharsets.US_ASCII);
        BootImage boot = Multiboot.load("k", ByteBuffer.wrap(image), "k -v", List.of(new Multiboot.Module("env", ByteBuffer.wrap(module), "env file")), RamLayout.pc(RAM));
        assertEquals(0x200004, boot.entry());
        BootImage.Chunk text = boot.chunks().getFirst();
        assertEquals(0x200000, text.address());
        assertEquals(0x3000, text.memorySize(), "p_memsz: the zeroed tail included");
        BootImage.Chunk mod = boot.chunks().get(1);
        assertEquals(0x203000, mod.address(), "the module on the first page above the image");
        assertArrayEquals(module, mod.bytes());
        assertEquals(0x9000, boot.information(), "the MBI in its page below 640 KiB, out of page 0");
        ByteBuffer mbi = ByteBuffer.wrap(boot.chunks().getLast().bytes()).order(ByteOrder.LITTLE_ENDIAN);
        assertEquals(1 | 4 | 8 | 0x40, mbi.getInt(0), "flags: mem, cmdline, mods, mmap");
        assertEquals(640, mbi.getInt(4));
        assertEquals((RAM - 0x100000) >> 10, mbi.getInt(8), "mem_upper: KiB above 1 MiB");
        assertEquals("k -v", string(mbi, mbi.getInt(16)));
        assertEquals(1, mbi.getInt(20));
        int mods = mbi.getInt(24) - 0x9000;
        assertEquals(0x203000, mbi.getInt(mods));
        assertEquals(0x203000 + module.length, mbi.getInt(mods + 4));
        assertEquals("env file", string(mbi, mbi.getInt(mods + 8)));
        int mmap = mbi.getInt(48) - 0x9000, length = mbi.getInt(44);
        long available = 0;
        for (int e = mmap; e < mmap + length; e += 24) {
            assertEquals(20, mbi.getInt(e), "each entry's size field");
            if (mbi.getInt(e + 20) == 1) {
                available += mbi.getLong(e + 12);
            }
        }
        assertEquals(0x9FC00 + RAM - 0x100000, available, "the map's RAM: all of it but the legacy hole");
    }

    private static String string(ByteBuffer mbi, int address) {
        int at = address - 0x9000, end = at;
        while (mbi.get(end) != 0) {
            end++;
        }
        return new String(mbi.array(), at, end - at, StandardCharsets.UTF_8);
    }

    @Test
    void theAoutKludgeLoadsTheFileAtTheHeadersAddresses() {
        // the header at file offset 0x40, which header_addr 0x100040 says is load_addr 0x100000 + 0x40
        byte[] image = new byte[0x200];
        byte[] h = header(1 << 16, 0x100040, 0x100000, 0x100180, 0x102000, 0x100100);
        System.arraycopy(h, 0, image, 0x40, h.length);
        image[0x100] = (byte) 0xF4;
        BootImage boot = Multiboot.load("aout", ByteBuffer.wrap(image), "aout", List.of(), RamLayout.pc(RAM));
        BootImage.Chunk c = boot.chunks().getFirst();
        assertEquals(0x100000, c.address());
        assertEquals(0x180, c.bytes().length, "load_end_addr - load_addr bytes of the file");
        assertEquals(0x2000, c.memorySize(), "to bss_end_addr");
        assertEquals((byte) 0xF4, c.bytes()[0x100]);
        assertEquals(0x100100, boot.entry());
    }

    @Test
    void theInformationMovesWhenTheKernelOccupiesItsPage() {
        byte[] image = elf32(0x8000, 0x6000, header(0), 0x8000); // as realmode.flat: 0x8000-0xe000
        BootImage boot = Multiboot.load("rm", ByteBuffer.wrap(image), "rm", List.of(), RamLayout.pc(RAM));
        long mbi = boot.information();
        assertTrue(mbi >= 0xE000 && mbi < 0xA0000, "a free page below 640 KiB: 0x" + Long.toHexString(mbi));
    }

    @Test
    void badImagesAreRefusedInOneLine() {
        assertFalse(Multiboot.detect(ByteBuffer.wrap(new byte[64])));
        assertEquals("x has no multiboot header (0x1BADB002) in its first 8 KiB: it is not a multiboot kernel",
                assertThrows(BootException.class, () -> Multiboot.load("x", ByteBuffer.wrap(new byte[64]), "", List.of(), RamLayout.pc(RAM))).getMessage());
        byte[] video = elf32(0x100000, 0x1000, header(4), 0x100000);
        assertTrue(assertThrows(BootException.class, () -> Multiboot.load("v", ByteBuffer.wrap(video), "", List.of(), RamLayout.pc(RAM))).getMessage()
                .contains("video mode"));
        byte[] pageZero = elf32(0x0, 0x1000, header(0), 0);
        assertTrue(assertThrows(BootException.class, () -> Multiboot.load("z", ByteBuffer.wrap(pageZero), "", List.of(), RamLayout.pc(RAM))).getMessage()
                .contains("page 0"));
        byte[] huge = elf32(0x100000, 0x7FFFFFFF, header(0), 0x100000);
        assertTrue(assertThrows(BootException.class, () -> Multiboot.load("h", ByteBuffer.wrap(huge), "", List.of(), RamLayout.pc(RAM))).getMessage()
                .contains("--mem"));
        byte[] bios = elf32(0xE0000, 0x30000, header(0), 0xE0000);
        assertEquals("b loads 0xe0000-0x10ffff, over the VGA and BIOS area (0xA0000-0xFFFFF) that holds the ACPI tables and the BIOS's"
                + " handlers: link it at 1 MiB or above",
                assertThrows(BootException.class, () -> Multiboot.load("b", ByteBuffer.wrap(bios), "", List.of(), RamLayout.pc(RAM))).getMessage());
        byte[] apic = elf32(0xFEE00000L, 0x1000, header(0), 0xFEE00000L);
        for (long ram : new long[]{RAM, 8L << 30}) { // more RAM cannot help: the window has none
            assertEquals("a loads up to 0xfee00fff, into the 32-bit MMIO window (0xc0000000-0xFFFFFFFF: the local APICs, the I/O APIC"
                    + " and the devices), where no RAM is: link it lower",
                    assertThrows(BootException.class, () -> Multiboot.load("a", ByteBuffer.wrap(apic), "", List.of(), RamLayout.pc(ram))).getMessage());
        }
        byte[] shortElf64 = new byte[60]; // a multiboot header fits in it, the ELF64 header does not
        System.arraycopy(new byte[]{0x7F, 'E', 'L', 'F', 2, 1, 1}, 0, shortElf64, 0, 7);
        System.arraycopy(header(0), 0, shortElf64, 40, 12);
        assertEquals("s is 60 bytes, shorter than an ELF64 header (64): the ELF is corrupt",
                assertThrows(BootException.class, () -> Multiboot.load("s", ByteBuffer.wrap(shortElf64), "", List.of(), RamLayout.pc(RAM))).getMessage());
        byte[] badChecksum = elf32(0x100000, 0x1000, header(0), 0x100000);
        badChecksum[0x1008] ^= 1;
        assertFalse(Multiboot.detect(ByteBuffer.wrap(badChecksum)), "a header whose checksum does not add up is no header");
        byte[] kludge = new byte[0x100];
        System.arraycopy(header(1 << 16, 0x100000, 0x100010, 0, 0, 0x100000), 0, kludge, 0, 32);
        assertTrue(assertThrows(BootException.class, () -> Multiboot.load("k", ByteBuffer.wrap(kludge), "", List.of(), RamLayout.pc(RAM))).getMessage()
                .contains("load_addr"));
    }
}

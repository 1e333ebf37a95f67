package io.jkvm.boot;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The Linux boot protocol loader on a bzImage's setup header: where the kernel, command line, initrd and zero page
 * go, the fields it writes, relocation when RAM is short, one-line refusals; and the zero page's offsets checked with
 * gcc against the kernel's own header (asm/bootparam.h).
 */
class LinuxBootTest {
    private static final long RAM = 256L << 20;
    private static final List<LinuxBoot.MemoryRange> MAP = List.of(new LinuxBoot.MemoryRange(0, 0x9FC00, 1),
            new LinuxBoot.MemoryRange(0x100000, RAM - 0x100000, 1));

    @TempDir
    Path dir;

    /** A bzImage of protocol {@code version}: one setup sector, then {@code body} as the protected-mode kernel (syssize paragraphs). */
    static byte[] bzImage(int version, int xloadflags, long initSize, byte[] body) {
        ByteBuffer b = ByteBuffer.allocate(1024 + (body.length + 15) / 16 * 16).order(ByteOrder.LITTLE_ENDIAN); // whole paragraphs, as the kernel's build pads it
        b.put(LinuxBoot.SETUP_SECTS, (byte) 1);
        b.putShort(LinuxBoot.BOOT_FLAG, (short) 0xAA55);
        b.put(LinuxBoot.HEADER_END_BYTE, (byte) 0x6A);
        b.putInt(LinuxBoot.HEADER, LinuxBoot.HDRS);
        b.putShort(LinuxBoot.VERSION, (short) version);
        b.put(LinuxBoot.LOADFLAGS, (byte) 1);
        b.putInt(LinuxBoot.INITRD_ADDR_MAX, 0x7FFFFFFF);
        b.putInt(LinuxBoot.KERNEL_ALIGNMENT, 0x200000);
        b.put(LinuxBoot.RELOCATABLE_KERNEL, (byte) 1);
        b.putShort(LinuxBoot.XLOADFLAGS, (short) xloadflags);
        b.putInt(LinuxBoot.CMDLINE_SIZE, 0x7FF);
        b.putLong(LinuxBoot.PREF_ADDRESS, 0x1000000);
        b.putInt(LinuxBoot.INIT_SIZE, (int) initSize);
        b.putInt(LinuxBoot.SYSSIZE, (body.length + 15) / 16);
        b.put(1024, body);
        return b.array();
    }

    private static BootImage.Chunk at(LinuxBoot.Loaded l, long address) {
        return l.image().chunks().stream().filter(c -> c.address() == address).findFirst().orElseThrow();
    }

    @Test
    void theZeroPageCarriesTheHeaderCommandLineInitrdAndMemoryMap() {
        byte[] body = "the kernel: 16 B".getBytes(StandardCharsets.US_ASCII), initrd = new byte[5000];
        byte[] kernel = bzImage(0x20F, 1, 64L << 20, body);
        assertTrue(LinuxBoot.detect(ByteBuffer.wrap(kernel)));
        LinuxBoot.Loaded l = LinuxBoot.load("vmlinuz", ByteBuffer.wrap(kernel), "console=ttyS0", ByteBuffer.wrap(initrd), MAP, RAM, 0xF0000);
        assertEquals(0x1000000, l.loadAddress(), "at its preferred address");
        assertEquals(0x1000200, l.entry(), "the 64-bit entry: 0x200 past the load address");
        assertEquals("the kernel: 16 B", new String(at(l, 0x1000000).bytes(), StandardCharsets.US_ASCII));
        assertEquals("console=ttyS0\0", new String(at(l, LinuxBoot.COMMAND_LINE).bytes(), StandardCharsets.US_ASCII));
        ByteBuffer z = ByteBuffer.wrap(at(l, LinuxBoot.ZERO_PAGE).bytes()).order(ByteOrder.LITTLE_ENDIAN);
        assertEquals(LinuxBoot.HDRS, z.getInt(LinuxBoot.HEADER), "the setup header copied");
        assertEquals((byte) 0xFF, z.get(LinuxBoot.TYPE_OF_LOADER));
        assertEquals(LinuxBoot.COMMAND_LINE, z.getInt(LinuxBoot.CMD_LINE_PTR));
        long initrdAt = z.getInt(LinuxBoot.RAMDISK_IMAGE) & 0xFFFFFFFFL;
        assertEquals((RAM - 5000) & ~0xFFFL, initrdAt, "the initrd at the top of RAM, page-aligned");
        assertEquals(5000, z.getInt(LinuxBoot.RAMDISK_SIZE));
        assertEquals(2, z.get(LinuxBoot.E820_ENTRIES));
        assertEquals(0x100000, z.getLong(LinuxBoot.E820_TABLE + 20), "the second range's base");
        assertEquals(RAM - 0x100000, z.getLong(LinuxBoot.E820_TABLE + 28));
        assertEquals(1, z.getInt(LinuxBoot.E820_TABLE + 36));
        assertEquals(0xF0000, z.getLong(LinuxBoot.ACPI_RSDP_ADDR));
    }

    @Test
    void aRelocatableKernelMovesDownWhenRamEndsBeforeItsPreferredPlaceAndBadOnesAreOneLine() {
        byte[] kernel = bzImage(0x20F, 1, 64L << 20, new byte[16]);
        LinuxBoot.Loaded l = LinuxBoot.load("vmlinuz", ByteBuffer.wrap(kernel), "", null, MAP, 72L << 20, 0);
        assertEquals(0x200000, l.loadAddress(), "the first 2 MiB boundary above 1 MiB");
        BootException e = assertThrows(BootException.class, () -> LinuxBoot.load("vmlinuz", ByteBuffer.wrap(kernel), "", null, MAP, 32L << 20, 0));
        assertTrue(e.getMessage().contains("needs 64 MiB of RAM") && e.getMessage().contains("--mem"), e.getMessage());
        e = assertThrows(BootException.class, () -> LinuxBoot.load("old", ByteBuffer.wrap(bzImage(0x20A, 1, 1 << 20, new byte[16])), "", null, MAP, RAM, 0));
        assertTrue(e.getMessage().contains("protocol 2.10: jkvm needs 2.12"), e.getMessage());
        e = assertThrows(BootException.class, () -> LinuxBoot.load("i386", ByteBuffer.wrap(bzImage(0x20F, 0, 1 << 20, new byte[16])), "", null, MAP, RAM, 0));
        assertTrue(e.getMessage().contains("no 64-bit entry point"), e.getMessage());
        assertFalse(LinuxBoot.detect(ByteBuffer.wrap(new byte[4096])));
    }

    @Test
    void theSixtyFourBitEntryRunsOnTheProtocolsSelectors() throws Exception {
        byte[] entry = {
                (byte) 0x8C, (byte) 0xC8,             // mov eax, cs
                (byte) 0x8C, (byte) 0xD9,             // mov ecx, ds
                0x01, (byte) 0xC8,                    // add eax, ecx
                (byte) 0x8C, (byte) 0xC1,             // mov ecx, es
                0x01, (byte) 0xC8,                    // add eax, ecx
                (byte) 0x8C, (byte) 0xD1,             // mov ecx, ss
                0x01, (byte) 0xC8,                    // add eax, ecx
                0x66, (byte) 0xBA, (byte) 0xF4, 0x00, // mov dx, 0xf4
                (byte) 0xEF,                          // out dx, eax
                (byte) 0xF4};                         // hlt
        byte[] body = new byte[0x200 + entry.length]; // the 64-bit entry is 0x200 past the load address
        System.arraycopy(entry, 0, body, 0x200, entry.length);
        Path kernel = dir.resolve("bzImage");
        Files.write(kernel, bzImage(0x20F, 1, 1 << 20, body));
        io.jkvm.testing.Cli.Result r = io.jkvm.testing.Cli.run("run", "--backend", "emulator", "--mem", "64M", "--kernel", kernel.toString());
        int selectors = 0x10 + 3 * 0x18; // CS = __BOOT_CS; DS, ES and SS = __BOOT_DS
        assertEquals((selectors << 1) | 1, r.status(), r.err());
    }

    @Test
    void aTruncatedBzImageIsRefusedBeforeItRuns() {
        byte[] whole = bzImage(0x20F, 1, 1 << 20, new byte[4096]);
        LinuxBoot.load("whole", ByteBuffer.wrap(whole), "", null, MAP, RAM, 0);
        byte[] signed = java.util.Arrays.copyOf(whole, whole.length + 1472); // a signature after the kernel, as Debian's has
        LinuxBoot.load("signed", ByteBuffer.wrap(signed), "", null, MAP, RAM, 0);
        byte[] cut = java.util.Arrays.copyOf(whole, whole.length - 1);
        assertEquals("cut is truncated: its header says 4096 bytes of kernel follow the setup, the file holds 4095; copy the kernel"
                + " again", assertThrows(BootException.class, () -> LinuxBoot.load("cut", ByteBuffer.wrap(cut), "", null, MAP, RAM, 0)).getMessage());
        byte[] setupOnly = java.util.Arrays.copyOf(whole, 1024);
        assertTrue(assertThrows(BootException.class, () -> LinuxBoot.load("s", ByteBuffer.wrap(setupOnly), "", null, MAP, RAM, 0)).getMessage()
                .contains("s is truncated: its setup sectors reach past its end"));
    }

    /** Every offset the loader writes, compiled by gcc from the kernel's UAPI header. */
    @Test
    void theZeroPageOffsetsAreTheKernelHeadersOwn() throws Exception {
        Map<String, Integer> ours = new LinkedHashMap<>();
        ours.put("acpi_rsdp_addr", LinuxBoot.ACPI_RSDP_ADDR);
        ours.put("ext_ramdisk_image", LinuxBoot.EXT_RAMDISK_IMAGE);
        ours.put("ext_ramdisk_size", LinuxBoot.EXT_RAMDISK_SIZE);
        ours.put("ext_cmd_line_ptr", LinuxBoot.EXT_CMD_LINE_PTR);
        ours.put("e820_entries", LinuxBoot.E820_ENTRIES);
        ours.put("hdr.setup_sects", LinuxBoot.SETUP_SECTS);
        ours.put("hdr.syssize", LinuxBoot.SYSSIZE);
        ours.put("hdr.boot_flag", LinuxBoot.BOOT_FLAG);
        ours.put("hdr.header", LinuxBoot.HEADER);
        ours.put("hdr.version", LinuxBoot.VERSION);
        ours.put("hdr.type_of_loader", LinuxBoot.TYPE_OF_LOADER);
        ours.put("hdr.loadflags", LinuxBoot.LOADFLAGS);
        ours.put("hdr.ramdisk_image", LinuxBoot.RAMDISK_IMAGE);
        ours.put("hdr.ramdisk_size", LinuxBoot.RAMDISK_SIZE);
        ours.put("hdr.heap_end_ptr", LinuxBoot.HEAP_END_PTR);
        ours.put("hdr.cmd_line_ptr", LinuxBoot.CMD_LINE_PTR);
        ours.put("hdr.initrd_addr_max", LinuxBoot.INITRD_ADDR_MAX);
        ours.put("hdr.kernel_alignment", LinuxBoot.KERNEL_ALIGNMENT);
        ours.put("hdr.relocatable_kernel", LinuxBoot.RELOCATABLE_KERNEL);
        ours.put("hdr.xloadflags", LinuxBoot.XLOADFLAGS);
        ours.put("hdr.cmdline_size", LinuxBoot.CMDLINE_SIZE);
        ours.put("hdr.pref_address", LinuxBoot.PREF_ADDRESS);
        ours.put("hdr.init_size", LinuxBoot.INIT_SIZE);
        ours.put("e820_table", LinuxBoot.E820_TABLE);
        Map<String, String> expressions = new LinkedHashMap<>();
        for (String field : ours.keySet()) {
            expressions.put(field, "offsetof(struct boot_params, " + field + ")");
        }
        expressions.put("e820_entry_size", "sizeof(struct boot_e820_entry)");
        expressions.put("e820_max", "E820_MAX_ENTRIES_ZEROPAGE");
        ours.put("e820_entry_size", LinuxBoot.E820_ENTRY_SIZE);
        ours.put("e820_max", LinuxBoot.E820_MAX);
        Map<String, Long> values = io.jkvm.testing.CHeaders.evaluate(dir, List.of("asm/bootparam.h"), expressions.values());
        Map<String, Integer> theirs = new LinkedHashMap<>();
        expressions.forEach((field, expression) -> theirs.put(field, values.get(expression).intValue()));
        assertEquals(theirs, ours, "boot_params as gcc lays it out from asm/bootparam.h");
    }
}

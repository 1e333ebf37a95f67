package io.jkvm.boot;

import io.jkvm.x86.RamLayout;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * The Linux x86 boot protocol (Documentation/arch/x86/boot.rst) for a bzImage, entered at its 64-bit entry point:
 * the setup header read (protocol 2.12 or later, a kernel with XLF_KERNEL_64), the protected-mode kernel loaded at
 * its preferred address (or, relocatable, as low as its alignment allows), the zero page ({@code struct boot_params})
 * built with the header, the command line, the initrd at the top of RAM below its limit, the e820 map and the ACPI
 * RSDP's address. The boot processor enters at the load address + 0x200 in 64-bit mode, RSI = the zero page.
 */
public final class LinuxBoot {
    /** Offsets in {@code struct boot_params} and its {@code struct setup_header} at 0x1F1 (asm/bootparam.h). */
    static final int ACPI_RSDP_ADDR = 0x070, EXT_RAMDISK_IMAGE = 0x0C0, EXT_RAMDISK_SIZE = 0x0C4, EXT_CMD_LINE_PTR = 0x0C8,
            E820_ENTRIES = 0x1E8, SETUP_SECTS = 0x1F1, SYSSIZE = 0x1F4, BOOT_FLAG = 0x1FE, HEADER_END_BYTE = 0x201, HEADER = 0x202,
            VERSION = 0x206, TYPE_OF_LOADER = 0x210, LOADFLAGS = 0x211, RAMDISK_IMAGE = 0x218, RAMDISK_SIZE = 0x21C,
            HEAP_END_PTR = 0x224, CMD_LINE_PTR = 0x228, INITRD_ADDR_MAX = 0x22C, KERNEL_ALIGNMENT = 0x230,
            RELOCATABLE_KERNEL = 0x234, XLOADFLAGS = 0x236, CMDLINE_SIZE = 0x238, PREF_ADDRESS = 0x258, INIT_SIZE = 0x260,
            E820_TABLE = 0x2D0, E820_ENTRY_SIZE = 20, E820_MAX = 128;
    static final int HDRS = 0x53726448; // "HdrS"
    static final int LOADED_HIGH = 0x01, CAN_USE_HEAP = 0x80, XLF_KERNEL_64 = 0x01;
    /** Where the zero page and the command line go (below the kernel, above the real-mode IVT and BIOS data). */
    public static final long ZERO_PAGE = 0x7000, COMMAND_LINE = 0x20000;
    private static final long LOW_LIMIT = 0x100000;

    /** An e820 memory-map entry: usable RAM (1) or reserved (2). */
    public record MemoryRange(long base, long size, int type) {
        public static final int RAM = 1, RESERVED = 2; // e820's types, which multiboot's mmap shares

        /**
         * A PC's memory map of the RAM {@code ram} lays out: low RAM, the EBDA, the BIOS area (the ACPI tables), RAM
         * from 1 MiB to the MMIO window, RAM above 4 GiB.
         */
        public static List<MemoryRange> pcMap(RamLayout ram) {
            List<MemoryRange> map = new ArrayList<>(List.of(new MemoryRange(0, 0x9FC00, RAM), new MemoryRange(0x9FC00, 0x400, RESERVED),
                    new MemoryRange(0xF0000, 0x10000, RESERVED), new MemoryRange(0x100000, ram.below() - 0x100000, RAM)));
            if (ram.above() > 0) {
                map.add(new MemoryRange(RamLayout.HIGH_RAM, ram.above(), RAM));
            }
            return List.copyOf(map);
        }
    }

    /** What the loader made: where things go, the 64-bit entry point and the zero page's address (RSI). */
    public record Loaded(BootImage image, long entry, long zeroPage, long loadAddress) {
    }

    private LinuxBoot() {
    }

    /** Whether {@code image} is a bzImage: the boot-sector signature and "HdrS" in its setup header. */
    public static boolean detect(ByteBuffer image) {
        ByteBuffer b = BootImage.littleEndian(image);
        if (b.limit() < 0x264) {
            return false;
        }
        return b.getShort(BOOT_FLAG) == (short) 0xAA55 && b.getInt(HEADER) == HDRS;
    }

    /**
     * Places {@code kernel} (a bzImage from {@code name}) with {@code commandLine} and {@code initrd} (null: none) in
     * {@code ramSize} bytes of RAM described by {@code map}, with the ACPI RSDP at {@code rsdp} (0: none).
     */
    public static Loaded load(String name, ByteBuffer kernel, String commandLine, ByteBuffer initrd, List<MemoryRange> map,
                              long ramSize, long rsdp) {
        if (!detect(kernel)) {
            throw new BootException(name + " is not a bzImage (no \"HdrS\" setup header at 0x202)");
        }
        ByteBuffer k = BootImage.littleEndian(kernel);
        int length = k.limit();
        int version = k.getShort(VERSION) & 0xFFFF;
        if (version < 0x020C) {
            throw new BootException(String.format("%s speaks boot protocol %d.%02d: jkvm needs 2.12 or later (Linux 3.8 on)",
                    name, version >>> 8, version & 0xFF));
        }
        if ((k.getShort(XLOADFLAGS) & XLF_KERNEL_64) == 0) {
            throw new BootException(name + " has no 64-bit entry point (XLF_KERNEL_64): jkvm boots 64-bit kernels");
        }
        int setupSects = k.get(SETUP_SECTS) == 0 ? 4 : k.get(SETUP_SECTS) & 0xFF;
        int protectedModeStart = (setupSects + 1) * 512;
        if (protectedModeStart >= length) {
            throw new BootException(name + " is truncated: its setup sectors reach past its end; copy the kernel again");
        }
        long protectedModeSize = 16 * (k.getInt(SYSSIZE) & 0xFFFFFFFFL); // in 16-byte paragraphs; a signature may follow
        if (protectedModeSize == 0 || protectedModeStart + protectedModeSize > length) {
            throw new BootException(String.format("%s is truncated: its header says %d bytes of kernel follow the setup, the file"
                    + " holds %d; copy the kernel again", name, protectedModeSize, length - protectedModeStart));
        }
        ByteBuffer protectedMode = k.slice(protectedModeStart, length - protectedModeStart);
        long initSize = k.getInt(INIT_SIZE) & 0xFFFFFFFFL, alignment = k.getInt(KERNEL_ALIGNMENT) & 0xFFFFFFFFL;
        long preferred = k.getLong(PREF_ADDRESS);
        long loadAt = preferred;
        if (preferred + initSize > ramSize) {
            if (k.get(RELOCATABLE_KERNEL) == 0 || alignment == 0) {
                throw new BootException(String.format("%s must run at 0x%x and needs %d MiB from there: give --mem %dM or more",
                        name, preferred, initSize >> 20, (preferred + initSize + (1 << 20) - 1) >> 20));
            }
            loadAt = (LOW_LIMIT + alignment - 1) / alignment * alignment;
        }
        if (loadAt + initSize > ramSize) {
            throw new BootException(String.format("%s needs %d MiB of RAM from 0x%x to unpack itself: give --mem %dM or more",
                    name, initSize >> 20, loadAt, (loadAt + initSize + (1 << 20) - 1 + (16 << 20)) >> 20));
        }
        long cmdlineLimit = k.getInt(CMDLINE_SIZE) & 0xFFFFFFFFL;
        byte[] cmdline = (commandLine + "\0").getBytes(StandardCharsets.US_ASCII);
        if (cmdline.length - 1 > cmdlineLimit) {
            throw new BootException(name + " takes a command line of at most " + cmdlineLimit + " bytes; --append gives "
                    + (cmdline.length - 1));
        }

        ByteBuffer zero = ByteBuffer.allocate(4096).order(ByteOrder.LITTLE_ENDIAN);
        int headerEnd = HEADER + (k.get(HEADER_END_BYTE) & 0xFF);
        if (headerEnd > length) {
            throw new BootException(name + " is truncated: its setup header reaches past its end; copy the kernel again");
        }
        zero.put(SETUP_SECTS, k, SETUP_SECTS, headerEnd - SETUP_SECTS);
        zero.put(TYPE_OF_LOADER, (byte) 0xFF); // a boot loader without an assigned id
        zero.put(LOADFLAGS, (byte) (k.get(LOADFLAGS) | LOADED_HIGH | CAN_USE_HEAP));
        zero.putShort(HEAP_END_PTR, (short) 0xFE00);
        zero.putInt(CMD_LINE_PTR, (int) COMMAND_LINE);
        zero.putInt(EXT_CMD_LINE_PTR, 0);
        zero.putLong(ACPI_RSDP_ADDR, rsdp);
        List<BootImage.Chunk> chunks = new ArrayList<>();
        chunks.add(new BootImage.Chunk(loadAt, protectedMode, protectedMode.limit()));
        chunks.add(new BootImage.Chunk(COMMAND_LINE, cmdline, cmdline.length));
        if (initrd != null) {
            long limit = Math.min(ramSize, (k.getInt(INITRD_ADDR_MAX) & 0xFFFFFFFFL) + 1);
            long at = (limit - initrd.remaining()) & ~0xFFFL;
            if (at < loadAt + initSize) {
                throw new BootException(String.format("the initrd (%d MiB) does not fit between the kernel and the top of RAM:"
                        + " give more with --mem", initrd.remaining() >> 20));
            }
            zero.putInt(RAMDISK_IMAGE, (int) at);
            zero.putInt(RAMDISK_SIZE, initrd.remaining());
            zero.putInt(EXT_RAMDISK_IMAGE, (int) (at >>> 32));
            zero.putInt(EXT_RAMDISK_SIZE, 0);
            chunks.add(new BootImage.Chunk(at, initrd, initrd.remaining()));
        }
        if (map.size() > E820_MAX) {
            throw new BootException("the memory map has " + map.size() + " ranges; the zero page holds " + E820_MAX);
        }
        zero.put(E820_ENTRIES, (byte) map.size());
        for (int i = 0; i < map.size(); i++) {
            MemoryRange r = map.get(i);
            int e = E820_TABLE + E820_ENTRY_SIZE * i;
            zero.putLong(e, r.base()).putLong(e + 8, r.size()).putInt(e + 16, r.type());
        }
        chunks.add(new BootImage.Chunk(ZERO_PAGE, zero.array(), 4096));
        return new Loaded(new BootImage(chunks, loadAt + 0x200, ZERO_PAGE), loadAt + 0x200, ZERO_PAGE, loadAt);
    }
}

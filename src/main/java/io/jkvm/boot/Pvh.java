package io.jkvm.boot;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * The PVH boot protocol (Xen's x86 HVM direct boot ABI, which Linux's CONFIG_PVH kernels, QEMU, Firecracker and Cloud
 * Hypervisor speak): an uncompressed ELF kernel (vmlinux) whose Xen note XEN_ELFNOTE_PHYS32_ENTRY gives a 32-bit
 * entry point, loaded by its PT_LOAD segments at their physical addresses, entered in 32-bit protected mode with
 * paging off and EBX pointing at a {@code hvm_start_info} (version 1): the command line, the initrd as the one module,
 * the ACPI RSDP and the memory map.
 */
public final class Pvh {
    private Pvh() {
    }

    static final int PT_NOTE = 4, XEN_ELFNOTE_PHYS32_ENTRY = 18, START_INFO_MAGIC = 0x336EC578;
    /**
     * struct hvm_start_info (xen/include/public/arch-x86/hvm/start_info.h, also Linux's include/xen/interface/hvm):
     * magic, version, flags, nr_modules (u32 each), modlist_paddr, cmdline_paddr, rsdp_paddr, memmap_paddr (u64 each),
     * memmap_entries, reserved (u32); a module entry is paddr, size, cmdline_paddr, reserved (u64); a memory map entry
     * addr, size (u64), type, reserved (u32).
     */
    static final int MAGIC = 0, VERSION = 4, NR_MODULES = 12, MODLIST_PADDR = 16, CMDLINE_PADDR = 24, RSDP_PADDR = 32,
            MEMMAP_PADDR = 40, MEMMAP_ENTRIES = 48, START_INFO_SIZE = 56, MODULE_SIZE = 32, MEMMAP_ENTRY_SIZE = 24;
    /** Where the start information (with the module list and memory map after it) and the command line go. */
    static final long START_INFO = 0x6000, COMMAND_LINE = 0x20000;
    /** The command line's longest: Linux x86's COMMAND_LINE_SIZE less its NUL. */
    static final int COMMAND_LINE_MAX = 2047;

    /** The 32-bit PVH entry of an ELF kernel, or -1 when {@code image} is not an ELF with that Xen note. */
    public static long entry(ByteBuffer image) {
        ByteBuffer b = BootImage.littleEndian(image);
        int length = b.limit();
        if (length < 64 || b.get(0) != 0x7F || b.get(1) != 'E' || b.get(2) != 'L' || b.get(3) != 'F' || b.get(5) != 1) {
            return -1;
        }
        boolean wide = b.get(4) == 2;
        long phoff = wide ? b.getLong(32) : b.getInt(28) & 0xFFFFFFFFL;
        int phentsize = Short.toUnsignedInt(b.getShort(wide ? 54 : 42)), phnum = Short.toUnsignedInt(b.getShort(wide ? 56 : 44));
        for (int i = 0; i < phnum; i++) {
            long at = phoff + (long) i * phentsize;
            if (phoff < 0 || at < 0 || at > length - (wide ? 56 : 32) || b.getInt((int) at) != PT_NOTE) {
                continue;
            }
            int p = (int) at;
            long offset = wide ? b.getLong(p + 8) : b.getInt(p + 4) & 0xFFFFFFFFL;
            long size = wide ? b.getLong(p + 32) : b.getInt(p + 16) & 0xFFFFFFFFL;
            if (offset < 0 || size < 0 || offset > length || size > length - offset) {
                continue;
            }
            long entry = xenEntry(b, (int) offset, (int) (offset + size));
            if (entry >= 0) {
                return entry;
            }
        }
        return -1;
    }

    /** The PHYS32_ENTRY note among the notes from {@code from} to {@code to}: namesz, descsz, type, name, desc (4-aligned). */
    private static long xenEntry(ByteBuffer b, int from, int to) {
        int at = from;
        while (at + 12 <= to) {
            int namesz = b.getInt(at), descsz = b.getInt(at + 4), type = b.getInt(at + 8);
            if (namesz < 0 || descsz < 0 || namesz > to || descsz > to) {
                return -1;
            }
            int name = at + 12, desc = name + ((namesz + 3) & ~3);
            if ((long) desc + descsz > to) {
                return -1;
            }
            boolean xen = namesz == 4 && b.get(name) == 'X' && b.get(name + 1) == 'e' && b.get(name + 2) == 'n';
            if (xen && type == XEN_ELFNOTE_PHYS32_ENTRY && descsz >= 4) {
                return descsz >= 8 ? b.getLong(desc) & 0xFFFFFFFFL : b.getInt(desc) & 0xFFFFFFFFL;
            }
            at = desc + ((descsz + 3) & ~3);
        }
        return -1;
    }

    /**
     * Places the PVH kernel {@code image} (from {@code name}) with {@code commandLine} and {@code initrd} (null: none)
     * in {@code ramSize} bytes of RAM that {@code map} describes, the RSDP at {@code rsdp}; the image's information is
     * the start information's address (EBX at the entry).
     */
    public static BootImage load(String name, ByteBuffer image, String commandLine, ByteBuffer initrd,
                                 List<LinuxBoot.MemoryRange> map, long ramSize, long rsdp) {
        long entry = entry(image);
        if (entry < 0) {
            throw new BootException(name + " has no Xen PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY): build it with CONFIG_PVH");
        }
        byte[] cmdline = (commandLine + "\0").getBytes(StandardCharsets.US_ASCII);
        if (cmdline.length - 1 > COMMAND_LINE_MAX) {
            throw new BootException(name + " takes a command line of at most " + COMMAND_LINE_MAX + " bytes; --append gives "
                    + (cmdline.length - 1));
        }
        List<BootImage.Chunk> chunks = new ArrayList<>();
        Elf.load(name, image, chunks);
        long end = 0;
        for (BootImage.Chunk c : chunks) {
            if (c.address() < 0x100000 && c.memorySize() > 0) {
                throw new BootException(String.format("%s loads at 0x%x, below 1 MiB, where the boot information goes: link"
                        + " it at 1 MiB or above", name, c.address()));
            }
            if (c.address() + c.memorySize() > ramSize) {
                throw new BootException(String.format("%s loads up to 0x%x, beyond the %d MiB of RAM: give it more with --mem",
                        name, c.address() + c.memorySize(), ramSize >> 20));
            }
            end = Math.max(end, c.address() + c.memorySize());
        }
        ByteBuffer info = ByteBuffer.allocate(START_INFO_SIZE + MODULE_SIZE + MEMMAP_ENTRY_SIZE * map.size())
                .order(ByteOrder.LITTLE_ENDIAN);
        info.putInt(MAGIC, START_INFO_MAGIC);
        info.putInt(VERSION, 1); // with the memory map
        info.putLong(CMDLINE_PADDR, COMMAND_LINE);
        info.putLong(RSDP_PADDR, rsdp);
        long modules = START_INFO + START_INFO_SIZE, memmap = modules + MODULE_SIZE;
        if (initrd != null) {
            long at = (ramSize - initrd.remaining()) & ~0xFFFL;
            if (at < end) {
                throw new BootException(String.format("the initrd (%d MiB) does not fit between the kernel and the top of RAM:"
                        + " give more with --mem", initrd.remaining() >> 20));
            }
            info.putInt(NR_MODULES, 1);
            info.putLong(MODLIST_PADDR, modules);
            info.putLong(START_INFO_SIZE, at);
            info.putLong(START_INFO_SIZE + 8, initrd.remaining());
            chunks.add(new BootImage.Chunk(at, initrd, initrd.remaining()));
        }
        info.putLong(MEMMAP_PADDR, memmap);
        info.putInt(MEMMAP_ENTRIES, map.size());
        for (int i = 0; i < map.size(); i++) {
            int e = START_INFO_SIZE + MODULE_SIZE + MEMMAP_ENTRY_SIZE * i;
            info.putLong(e, map.get(i).base());
            info.putLong(e + 8, map.get(i).size());
            info.putInt(e + 16, map.get(i).type());
        }
        chunks.add(new BootImage.Chunk(START_INFO, info.array(), info.capacity()));
        chunks.add(new BootImage.Chunk(COMMAND_LINE, cmdline, cmdline.length));
        return new BootImage(chunks, entry, START_INFO);
    }
}

package io.jkvm.boot;

import io.jkvm.x86.RamLayout;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * Multiboot v1 (the GRUB legacy protocol QEMU's {@code -kernel} speaks): the header in the image's first 8 KiB, the
 * image loaded from its ELF32 or ELF64 program headers or, with header flag 16, from the header's a.out-kludge
 * addresses; the boot information (MBI) with the memory sizes, the command line, the modules and the memory map;
 * entered in 32-bit protected mode, paging off, with EAX = 0x2BADB002 and EBX = the MBI.
 */
public final class Multiboot {
    private Multiboot() {
    }

    public static final int HEADER_MAGIC = 0x1BADB002;
    public static final int BOOTLOADER_MAGIC = 0x2BADB002;
    private static final int SEARCH = 8192;
    private static final int FLAG_AOUT_KLUDGE = 1 << 16;
    /** Where the MBI goes when the image leaves that page free: out of page 0, where an SMP guest puts its trampoline. */
    static final long MBI_ADDRESS = 0x9000;
    private static final long LOW_MEMORY_END = 0xA0000, BIOS_AREA_END = 0x100000;

    /** A module: its file's bytes and the string the MBI gives with it. */
    public record Module(String name, ByteBuffer data, String string) {
    }

    /** Whether {@code image} has a multiboot v1 header where the protocol looks for one. */
    public static boolean detect(ByteBuffer image) {
        return headerOffset(image) >= 0;
    }

    private static int headerOffset(ByteBuffer image) {
        ByteBuffer b = BootImage.littleEndian(image);
        for (int at = 0; at + 12 <= Math.min(b.limit(), SEARCH); at += 4) {
            if (b.getInt(at) == HEADER_MAGIC && b.getInt(at) + b.getInt(at + 4) + b.getInt(at + 8) == 0) {
                return at;
            }
        }
        return -1;
    }

    /**
     * The image as loaded, with its MBI: {@code commandLine} as the MBI's cmdline, {@code modules} placed page-aligned
     * above the image, a memory map of the RAM {@code ram} lays out (less the 640 KiB-1 MiB hole). The image, its
     * modules and the MBI go below 4 GiB, as a 32-bit entry reaches them.
     */
    public static BootImage load(String name, ByteBuffer image, String commandLine, List<Module> modules, RamLayout ram) {
        long ramSize = ram.below();
        int h = headerOffset(image);
        if (h < 0) {
            throw new BootException(name + " has no multiboot header (0x1BADB002) in its first 8 KiB: it is not a multiboot kernel");
        }
        ByteBuffer b = BootImage.littleEndian(image);
        int flags = b.getInt(h + 4);
        if ((flags & 0xFFFC) != 0) {
            throw new BootException(String.format("%s asks for multiboot features jkvm does not give (header flags 0x%x, bits 2-15:"
                    + " video mode or others): boot it with a loader that has them", name, flags));
        }
        List<BootImage.Chunk> chunks = new ArrayList<>();
        long entry;
        if ((flags & FLAG_AOUT_KLUDGE) != 0) {
            entry = aoutKludge(name, b, h, chunks);
        } else {
            entry = Elf.load(name, image, chunks);
        }
        long end = 0;
        for (BootImage.Chunk c : chunks) {
            if (c.address() < 0x1000 && c.memorySize() > 0) {
                throw new BootException(String.format("%s loads at 0x%x, in page 0: jkvm keeps page 0 for the real-mode IVT and"
                        + " SMP trampolines; link it higher", name, c.address()));
            }
            if (c.memorySize() > 0 && c.address() < BIOS_AREA_END && c.address() + c.memorySize() > LOW_MEMORY_END) {
                throw new BootException(String.format("%s loads 0x%x-0x%x, over the VGA and BIOS area (0xA0000-0xFFFFF) that holds the"
                        + " ACPI tables and the BIOS's handlers: link it at 1 MiB or above", name, c.address(), c.address() + c.memorySize() - 1));
            }
            if (c.address() + c.memorySize() > RamLayout.HIGH_RAM) {
                throw new BootException(String.format("%s loads up to 0x%x, above 4 GiB, where multiboot's 32-bit entry reaches nothing:"
                        + " link it below 3 GiB", name, c.address() + c.memorySize() - 1));
            }
            if (c.address() + c.memorySize() > RamLayout.MMIO_WINDOW) {
                throw new BootException(String.format("%s loads up to 0x%x, into the 32-bit MMIO window (0x%x-0xFFFFFFFF: the local"
                        + " APICs, the I/O APIC and the devices), where no RAM is: link it lower", name, c.address() + c.memorySize() - 1,
                        RamLayout.MMIO_WINDOW));
            }
            if (c.address() + c.memorySize() > ramSize) {
                throw new BootException(String.format("%s loads up to 0x%x, beyond the %d MiB of RAM: give it more with --mem",
                        name, c.address() + c.memorySize(), ramSize >> 20));
            }
            end = Math.max(end, c.address() + c.memorySize());
        }
        long next = (end + 0xFFF) & ~0xFFFL;
        List<long[]> placed = new ArrayList<>(); // start, end of each module
        for (Module m : modules) {
            int length = m.data().remaining();
            if (next + length > ramSize) {
                throw new BootException("module " + m.name() + " (" + length + " bytes) does not fit in RAM above the kernel:"
                        + " give more with --mem");
            }
            chunks.add(new BootImage.Chunk(next, m.data(), length));
            placed.add(new long[]{next, next + length});
            next = (next + length + 0xFFF) & ~0xFFFL;
        }
        long mbi = freePage(chunks, ramSize);
        chunks.add(new BootImage.Chunk(mbi, information(mbi, commandLine, modules, placed, ram), 4096));
        return new BootImage(chunks, entry, mbi);
    }

    /** MBI_ADDRESS if no chunk touches that page, else the first free page below 640 KiB. */
    private static long freePage(List<BootImage.Chunk> chunks, long ramSize) {
        for (long page = MBI_ADDRESS; page < LOW_MEMORY_END && page + 4096 <= ramSize; page += 4096) {
            boolean free = true;
            for (BootImage.Chunk c : chunks) {
                free &= c.address() >= page + 4096 || c.address() + c.memorySize() <= page;
            }
            if (free) {
                return page;
            }
        }
        throw new BootException("the kernel and its modules leave no page free below 640 KiB for the multiboot information");
    }

    /** Header flag 16: the header's load_addr/load_end_addr/bss_end_addr/entry_addr say where the file goes. */
    private static long aoutKludge(String name, ByteBuffer b, int h, List<BootImage.Chunk> chunks) {
        if (h + 32 > b.limit()) {
            throw new BootException(name + " has a multiboot header cut short before its address fields: the image is corrupt");
        }
        long headerAddr = b.getInt(h + 12) & 0xFFFFFFFFL, loadAddr = b.getInt(h + 16) & 0xFFFFFFFFL;
        long loadEnd = b.getInt(h + 20) & 0xFFFFFFFFL, bssEnd = b.getInt(h + 24) & 0xFFFFFFFFL;
        long entry = b.getInt(h + 28) & 0xFFFFFFFFL;
        long fileStart = h - (headerAddr - loadAddr);
        if (loadAddr > headerAddr || fileStart < 0) {
            throw new BootException(String.format("%s has a multiboot header with load_addr 0x%x above header_addr 0x%x: the"
                    + " header is corrupt", name, loadAddr, headerAddr));
        }
        long length = loadEnd == 0 ? b.limit() - fileStart : loadEnd - loadAddr;
        if (length < 0 || fileStart + length > b.limit()) {
            throw new BootException(String.format("%s has a multiboot header whose load_end_addr 0x%x lies past the file's end:"
                    + " the header is corrupt", name, loadEnd));
        }
        long memory = bssEnd == 0 ? length : bssEnd - loadAddr;
        if (memory < length) {
            throw new BootException(String.format("%s has a multiboot header with bss_end_addr 0x%x below load_end_addr: the"
                    + " header is corrupt", name, bssEnd));
        }
        chunks.add(new BootImage.Chunk(loadAddr, b.slice((int) fileStart, (int) length), memory));
        return entry;
    }

    /** The MBI page: the structure, then the mmap, the module list and the strings. */
    private static byte[] information(long mbi, String commandLine, List<Module> modules, List<long[]> placed, RamLayout ram) {
        ByteBuffer p = ByteBuffer.allocate(4096).order(ByteOrder.LITTLE_ENDIAN);
        int mmap = 0x80, mods = 0x100, strings = 0x180;
        int flags = 1 | 4 | 8 | 0x40; // mem_lower/upper, cmdline, mods, mmap
        p.putInt(0, flags);
        p.putInt(4, 640);
        p.putInt(8, (int) (ram.below() - 0x100000 >> 10)); // KiB from 1 MiB up to the MMIO window
        int at = strings;
        p.putInt(16, (int) (mbi + at));
        at = putString(p, at, commandLine);
        p.putInt(20, modules.size());
        p.putInt(24, (int) (mbi + mods));
        for (int i = 0; i < modules.size(); i++) {
            if (mods + 16 * (i + 1) > strings) {
                throw new BootException("more than 8 modules: jkvm's multiboot information holds eight");
            }
            p.putInt(mods + 16 * i, (int) placed.get(i)[0]);
            p.putInt(mods + 16 * i + 4, (int) placed.get(i)[1]);
            p.putInt(mods + 16 * i + 8, (int) (mbi + at));
            at = putString(p, at, modules.get(i).string());
        }
        List<LinuxBoot.MemoryRange> map = LinuxBoot.MemoryRange.pcMap(ram);
        for (int i = 0; i < map.size(); i++) {
            int e = mmap + 24 * i;
            if (e + 24 > mods) {
                break;
            }
            p.putInt(e, 20);
            p.putLong(e + 4, map.get(i).base());
            p.putLong(e + 12, map.get(i).size());
            p.putInt(e + 20, map.get(i).type());
        }
        p.putInt(44, 24 * Math.min(map.size(), (mods - mmap) / 24));
        p.putInt(48, (int) (mbi + mmap));
        return p.array();
    }

    private static int putString(ByteBuffer p, int at, String s) {
        byte[] bytes = s.getBytes(StandardCharsets.UTF_8);
        if (at + bytes.length + 1 > 4096) {
            throw new BootException("the kernel command line and module strings take more than 3.5 KiB: shorten them");
        }
        p.put(at, bytes);
        p.put(at + bytes.length, (byte) 0);
        return at + bytes.length + 1;
    }
}

package io.jkvm.boot;

import java.nio.ByteBuffer;
import java.util.List;

/** The PT_LOAD segments of an ELF32 or ELF64 x86 image, each at its p_paddr, for a boot loader. */
final class Elf {
    private Elf() {
    }

    private static final int PT_LOAD = 1, EM_386 = 3, EM_X86_64 = 62;

    /** Adds the image's segments to {@code chunks}; returns e_entry. */
    static long load(String name, ByteBuffer file, List<BootImage.Chunk> chunks) {
        ByteBuffer b = BootImage.littleEndian(file);
        int length = b.limit();
        if (length < 52 || b.get(0) != 0x7F || b.get(1) != 'E' || b.get(2) != 'L' || b.get(3) != 'F') {
            throw new BootException(name + " is neither ELF nor a multiboot a.out-kludge image (header flag 16): rebuild it");
        }
        boolean wide = b.get(4) == 2;
        if ((b.get(4) != 1 && !wide) || b.get(5) != 1) {
            throw new BootException(name + " is an ELF of a class or byte order jkvm does not load: x86 ELF32 or ELF64, little-endian");
        }
        if (wide && length < 64) {
            throw new BootException(name + " is " + length + " bytes, shorter than an ELF64 header (64): the ELF is corrupt");
        }
        int machine = Short.toUnsignedInt(b.getShort(18));
        if (machine != EM_386 && machine != EM_X86_64) {
            throw new BootException(name + " is an ELF for machine " + machine + ", not x86: build the kernel for x86");
        }
        long entry = wide ? b.getLong(24) : b.getInt(24) & 0xFFFFFFFFL;
        long phoff = wide ? b.getLong(32) : b.getInt(28) & 0xFFFFFFFFL;
        int phentsize = Short.toUnsignedInt(b.getShort(wide ? 54 : 42)), phnum = Short.toUnsignedInt(b.getShort(wide ? 56 : 44));
        int minimum = wide ? 56 : 32;
        int loaded = 0;
        for (int i = 0; i < phnum; i++) {
            long at = phoff + (long) i * phentsize;
            if (phentsize < minimum || phoff < 0 || at < 0 || at > length - minimum) {
                throw new BootException(name + " has a program header table outside the file: the ELF is corrupt");
            }
            int p = (int) at;
            if (b.getInt(p) != PT_LOAD) {
                continue;
            }
            long offset = wide ? b.getLong(p + 8) : b.getInt(p + 4) & 0xFFFFFFFFL;
            long paddr = wide ? b.getLong(p + 24) : b.getInt(p + 12) & 0xFFFFFFFFL;
            long filesz = wide ? b.getLong(p + 32) : b.getInt(p + 16) & 0xFFFFFFFFL;
            long memsz = wide ? b.getLong(p + 40) : b.getInt(p + 20) & 0xFFFFFFFFL;
            if (offset < 0 || filesz < 0 || offset > length || filesz > length - offset) {
                throw new BootException(name + " has a PT_LOAD segment outside the file: the ELF is corrupt");
            }
            if (memsz < filesz || paddr < 0 || memsz > (1L << 40) || paddr > (1L << 40)) {
                throw new BootException(String.format("%s has a PT_LOAD segment of %d bytes at 0x%x, which no RAM holds: the ELF is"
                        + " corrupt", name, memsz, paddr));
            }
            chunks.add(new BootImage.Chunk(paddr, b.slice((int) offset, (int) filesz), memsz));
            loaded++;
        }
        if (loaded == 0) {
            throw new BootException(name + " has no PT_LOAD segment: link it as an executable");
        }
        return entry;
    }
}

package io.jkvm.machine;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * A guest image parsed and checked before anything is written to guest memory: an ELF64 x86-64 file loads
 * by its PT_LOAD segments at their physical addresses, anything else is a flat binary at a load address.
 */
public record GuestImage(String name, List<Segment> segments, long entry) {

    /** Bytes to place at {@code physical}, followed by zeros up to {@code memorySize}. */
    public record Segment(long physical, byte[] data, long memorySize) {
    }

    public static final long DEFAULT_LOAD_ADDRESS = 0x100000;
    private static final int EM_X86_64 = 62;
    private static final int PT_LOAD = 1;

    public GuestImage {
        segments = List.copyOf(segments);
    }

    public static GuestImage read(Path path, long loadAddress) {
        byte[] bytes;
        try {
            bytes = Files.readAllBytes(path);
        } catch (NoSuchFileException e) {
            throw new MachineException("image " + path + " does not exist: pass --image with the path of a guest ELF or flat binary");
        } catch (IOException e) {
            throw new MachineException("cannot read image " + path + " (" + e.getMessage() + "): check the path and its permissions");
        }
        return parse(path.toString(), bytes, loadAddress);
    }

    /** The guest that ships inside jkvm (src/main/guests/demo.S), used when no --image is given. */
    public static GuestImage bundled() {
        String resource = "/guests/demo.elf";
        try (InputStream in = GuestImage.class.getResourceAsStream(resource)) {
            if (in == null) {
                throw new MachineException("the bundled guest " + resource + " is missing from the jkvm jar: rebuild with scripts/jkvm (needs GNU as and ld)");
            }
            return parse("bundled demo guest", in.readAllBytes(), DEFAULT_LOAD_ADDRESS);
        } catch (IOException e) {
            throw new MachineException("cannot read the bundled guest: " + e.getMessage(), e);
        }
    }

    public static GuestImage parse(String name, byte[] bytes, long loadAddress) {
        if (bytes.length == 0) {
            throw new MachineException("image " + name + " is empty: pass a guest ELF or flat binary");
        }
        if (bytes.length >= 4 && bytes[0] == 0x7F && bytes[1] == 'E' && bytes[2] == 'L' && bytes[3] == 'F') {
            return parseElf(name, bytes);
        }
        return new GuestImage(name, List.of(new Segment(loadAddress, bytes, bytes.length)), loadAddress);
    }

    private static GuestImage parseElf(String name, byte[] bytes) {
        if (bytes.length < 64) {
            throw new MachineException("image " + name + " is a truncated ELF file (" + bytes.length + " bytes): rebuild it");
        }
        if (bytes[4] != 2) {
            throw new MachineException("image " + name + " is a 32-bit ELF: jkvm loads ELF64 x86-64 images (link with -m elf_x86_64)");
        }
        if (bytes[5] != 1) {
            throw new MachineException("image " + name + " is a big-endian ELF: jkvm loads little-endian ELF64 x86-64 images");
        }
        ByteBuffer b = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
        int machine = Short.toUnsignedInt(b.getShort(18));
        if (machine != EM_X86_64) {
            throw new MachineException("image " + name + " is an ELF for " + machineName(machine) + " (e_machine "
                    + machine + "), not x86-64: build the guest for x86-64");
        }
        long entry = b.getLong(24);
        long phoff = b.getLong(32);
        int phentsize = Short.toUnsignedInt(b.getShort(54));
        int phnum = Short.toUnsignedInt(b.getShort(56));
        List<Segment> segments = new ArrayList<>();
        for (int i = 0; i < phnum; i++) {
            long at = phoff + (long) i * phentsize;
            if (phentsize < 56 || at < 0 || at + 56 > bytes.length) {
                throw new MachineException("image " + name + " has a program header table outside the file: the ELF is corrupt");
            }
            int p = (int) at;
            if (b.getInt(p) != PT_LOAD) {
                continue;
            }
            long offset = b.getLong(p + 8);
            long paddr = b.getLong(p + 24);
            long filesz = b.getLong(p + 32);
            long memsz = b.getLong(p + 40);
            if (offset < 0 || filesz < 0 || offset + filesz > bytes.length || memsz < filesz) {
                throw new MachineException("image " + name + " has a PT_LOAD segment outside the file: the ELF is corrupt");
            }
            byte[] data = java.util.Arrays.copyOfRange(bytes, (int) offset, (int) (offset + filesz));
            segments.add(new Segment(paddr, data, memsz));
        }
        if (segments.isEmpty()) {
            throw new MachineException("image " + name + " has no PT_LOAD segment: link it as an executable");
        }
        return new GuestImage(name, segments, entry);
    }

    private static String machineName(int machine) {
        return switch (machine) {
            case 3 -> "i386";
            case 40 -> "ARM";
            case 183 -> "AArch64";
            case 243 -> "RISC-V";
            case 8 -> "MIPS";
            case 20 -> "PowerPC";
            case 21 -> "PowerPC64";
            case 22 -> "s390";
            default -> "another architecture";
        };
    }

    /** Checks every segment fits in RAM and misses the boot region, then copies them in. Nothing is written on error. */
    public void loadInto(GuestMemory memory) {
        long reservedStart = LongModeBoot.reservedStart();
        long reservedEnd = LongModeBoot.reservedEnd(memory.size());
        for (Segment s : segments) {
            if (!memory.contains(s.physical(), s.memorySize())) {
                throw new MachineException(String.format("image %s (%d bytes at 0x%x) does not fit in %s of guest RAM: raise --mem",
                        name, s.memorySize(), s.physical(), MemorySize.format(memory.size())));
            }
            if (s.physical() < reservedEnd && s.physical() + s.memorySize() > reservedStart) {
                throw new MachineException(String.format("image %s loads at 0x%x-0x%x, over jkvm's boot tables at 0x%x-0x%x: load it at or above 0x100000",
                        name, s.physical(), s.physical() + s.memorySize(), reservedStart, reservedEnd));
            }
        }
        for (Segment s : segments) {
            memory.write(s.physical(), s.data(), 0, s.data().length);
            memory.zero(s.physical() + s.data().length, s.memorySize() - s.data().length);
        }
    }
}

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

    /**
     * Reads an image of at most {@code maxSize} bytes (guest RAM: a larger one cannot load). Only a regular file is
     * opened (a FIFO without a writer would block open(2) forever, /dev/zero never ends), and its size is checked
     * before it is read.
     */
    public static GuestImage read(Path path, long loadAddress, long maxSize) {
        String name = path.toString();
        if (name.isEmpty()) {
            throw new MachineException("--image is empty: pass the path of a guest ELF or flat binary");
        }
        java.nio.file.attribute.BasicFileAttributes attributes;
        try {
            attributes = Files.readAttributes(path, java.nio.file.attribute.BasicFileAttributes.class);
        } catch (NoSuchFileException e) {
            throw new MachineException("image " + name + " does not exist: pass --image with the path of a guest ELF or flat binary");
        } catch (IOException e) {
            throw new MachineException("cannot read image " + name + " (" + reason(e) + "): check the path and its permissions");
        }
        if (attributes.isDirectory()) {
            throw new MachineException("image " + name + " is a directory: pass --image with the path of a guest ELF or flat binary");
        }
        if (!attributes.isRegularFile()) {
            throw new MachineException("image " + name + " is not a regular file (a FIFO, device or socket): copy the guest into a file and pass that");
        }
        if (attributes.size() > maxSize) {
            throw new MachineException(String.format("image %s is %d bytes, more than the %s of guest RAM: raise --mem or use a smaller image",
                    name, attributes.size(), MemorySize.format(maxSize)));
        }
        byte[] bytes;
        try (InputStream in = Files.newInputStream(path)) {
            bytes = in.readNBytes((int) Math.min(maxSize, Integer.MAX_VALUE - 8) + 1);
        } catch (IOException e) {
            throw new MachineException("cannot read image " + name + " (" + reason(e) + "): check the path and its permissions");
        }
        if (bytes.length > maxSize) {
            throw new MachineException("image " + name + " grew past the " + MemorySize.format(maxSize) + " of guest RAM while it was read: raise --mem");
        }
        return parse(name, bytes, loadAddress);
    }

    /** Whether a readable regular file starts with the ELF magic (for options that only apply to flat binaries). */
    public static boolean isElf(Path path) {
        try (InputStream in = Files.newInputStream(path)) {
            return hasElfMagic(in.readNBytes(4));
        } catch (IOException e) {
            return false; // read() reports why it cannot be read
        }
    }

    /** Whether {@code bytes} start with the ELF magic, 0x7F 'E' 'L' 'F'. */
    static boolean hasElfMagic(byte[] bytes) {
        return bytes.length >= 4 && bytes[0] == 0x7F && bytes[1] == 'E' && bytes[2] == 'L' && bytes[3] == 'F';
    }

    private static String reason(IOException e) {
        if (e instanceof java.nio.file.AccessDeniedException) {
            return "permission denied";
        }
        String m = e.getMessage();
        return m == null ? e.getClass().getSimpleName() : m;
    }

    /** The guest that ships inside jkvm (src/main/guests/demo.S), used when no --image is given. */
    public static GuestImage bundled() {
        return parse("bundled demo guest", bundledBytes("demo.elf", "the bundled guest"), DEFAULT_LOAD_ADDRESS);
    }

    /** The bytes of {@code file}, a guest the build puts in jkvm's jar (src/main/guests), named {@code what} in errors. */
    public static byte[] bundledBytes(String file, String what) {
        String resource = "/guests/" + file;
        try (InputStream in = GuestImage.class.getResourceAsStream(resource)) {
            if (in == null) {
                throw new MachineException(what + " " + resource + " is missing from the jkvm jar: rebuild with scripts/jkvm (needs GNU as and ld)");
            }
            return in.readAllBytes();
        } catch (IOException e) {
            throw new MachineException("cannot read " + what + ": " + e.getMessage(), e);
        }
    }

    public static GuestImage parse(String name, byte[] bytes, long loadAddress) {
        if (bytes.length == 0) {
            throw new MachineException("image " + name + " is empty: pass a guest ELF or flat binary");
        }
        if (hasElfMagic(bytes)) {
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
            long at = phoff + (long) i * phentsize; // phoff may be anything: compared without overflow below
            if (phentsize < 56 || phoff < 0 || phoff > bytes.length || at < 0 || at > bytes.length - 56) {
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
            if (offset < 0 || filesz < 0 || offset > bytes.length || filesz > bytes.length - offset) {
                throw new MachineException("image " + name + " has a PT_LOAD segment outside the file: the ELF is corrupt");
            }
            if (memsz < filesz || paddr < 0 || memsz > Long.MAX_VALUE - paddr) {
                throw new MachineException(String.format("image %s has a PT_LOAD segment of %d bytes in memory at 0x%x, which no RAM"
                        + " holds (p_memsz below p_filesz, or past the end of the address space): the ELF is corrupt", name, memsz, paddr));
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

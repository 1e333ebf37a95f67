package io.jkvm.fuzz;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

/**
 * Random flat images and mutations of built guests (ELF and flat). Nothing is known of what they do, so the
 * contract's 0 and 2 are allowed, an odd status only when the image holds an OUT that can reach port 0xF4, and
 * running on until killed is no violation.
 */
final class RandomImages {
    private RandomImages() {
    }

    /** A mutated or random image, and how it came to be. */
    record Image(String kind, byte[] bytes, boolean elf) {
    }

    /** Opcodes that reach ports, change modes or tables, or prefix others: a biased image is dense in them. */
    private static final int[] SYSTEM_BYTES = {0xE4, 0xE5, 0xE6, 0xE7, 0xEC, 0xED, 0xEE, 0xEF, 0x6C, 0x6D, 0x6E, 0x6F,
            0xF3, 0xF2, 0x66, 0x67, 0x48, 0x0F, 0x01, 0x22, 0x30, 0x32, 0xA2, 0xAE, 0xC7, 0xCF, 0xFA, 0xFB, 0xF4, 0x8E,
            0xA4, 0xA5, 0xAA, 0xAB, 0xD5, 0x62, 0xC4, 0xC5, 0xF0, 0xCD};

    static Image random(Random r) {
        byte[] b = new byte[4096];
        switch (r.nextInt(3)) {
            case 0 -> {
                r.nextBytes(b);
                return new Image("random:uniform", b, false);
            }
            case 1 -> {
                r.nextBytes(b);
                for (int i = 0; i < b.length; i++) {
                    if (r.nextInt(3) == 0) {
                        b[i] = (byte) SYSTEM_BYTES[r.nextInt(SYSTEM_BYTES.length)];
                    }
                }
                return new Image("random:system-opcodes", b, false);
            }
            default -> { // an ELF header over random bytes: the loader's checks, then whatever loads
                r.nextBytes(b);
                ByteBuffer h = ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN);
                h.put(0, new byte[]{0x7F, 'E', 'L', 'F', 2, 1, 1});
                h.putShort(18, (short) 62);
                if (r.nextBoolean()) {
                    h.putLong(32, 64).putShort(54, (short) 56).putShort(56, (short) (1 + r.nextInt(3)));
                    h.putInt(64, 1).putLong(72, 0x1000).putLong(88, 0x100000).putLong(96, 0x1000)
                            .putLong(104, r.nextBoolean() ? 0x1000 : r.nextLong());
                    h.putLong(24, 0x100000 + r.nextInt(0x1000));
                }
                return new Image("random:elf-header", b, true);
            }
        }
    }

    /** {@code original} (a built test guest called {@code name}) with one of several mutations. */
    static Image mutate(Random r, String name, byte[] original) {
        byte[] b = original.clone();
        boolean elf = name.endsWith(".elf");
        String how;
        switch (r.nextInt(elf ? 6 : 4)) {
            case 0 -> {
                int flips = 1 + r.nextInt(16);
                for (int i = 0; i < flips; i++) {
                    int at = r.nextInt(b.length);
                    b[at] ^= (byte) (1 << r.nextInt(8));
                }
                how = "bit-flips";
            }
            case 1 -> {
                int n = 1 + r.nextInt(16);
                int[] interesting = {0x00, 0xFF, 0x7F, 0x80, 0xF4, 0xCC, 0x0F, 0xE6, 0xEB, 0xFE};
                for (int i = 0; i < n; i++) {
                    b[r.nextInt(b.length)] = (byte) (r.nextBoolean() ? interesting[r.nextInt(interesting.length)] : r.nextInt(256));
                }
                how = "bytes";
            }
            case 2 -> {
                b = Arrays.copyOf(b, 1 + r.nextInt(b.length));
                how = "truncated";
            }
            case 3 -> { // a run of random bytes spliced in, or a chunk copied over another place
                int at = r.nextInt(b.length);
                int len = 1 + r.nextInt(Math.min(256, b.length - at));
                if (r.nextBoolean()) {
                    byte[] chunk = new byte[len];
                    r.nextBytes(chunk);
                    System.arraycopy(chunk, 0, b, at, len);
                } else {
                    System.arraycopy(b, r.nextInt(b.length - len + 1), b, at, len);
                }
                how = "splice";
            }
            case 4 -> { // an ELF header or program header field set to a value at an edge
                how = "elf-field:" + setElfField(r, b);
            }
            default -> { // only the code of the first PT_LOAD: the image still loads, the code is damaged
                ByteBuffer h = ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN);
                long offset = h.getLong(64 + 8);
                long size = h.getLong(64 + 32);
                int flips = 1 + r.nextInt(8);
                boolean inFile = offset >= 0 && size > 0 && offset <= b.length - size;
                for (int i = 0; i < flips && inFile; i++) {
                    b[(int) (offset + r.nextLong(size))] ^= (byte) (1 << r.nextInt(8));
                }
                how = "code-bit-flips";
            }
        }
        return new Image("mutated:" + name + ":" + how, b, elf);
    }

    private static String setElfField(Random r, byte[] b) {
        record Field(String name, int offset, int size) {
        }
        int phoff = 64; // where ld puts the program headers of the test guests
        int ph = phoff + 56 * r.nextInt(2);
        List<Field> fields = List.of(new Field("e_entry", 24, 8), new Field("e_phoff", 32, 8),
                new Field("e_phentsize", 54, 2), new Field("e_phnum", 56, 2), new Field("e_ident_class", 4, 1),
                new Field("e_machine", 18, 2), new Field("p_type", ph, 4), new Field("p_offset", ph + 8, 8),
                new Field("p_paddr", ph + 24, 8), new Field("p_filesz", ph + 32, 8), new Field("p_memsz", ph + 40, 8));
        Field f = fields.get(r.nextInt(fields.size()));
        long[] edges = {0, 1, -1, Long.MAX_VALUE, Long.MIN_VALUE, Integer.MAX_VALUE, 0x8000_0000L, 0xFFFF_FFFFL,
                0x1_0000_0000L, b.length, b.length + 1, 0x10_0000, 0x4_0000_0000L, 0xFFFF, 56, 64,
                Long.MAX_VALUE - 0x1000, r.nextLong(), r.nextInt(0x20_0000)};
        long v = edges[r.nextInt(edges.length)];
        ByteBuffer h = ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN);
        if (f.offset() + f.size() <= b.length) {
            switch (f.size()) {
                case 1 -> h.put(f.offset(), (byte) v);
                case 2 -> h.putShort(f.offset(), (short) v);
                case 4 -> h.putInt(f.offset(), (int) v);
                default -> h.putLong(f.offset(), v);
            }
        }
        return f.name() + "=0x" + Long.toHexString(v);
    }

    /** True when the bytes hold an OUT that could write port 0xF4: imm8 0xF4 forms, or any form with the port in DX. */
    static boolean canWriteDebugExit(byte[] b) {
        for (int i = 0; i < b.length; i++) {
            int op = b[i] & 0xFF;
            if (op == 0xEE || op == 0xEF || op == 0x6E || op == 0x6F) {
                return true;
            }
            if ((op == 0xE6 || op == 0xE7) && i + 1 < b.length && (b[i + 1] & 0xFF) == 0xF4) {
                return true;
            }
        }
        return false;
    }
}

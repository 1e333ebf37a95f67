package io.jkvm.machine;

import io.jkvm.testing.SeededProperty;
import io.jkvm.testing.TestGuests;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Fuzz target for the image loader: whatever the bytes, GuestImage.parse returns an image or refuses it with a
 * MachineException whose message is one line starting "image " (never another exception, never a hang), and so
 * does loading a returned image into guest RAM. Seeded (SeededProperty): the same inputs in every CI run.
 */
class GuestImageFuzzTest {
    private static final int TRIES = SeededProperty.tries(300);
    /** The test guests' ELF files, the seeds of the mutations. */
    private static final List<byte[]> GUESTS = builtElfGuests();
    /** Values at the edges of the checks: signs, overflows, the file's own offsets. */
    private static final long[] EDGES = {0, 1, -1, 56, 64, 0x1000, 0x100000, Long.MAX_VALUE, Long.MIN_VALUE,
            Long.MAX_VALUE - 55, Long.MAX_VALUE - 0x1000, 0x7FFF_FFFFL, 0x8000_0000L, 0xFFFF_FFFFL, 0x1_0000_0000L};

    @Test
    void anyBytesLoadOrAreRefusedInOneLine() {
        bytesProperty("any bytes", r -> {
            byte[] b = new byte[r.nextInt(513)];
            r.nextBytes(b);
            if (r.nextInt(4) == 0 && b.length >= 4) { // the ELF magic, so the ELF checks see arbitrary bytes too
                System.arraycopy(new byte[]{0x7F, 'E', 'L', 'F'}, 0, b, 0, 4);
            }
            return b;
        });
    }

    @Test
    void elfHeadersWithAnyFieldsLoadOrAreRefusedInOneLine() {
        bytesProperty("ELF headers", GuestImageFuzzTest::elfHeader);
    }

    @Test
    void mutatedGuestsLoadOrAreRefusedInOneLine() {
        bytesProperty("mutated guests", GuestImageFuzzTest::mutatedGuest);
    }

    private static void bytesProperty(String name, java.util.function.Function<Random, byte[]> generator) {
        new SeededProperty<>(name, generator, SeededProperty::smallerBytes, b -> HexFormat.of().formatHex(b))
                .check(TRIES, GuestImageFuzzTest::parsesOrRefuses);
    }

    private static void parsesOrRefuses(byte[] bytes) {
        GuestImage image;
        try {
            image = assertTimeoutPreemptively(Duration.ofSeconds(5),
                    () -> GuestImage.parse("fuzz.img", bytes, GuestImage.DEFAULT_LOAD_ADDRESS), "GuestImage.parse took more than 5 s");
        } catch (MachineException e) {
            assertRefusal(e, "parse");
            return;
        } catch (RuntimeException e) {
            throw new SeededProperty.Broken("GuestImage.parse threw " + e.getClass().getName() + ", not a MachineException",
                    String.valueOf(e.getMessage()));
        }
        for (GuestImage.Segment s : image.segments()) {
            assertTrue(s.memorySize() >= s.data().length, "a segment's memory size covers its bytes");
        }
        try (GuestMemory memory = GuestMemory.allocate(4L << 20)) {
            assertTimeoutPreemptively(Duration.ofSeconds(5), () -> image.loadInto(memory), "loadInto took more than 5 s");
        } catch (MachineException e) {
            assertRefusal(e, "loadInto");
        } catch (RuntimeException e) {
            throw new SeededProperty.Broken("GuestImage.loadInto threw " + e.getClass().getName() + ", not a MachineException",
                    String.valueOf(e.getMessage()));
        }
    }

    private static void assertRefusal(MachineException e, String where) {
        String m = e.getMessage();
        if (m == null || !m.startsWith("image ") || m.contains("\n") || m.contains("\r")) {
            throw new SeededProperty.Broken(where + " refused with a message that is not one line starting 'image '", String.valueOf(m));
        }
    }

    private static long field(Random r) {
        return switch (r.nextInt(3)) {
            case 0 -> EDGES[r.nextInt(EDGES.length)];
            case 1 -> r.nextInt(0x2000);
            default -> r.nextLong();
        };
    }

    private static int shortField(Random r) {
        int[] edges = {0, 1, 2, 55, 56, 57, 64, 0xFFFF};
        return r.nextBoolean() ? edges[r.nextInt(edges.length)] : r.nextInt(0x10000);
    }

    /** A 64-bit little-endian x86-64 ELF header (mostly) with two program headers of arbitrary or edge-case fields. */
    private static byte[] elfHeader(Random r) {
        byte[] tail = new byte[r.nextInt(513)];
        r.nextBytes(tail);
        ByteBuffer b = ByteBuffer.allocate(64 + 2 * 56 + tail.length).order(ByteOrder.LITTLE_ENDIAN);
        b.put(new byte[]{0x7F, 'E', 'L', 'F', (byte) (r.nextInt(4) == 0 ? r.nextInt(4) : 2), 1, 1});
        b.putShort(18, (short) (r.nextInt(4) == 0 ? r.nextInt(300) : 62)).putLong(24, field(r));
        b.putLong(32, r.nextBoolean() ? 64 : field(r)).putShort(54, (short) (r.nextBoolean() ? 56 : shortField(r)))
                .putShort(56, (short) (r.nextBoolean() ? 1 + r.nextInt(2) : shortField(r)));
        for (int i = 0; i < 2; i++) {
            int p = 64 + 56 * i;
            b.putInt(p, r.nextInt(4) == 0 ? r.nextInt() : 1).putLong(p + 8, field(r)).putLong(p + 24, field(r))
                    .putLong(p + 32, field(r)).putLong(p + 40, field(r));
        }
        b.put(64 + 2 * 56, tail);
        return b.array();
    }

    /** A built test guest with header fields set to edge values, bits flipped, and one time in ten cut short. */
    private static byte[] mutatedGuest(Random r) {
        byte[] b = GUESTS.get(r.nextInt(GUESTS.size())).clone();
        int[] offsets = {4, 5, 18, 24, 32, 54, 56, 64, 72, 88, 96, 104, 120, 128, 144, 152, 160};
        ByteBuffer h = ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = r.nextInt(5); i > 0; i--) {
            int at = offsets[r.nextInt(offsets.length)];
            long v = field(r);
            switch (1 << r.nextInt(4)) {
                case 1 -> h.put(at, (byte) v);
                case 2 -> h.putShort(at, (short) v);
                case 4 -> h.putInt(at, (int) v);
                default -> h.putLong(at, v);
            }
        }
        for (int i = r.nextInt(9); i > 0; i--) {
            b[r.nextInt(b.length)] ^= (byte) (1 << r.nextInt(8));
        }
        return r.nextInt(10) == 0 ? Arrays.copyOf(b, 1 + r.nextInt(b.length)) : b;
    }

    private static List<byte[]> builtElfGuests() {
        Path dir = TestGuests.path("halt.elf").getParent();
        try (Stream<Path> files = Files.list(dir)) {
            return files.filter(p -> p.toString().endsWith(".elf")).sorted().map(p -> {
                try {
                    return Files.readAllBytes(p);
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            }).toList();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}

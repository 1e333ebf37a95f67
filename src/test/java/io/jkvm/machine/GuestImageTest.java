package io.jkvm.machine;

import io.jkvm.testing.TestGuests;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class GuestImageTest {

    private static byte[] elf() throws Exception {
        return Files.readAllBytes(TestGuests.path("exit42.elf"));
    }

    @Test
    void elfLoadsByPtLoadAtItsPhysicalAddressAndEntersAtEntry() throws Exception {
        GuestImage image = GuestImage.parse("exit42.elf", elf(), 0x555000);
        assertEquals(0x100000, image.entry());
        assertEquals(1, image.segments().size());
        assertEquals(0x100000, image.segments().getFirst().physical());
        byte[] flat = Files.readAllBytes(TestGuests.path("exit42.bin"));
        assertArrayEquals(flat, image.segments().getFirst().data(), "the PT_LOAD bytes are what objcopy extracts");
    }

    @Test
    void anythingElseIsFlatAtTheLoadAddress() {
        GuestImage image = GuestImage.parse("raw", new byte[]{(byte) 0xF4}, 0x200000);
        assertEquals(0x200000, image.entry());
        assertEquals(0x200000, image.segments().getFirst().physical());
    }

    @Test
    void bssIsZeroedAndNothingIsWrittenWhenASegmentDoesNotFit() {
        try (GuestMemory m = GuestMemory.allocate(4L << 20)) {
            m.writeLong(0x100008, -1);
            new GuestImage("x", java.util.List.of(new GuestImage.Segment(0x100000, new byte[]{1, 2}, 16)), 0x100000).loadInto(m);
            assertEquals(0x0201, m.readInt(0x100000) & 0xFFFF);
            assertEquals(0, m.readLong(0x100008), "memsz beyond filesz is zeroed");

            GuestImage split = new GuestImage("y", java.util.List.of(
                    new GuestImage.Segment(0x200000, new byte[]{7}, 1),
                    new GuestImage.Segment(0x3FFFFF, new byte[]{7, 7}, 2)), 0x200000);
            MachineException e = assertThrows(MachineException.class, () -> split.loadInto(m));
            assertEquals("image y (2 bytes at 0x3fffff) does not fit in 4M of guest RAM: raise --mem", e.getMessage());
            assertEquals(0, m.readByte(0x200000), "the first segment was not written either");
        }
    }

    @Test
    void anImageOverTheBootTablesIsRefused() {
        try (GuestMemory m = GuestMemory.allocate(4L << 20)) {
            GuestImage low = GuestImage.parse("low", new byte[64], 0x2000);
            MachineException e = assertThrows(MachineException.class, () -> low.loadInto(m));
            assertEquals("image low loads at 0x2000-0x2040, over jkvm's boot tables at 0x1000-0x8000: load it at or above 0x100000",
                    e.getMessage());
        }
    }

    @Test
    void badElvesAreNamed() throws Exception {
        byte[] arm = elf();
        ByteBuffer.wrap(arm).order(ByteOrder.LITTLE_ENDIAN).putShort(18, (short) 183);
        assertEquals("image a.elf is an ELF for AArch64 (e_machine 183), not x86-64: build the guest for x86-64",
                assertThrows(MachineException.class, () -> GuestImage.parse("a.elf", arm, 0)).getMessage());

        byte[] elf32 = elf();
        elf32[4] = 1;
        assertTrue(assertThrows(MachineException.class, () -> GuestImage.parse("b.elf", elf32, 0)).getMessage()
                .startsWith("image b.elf is a 32-bit ELF"));

        byte[] truncated = java.util.Arrays.copyOf(elf(), 40);
        assertTrue(assertThrows(MachineException.class, () -> GuestImage.parse("c.elf", truncated, 0)).getMessage()
                .startsWith("image c.elf is a truncated ELF file"));

        byte[] cut = java.util.Arrays.copyOf(elf(), 200); // headers intact, segment data gone
        assertEquals("image d.elf has a PT_LOAD segment outside the file: the ELF is corrupt",
                assertThrows(MachineException.class, () -> GuestImage.parse("d.elf", cut, 0)).getMessage());

        assertEquals("image e is empty: pass a guest ELF or flat binary",
                assertThrows(MachineException.class, () -> GuestImage.parse("e", new byte[0], 0)).getMessage());
    }

    @Test
    void theBundledGuestShipsInTheJar() {
        GuestImage demo = GuestImage.bundled();
        assertEquals(0x100000, demo.entry());
        assertTrue(demo.segments().getFirst().data().length > 100);
    }
}

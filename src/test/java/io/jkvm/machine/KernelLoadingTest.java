package io.jkvm.machine;

import io.jkvm.boot.BootImage;
import io.jkvm.testing.TestGuests;
import io.jkvm.x86.RamLayout;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Optional;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A kernel file placed in guest RAM from its mapping: no copy of it in the Java heap, and a file cut short in one line. */
class KernelLoadingTest {
    private static final RamLayout RAM = RamLayout.pc(64L << 20);

    private static KernelLoading.Loaded load(Path kernel) {
        return KernelLoading.load(new KernelConfig(kernel, "", Optional.empty(), false), RAM);
    }

    @Test
    void aKernelsSegmentsAreViewsOfItsFileAndLandInRamAsItHoldsThem(@TempDir Path dir) throws Exception {
        Path kernel = Files.copy(TestGuests.path("multiboot_smp.elf"), dir.resolve("kernel.elf"));
        KernelLoading.Loaded loaded = load(kernel);
        BootImage.Chunk text = loaded.image().chunks().getFirst();
        assertTrue(text.data().isDirect(), "the segment is the file's mapping, not a copy in the Java heap");
        byte[] file = Files.readAllBytes(kernel);
        int at = indexOf(file, text.bytes());
        assertTrue(at > 0, "the segment's bytes are the file's, after its headers");
        try (GuestMemory memory = GuestMemory.allocate(RAM)) {
            KernelLoading.write(loaded, memory);
            byte[] placed = new byte[text.length()];
            memory.read(text.address(), placed);
            assertArrayEquals(text.bytes(), placed);
        }
    }

    @Test
    void aKernelFileCutShortBeforeItIsPlacedIsOneLineAndNoCrash(@TempDir Path dir) throws Exception {
        Path kernel = Files.copy(TestGuests.path("multiboot_smp.elf"), dir.resolve("kernel.elf"));
        KernelLoading.Loaded loaded = load(kernel);
        try (FileChannel f = FileChannel.open(kernel, StandardOpenOption.WRITE)) {
            f.truncate(0); // the mapping's pages now lie past the file's end: reading them is SIGBUS
        }
        try (GuestMemory memory = GuestMemory.allocate(RAM)) {
            MachineException e = assertThrows(MachineException.class, () -> KernelLoading.write(loaded, memory));
            assertEquals("the --kernel or --initrd file shrank while jkvm copied it into guest RAM: keep it unchanged while the"
                    + " machine starts", e.getMessage());
        }
    }

    private static int indexOf(byte[] in, byte[] what) {
        outer:
        for (int i = 0; i + what.length <= in.length; i++) {
            for (int j = 0; j < what.length; j++) {
                if (in[i + j] != what[j]) {
                    continue outer;
                }
            }
            return i;
        }
        return -1;
    }
}

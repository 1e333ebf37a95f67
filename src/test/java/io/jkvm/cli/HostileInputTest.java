package io.jkvm.cli;

import io.jkvm.testing.Cli;
import io.jkvm.testing.RequiresKvm;
import io.jkvm.testing.TestGuests;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * What a careless user or an attacker can hand `jkvm run`: each gets one line naming the thing and the fix, status 2,
 * and nothing blocks or reads without bound. The guest's own debug-exit status, whatever its size, can be had whole.
 */
class HostileInputTest {
    @TempDir
    Path dir;

    private static void assertOneLine(Cli.Result r, String start) {
        assertEquals(2, r.status(), r.out() + r.err());
        assertTrue(r.errorLine().startsWith(start), r.errorLine());
        assertEquals(1, r.err().lines().count(), "one line on stderr: " + r.err());
    }

    @Test
    @Timeout(20)
    void aDeviceOrAFifoIsRefusedWithoutReadingOrBlocking() throws Exception {
        assertOneLine(Cli.run("run", "--backend", "emulator", "--image", "/dev/zero"),
                "jkvm: image /dev/zero is not a regular file (a FIFO, device or socket)");
        Path fifo = dir.resolve("guest.fifo");
        assertEquals(0, new ProcessBuilder("mkfifo", fifo.toString()).start().waitFor());
        assertOneLine(Cli.run("run", "--backend", "emulator", "--image", fifo.toString()),
                "jkvm: image " + fifo + " is not a regular file");
        assertOneLine(Cli.run("run", "--backend", "emulator", "--image", dir.toString()), "jkvm: image " + dir + " is a directory");
        assertOneLine(Cli.run("run", "--backend", "emulator", "--image", ""), "jkvm: --image is empty");
        Cli.Result cr = Cli.run("run", "--backend", "emulator", "--image", "/tmp/no\rsuch");
        assertOneLine(cr, "jkvm: image /tmp/no such does not exist");
        assertTrue(cr.err().chars().noneMatch(c -> c == '\r'), "no carriage return reaches the terminal");
        Cli.Result mem = Cli.run("run", "--backend", "emulator", "--mem", "6\r4M");
        assertEquals(2, mem.status());
        assertTrue(mem.err().chars().noneMatch(c -> c == '\r') && mem.err().lines().count() == 1, mem.err());
    }

    @Test
    @RequiresKvm
    void vcpuCountsPastTheLimitsAreNamed() {
        assertOneLine(Cli.run("run", "--backend", "emulator", "--cpus", "2147483647"),
                "jkvm: --cpus 2147483647 is more than jkvm runs: use at most 256");
        assertOneLine(Cli.run("run", "--backend", "emulator", "--cpus", "257"), "jkvm: --cpus 257 is more than jkvm runs: use at most 256");
        assertOneLine(Cli.run("run", "--backend", "emulator", "--cpus", "256", "--kernel", TestGuests.path("multiboot_smp.elf").toString()),
                "jkvm: --cpus 256 with --kernel: a PC's xAPIC addresses 255 processors (APIC ID 255 is its broadcast): use at most 255");
        assertOneLine(Cli.run("run", "--cpu", ","), "jkvm: --cpu ,: no CPU model named");
        assertOneLine(Cli.run("run", "--cpu", "host,+apx\nEVIL"), "jkvm: --cpu host,+apx?EVIL: the CPU model has a control character in it");
    }

    @Test
    void loadAddrIsRefusedWhereNoFlatBinaryIsLoaded() {
        assertOneLine(Cli.run("run", "--load-addr", "0x200000"), "jkvm: --load-addr places a flat binary, and the bundled guest is an ELF");
        String elf = TestGuests.path("exit42.elf").toString();
        assertOneLine(Cli.run("run", "--load-addr", "0x200000", "--image", elf), "jkvm: --load-addr places a flat binary, and " + elf + " is an ELF");
    }

    @Test
    void corruptElfOffsetsAreNamedAsACorruptElf() throws IOException {
        byte[] elf = Files.readAllBytes(TestGuests.path("exit42.elf"));
        ByteBuffer b = ByteBuffer.wrap(elf.clone()).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(32, 0x7FFF_FFFF_FFFF_FFF0L); // e_phoff near the top: phoff + 56 overflows
        Path hugePhoff = dir.resolve("phoff.elf");
        Files.write(hugePhoff, b.array());
        assertOneLine(Cli.run("run", "--backend", "emulator", "--image", hugePhoff.toString()),
                "jkvm: image " + hugePhoff + " has a program header table outside the file: the ELF is corrupt");

        ByteBuffer c = ByteBuffer.wrap(elf.clone()).order(ByteOrder.LITTLE_ENDIAN);
        int phoff = (int) c.getLong(32);
        c.putLong(phoff + 8, Long.MAX_VALUE); // p_offset of the first program header
        Path hugeOffset = dir.resolve("offset.elf");
        Files.write(hugeOffset, c.array());
        assertOneLine(Cli.run("run", "--backend", "emulator", "--image", hugeOffset.toString()),
                "jkvm: image " + hugeOffset + " has a PT_LOAD segment outside the file: the ELF is corrupt");
    }

    @Test
    void theSoftwareCoreRunsWhereKvmCannotBeOpened() {
        Cli.Result r = Cli.run("run", "--backend", "emulator", "--kvm", "/nonexistent/kvm");
        assertEquals(1, r.status(), r.err());
        assertTrue(r.out().contains("exiting through debug-exit (v=0)"), r.out());
        assertEquals("", r.err());
    }

    @Test
    void aDebugExitValueOver0x7fKeepsItsWholeStatusInTheStatusFile() throws IOException {
        Path guest = dir.resolve("exit80.bin");
        Files.write(guest, new byte[]{(byte) 0xB0, (byte) 0x80, (byte) 0xE6, (byte) 0xF4}); // mov al, 0x80; out 0xF4, al
        Path status = dir.resolve("status");
        Cli.Result r = Cli.run("run", "--backend", "emulator", "--image", guest.toString(), "--exit-status-file", status.toString());
        assertEquals(0x101, r.status(), "(0x80 << 1) | 1, which the operating system cuts to 1");
        assertEquals("257\n", Files.readString(status));
    }
}

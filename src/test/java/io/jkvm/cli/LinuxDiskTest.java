package io.jkvm.cli;

import io.jkvm.testing.LinuxGuest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Debian's own kernel (linux-image-amd64's, fetched by scripts/linux-guest) boots on the software core with two vCPUs
 * through the Linux boot protocol (ACPI's MADT brings up both processors), runs the busybox initramfs this test builds
 * as /init, and `poweroff -f` ends `jkvm run` with status 0 through ACPI S5. On the way it drives jkvm's virtio
 * devices on virtio-mmio, found through the DSDT: its own virtio_blk reads a disk
 * image, writes and flushes it, and discards a range of it; a second disk given ,ro is read-only to it; a third, made
 * by the host's mkfs.ext4, the guest mounts and writes a file on, which the host's debugfs reads back from the image;
 * virtio-rng feeds /dev/hwrng. The image files hold what the guest wrote once `jkvm run` ends. jkvm runs in a process
 * of its own under --sandbox on, so all of this passes through the system calls its filter allows.
 */
class LinuxDiskTest {
    @TempDir
    Path dir;

    /** A host command's standard output (its errors discarded); it must succeed. */
    private static String run(String... command) throws Exception {
        Process p = new ProcessBuilder(command).redirectError(ProcessBuilder.Redirect.DISCARD).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.US_ASCII);
        assertTrue(p.waitFor(60, java.util.concurrent.TimeUnit.SECONDS) && p.exitValue() == 0, String.join(" ", command));
        return out;
    }

    @Test
    @Timeout(600)
    void linuxReadsWritesFlushesAndDiscardsAVirtioDiskAndReadsTheHostsEntropy() throws Exception {
        Path guest = LinuxGuest.guest();
        Path disk = dir.resolve("disk.img");
        byte[] image = new byte[8 << 20];
        byte[] signature = "jkvm disk signature".getBytes(StandardCharsets.US_ASCII);
        System.arraycopy(signature, 0, image, 0, signature.length);
        Arrays.fill(image, 8192, 12288, (byte) 0x5A); // sectors 16-23: what the guest discards
        Files.write(disk, image);
        Path readOnly = dir.resolve("ro.img");
        byte[] roImage = new byte[1 << 20];
        System.arraycopy("read-only disk".getBytes(StandardCharsets.US_ASCII), 0, roImage, 0, 14);
        Files.write(readOnly, roImage);
        Path ext4 = dir.resolve("ext4.img"); // made by the host's mkfs.ext4, written by the guest, read back by debugfs
        Files.write(ext4, new byte[16 << 20]);
        run("mkfs.ext4", "-q", "-F", ext4.toString());
        Path initrd = LinuxGuest.initrdWithVirtio(dir, """
                echo "jkvm: Linux $(uname -r) is up with $(grep -c ^processor /proc/cpuinfo) processors"
                for cpu in 0 1; do
                  taskset -c $cpu sh -c 'i=0; while [ $i -lt 3000 ]; do i=$((i+1)); done; echo "jkvm: work pinned to $0 ran on $(cut -d" " -f39 /proc/self/stat) ($i loops)"' $cpu
                done
                echo "jkvm: vda has $(cat /sys/block/vda/size) sectors, vdb ro=$(cat /sys/block/vdb/ro)"
                echo "jkvm: vda starts with '$(head -c 19 /dev/vda)', vdb with '$(head -c 14 /dev/vdb)'"
                printf 'written by Linux' | dd of=/dev/vda bs=512 seek=2 conv=sync,fsync 2>/dev/null && echo "jkvm: write ok"
                blkdiscard -o 8192 -l 4096 /dev/vda && echo "jkvm: discard ok"
                echo "jkvm: sector 16 now reads '$(dd if=/dev/vda bs=512 skip=16 count=1 2>/dev/null | od -An -tx1 | head -1 | tr -d ' ')'"
                printf x | dd of=/dev/vdb conv=fsync 2>/dev/null || echo "jkvm: vdb refused the write"
                mkdir /mnt && mount -t ext4 /dev/vdc /mnt && seq 1 20000 > /mnt/numbers && umount /mnt && echo "jkvm: ext4 written"
                echo "jkvm: numbers $(seq 1 20000 | md5sum | cut -c1-32)"
                echo "jkvm: rng $(cat /sys/class/misc/hw_random/rng_current) gave $(head -c 16 /dev/hwrng | od -An -tx1 | tr -d ' \\n')"
                poweroff -f
                """);
        // A jkvm process of its own under the sandbox: the disks are open before it goes up, and what the guest does
        // to them (reads, writes, flushes, discards) passes through the system calls it allows
        Path log = dir.resolve("jkvm.out");
        Process jkvm = new ProcessBuilder(io.jkvm.testing.ChildJvm.jkvm("run", "--backend", "emulator", "--cpus", "2", "--mem", "256M", "--kernel",
                guest.resolve("vmlinuz").toString(), "--initrd", initrd.toString(), "--append", "console=ttyS0 panic=-1",
                "--device", "virtio-rng", "--disk", disk.toString(), "--disk", readOnly + ",ro", "--disk", ext4.toString(),
                "--sandbox", "on")).redirectErrorStream(true).redirectOutput(log.toFile()).start();
        assertTrue(jkvm.waitFor(570, java.util.concurrent.TimeUnit.SECONDS), "jkvm did not end");
        String out = Files.readString(log);
        assertTrue(out.matches("(?s).*jkvm: Linux \\d+\\.\\d+\\.\\d+-\\d+-amd64 is up with 2 processors.*"), out);
        assertTrue(out.contains("ACPI: PM: Preparing to enter system sleep state S5"), out);
        assertTrue(out.contains("jkvm: work pinned to 0 ran on 0 (3000 loops)") && out.contains("jkvm: work pinned to 1 ran on 1 (3000 loops)"),
                () -> "both processors run work:\n" + out);
        assertEquals(0, jkvm.exitValue(), () -> "poweroff through ACPI S5: " + out);
        assertTrue(out.contains("jkvm: vda has 16384 sectors, vdb ro=1"), out);
        assertTrue(out.contains("jkvm: vda starts with 'jkvm disk signature', vdb with 'read-only disk'"), out);
        assertTrue(out.contains("jkvm: write ok"), out);
        assertTrue(out.contains("jkvm: discard ok"), out);
        assertTrue(out.contains("jkvm: sector 16 now reads '" + "00".repeat(16) + "'"), out);
        assertTrue(out.contains("jkvm: vdb refused the write"), out);
        assertTrue(out.matches("(?s).*jkvm: rng virtio_rng\\.\\d+ gave [0-9a-f]{32}\r?\n.*"), out);
        assertTrue(!out.contains("gave " + "00".repeat(16)), out);

        assertTrue(out.contains("jkvm: ext4 written"), out);
        java.util.regex.Matcher numbers = java.util.regex.Pattern.compile("jkvm: numbers ([0-9a-f]{32})").matcher(out);
        assertTrue(numbers.find(), out);
        byte[] file = run("debugfs", "-R", "cat /numbers", ext4.toString()).getBytes(StandardCharsets.US_ASCII);
        assertEquals(numbers.group(1), java.util.HexFormat.of().formatHex(java.security.MessageDigest.getInstance("MD5").digest(file)),
                "the file the guest wrote on ext4, as the host's debugfs reads it from the image, against the guest's MD5");

        byte[] after = Files.readAllBytes(disk);
        byte[] sector2 = Arrays.copyOfRange(after, 1024, 1536);
        byte[] expected = new byte[512];
        System.arraycopy("written by Linux".getBytes(StandardCharsets.US_ASCII), 0, expected, 0, 16);
        assertArrayEquals(expected, sector2, "sector 2 of the image after the guest's write and fsync");
        assertArrayEquals(new byte[4096], Arrays.copyOfRange(after, 8192, 12288), "the discarded range reads as zeros");
        assertArrayEquals(Arrays.copyOfRange(image, 0, 1024), Arrays.copyOfRange(after, 0, 1024), "sectors 0-1 untouched");
        assertArrayEquals(roImage, Files.readAllBytes(readOnly), "the read-only image is as it was");
    }
}

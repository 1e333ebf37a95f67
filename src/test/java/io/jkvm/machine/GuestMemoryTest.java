package io.jkvm.machine;

import io.jkvm.x86.RamLayout;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/** Guest RAM as the host maps it. */
class GuestMemoryTest {
    @Test
    void guestRamIsAdvisedForTransparentHugePages() throws Exception {
        try (GuestMemory ram = GuestMemory.allocate(RamLayout.pc(64L << 20))) {
            String flags = vmFlags(ram.mapping().address());
            // "hg": MADV_HUGEPAGE (proc(5)); without it a host in THP's "madvise" mode backs guest RAM with 4 KiB pages
            assertTrue(List.of(flags.split(" ")).contains("hg"), "VmFlags of guest RAM: " + flags);
        }
    }

    /** The VmFlags line of the mapping that starts at {@code address}, from /proc/self/smaps. */
    private static String vmFlags(long address) throws Exception {
        List<String> lines = Files.readAllLines(Path.of("/proc/self/smaps"));
        String start = Long.toHexString(address) + "-";
        for (int i = 0; i < lines.size(); i++) {
            if (lines.get(i).startsWith(start)) {
                for (int j = i + 1; j < lines.size() && !lines.get(j).matches("^[0-9a-f]+-[0-9a-f]+ .*"); j++) {
                    if (lines.get(j).startsWith("VmFlags:")) {
                        return lines.get(j).substring("VmFlags:".length()).trim();
                    }
                }
            }
        }
        return fail("no mapping at 0x" + Long.toHexString(address) + " in /proc/self/smaps");
    }
}

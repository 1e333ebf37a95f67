package io.jkvm.cli;

import io.jkvm.testing.Cli;
import io.jkvm.testing.LinuxGuest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Debian's kernel booted as an uncompressed vmlinux through PVH (its Xen PHYS32_ENTRY note; scripts/linux-guest unpacks
 * it from the bzImage): the guest finds the command line, the initrd module, the memory map and the ACPI RSDP in the
 * start information jkvm gives it, and powers off through ACPI S5. On the way its rtc-cmos driver sets an RTC alarm two
 * seconds ahead, whose interrupt arrives on IRQ 8 through the I/O APIC.
 */
class LinuxPvhTest {
    @TempDir
    Path dir;

    @Test
    @Timeout(600)
    void debiansVmlinuxBootsThroughPvhWithItsCommandLineInitrdMemoryMapAcpiAndRtcInterrupt() throws Exception {
        Path guest = LinuxGuest.guest();
        Path initrd = LinuxGuest.initrd(dir, """
                echo "jkvm: cmdline $(cat /proc/cmdline)"
                echo "jkvm: $(grep MemTotal /proc/meminfo | tr -s ' ')"
                echo "jkvm: rtc before:$(grep rtc0 /proc/interrupts | tr -s ' ')"
                echo "jkvm: clocksources $(cat /sys/devices/system/clocksource/clocksource0/available_clocksource)"
                echo +2 > /sys/class/rtc/rtc0/wakealarm
                sleep 4
                echo "jkvm: rtc after:$(grep rtc0 /proc/interrupts | tr -s ' ')"
                poweroff -f
                """);
        String append = "console=ttyS0 panic=-1 jkvm.pvh=yes";
        Cli.Result r = Cli.run("run", "--backend", "emulator", "--mem", "256M", "--kernel", guest.resolve("vmlinux").toString(),
                "--initrd", initrd.toString(), "--append", append);
        String out = r.out();
        assertTrue(out.contains("jkvm: cmdline " + append), out);
        Matcher memory = Pattern.compile("jkvm: MemTotal: (\\d+) kB").matcher(out);
        assertTrue(memory.find(), out);
        long kib = Long.parseLong(memory.group(1));
        assertTrue(kib > 150_000 && kib < 256 * 1024, "the memory map's RAM, less the kernel's own: " + kib + " KiB");
        assertTrue(out.contains("jkvm: rtc before: 8: 0 IO-APIC 8-edge rtc0"), "rtc-cmos on IRQ 8, no interrupt yet: " + out);
        // KVM's leaves are in the host model with /dev/kvm or without: the kernel keeps time by kvmclock as on KVM
        assertTrue(Pattern.compile("jkvm: clocksources .*kvm-clock").matcher(out).find(), out);
        Matcher rtc = Pattern.compile("jkvm: rtc after: 8: (\\d+) IO-APIC 8-edge rtc0").matcher(out);
        assertTrue(rtc.find() && Integer.parseInt(rtc.group(1)) >= 1, "the alarm's interrupt: " + out);
        assertTrue(out.contains("ACPI: PM: Preparing to enter system sleep state S5"), out);
        assertEquals(0, r.status(), () -> out + r.err());
    }
}

package io.jkvm.cli;

import io.jkvm.testing.HostCommand;
import io.jkvm.testing.LinuxGuest;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Debian's kernel (its vmlinux, booted through PVH) reaches the host through jkvm's virtio-net on a TAP: in a network namespace the test makes (the TAP
 * at 10.0.2.1, the guest at 10.0.2.15), the guest pings the host, takes 1 MB from a TCP server there and sends
 * 256 KiB back to another; it reports the MD5 of what it received and sent, which the host compares with its own.
 * The driver takes the checksum and segmentation offloads, so what the TAP hands it comes in segments larger than a frame.
 * jkvm runs under --sandbox on: the frames pass through the system calls its filter allows.
 */
class LinuxNetworkTest {
    private static final String TAP = "jktap0";
    private final String namespace = "jkvm-net-" + ProcessHandle.current().pid();
    private final List<Process> peers = new ArrayList<>();

    @TempDir
    Path dir;

    private static String run(List<String> command) throws Exception {
        return HostCommand.run(command);
    }

    private void ip(String... args) throws Exception {
        List<String> command = new ArrayList<>(List.of("ip", "-n", namespace));
        command.addAll(List.of(args));
        run(command);
    }

    @BeforeEach
    void aHostWithATap() throws Exception {
        run(List.of("ip", "netns", "add", namespace));
        ip("link", "set", "lo", "up");
        ip("tuntap", "add", TAP, "mode", "tap");
        ip("addr", "add", "10.0.2.1/24", "dev", TAP);
        ip("link", "set", TAP, "up");
    }

    @AfterEach
    void noMoreHost() throws Exception {
        for (Process p : peers) {
            p.destroyForcibly().waitFor();
        }
        run(List.of("ip", "netns", "del", namespace)); // the TAP goes with it
    }

    /**
     * busybox's nc in the namespace, its input from {@code in} (null: a pipe the test holds open, as nc ends its
     * connection when its input ends) and its output to {@code out}.
     */
    private Process peer(Path busybox, Path in, Path out, String... args) throws Exception {
        List<String> command = new ArrayList<>(List.of("ip", "netns", "exec", namespace, busybox.toString(), "nc"));
        command.addAll(List.of(args));
        ProcessBuilder b = new ProcessBuilder(command).redirectOutput(out.toFile()).redirectError(ProcessBuilder.Redirect.DISCARD);
        if (in != null) {
            b.redirectInput(in.toFile());
        }
        Process p = b.start();
        peers.add(p);
        return p;
    }

    private static String md5(byte[] bytes) throws Exception {
        return HexFormat.of().formatHex(MessageDigest.getInstance("MD5").digest(bytes));
    }

    @Test
    @Timeout(600)
    void linuxPingsItsHostAndMovesDataBothWaysOverVirtioNetOnATap() throws Exception {
        Path guest = LinuxGuest.guest();
        Path busybox = guest.resolve("busybox").toAbsolutePath();
        byte[] hostData = new byte[1_000_000];
        new java.util.Random(15).nextBytes(hostData);
        Path toGuest = dir.resolve("to-guest.bin"), fromGuest = dir.resolve("from-guest.bin");
        Files.write(toGuest, hostData);
        Process sender = peer(busybox, toGuest, dir.resolve("sender.out"), "-l", "-p", "5000");
        Process receiver = peer(busybox, null, fromGuest, "-l", "-p", "5001");
        Path initrd = LinuxGuest.initrdWithVirtio(dir, """
                ip link set lo up
                ip link set eth0 up
                ip addr add 10.0.2.15/24 dev eth0
                echo "jkvm: eth0 $(cat /sys/class/net/eth0/address)"
                echo "jkvm: ping: $(ping -c 3 -W 5 10.0.2.1 | grep 'packets received')"
                echo "jkvm: receiving at $(cut -d' ' -f1 /proc/uptime)"
                echo "jkvm: received $(nc 10.0.2.1 5000 | md5sum | cut -c1-32) at $(cut -d' ' -f1 /proc/uptime)"
                dd if=/dev/urandom of=/tmp/sent bs=1024 count=256 2>/dev/null
                echo "jkvm: sent $(md5sum < /tmp/sent | cut -c1-32)"
                nc 10.0.2.1 5001 < /tmp/sent && echo "jkvm: send done"
                # nc ends with its bytes still in the socket: wait until the host has them all (no longer ESTABLISHED,
                # FIN_WAIT1 or CLOSING towards port 5001 = 0x1389)
                while grep -q ':1389 0[14B] ' /proc/net/tcp; do sleep 0.2; done
                poweroff -f
                """);
        Path log = dir.resolve("jkvm.out");
        List<String> command = new ArrayList<>(List.of("ip", "netns", "exec", namespace));
        command.addAll(io.jkvm.testing.ChildJvm.jkvm("run", "--backend", "emulator", "--mem", "256M",
                "--kernel", guest.resolve("vmlinux").toString(), "--initrd", initrd.toString(),
                "--append", "console=ttyS0 panic=-1 quiet", "--net", "tap=" + TAP + ",mac=52:54:00:ab:cd:ef",
                "--sandbox", "on")); // the TAP is open before the sandbox goes up; its frames pass through read, write, poll
        Process jkvm = new ProcessBuilder(command)
                .redirectErrorStream(true).redirectOutput(log.toFile()).start();
        assertTrue(jkvm.waitFor(500, TimeUnit.SECONDS), "jkvm did not end");
        String out = Files.readString(log);
        Matcher took = Pattern.compile("jkvm: receiving at ([0-9.]+)\\s+jkvm: received [0-9a-f]{32} at ([0-9.]+)").matcher(out);
        if (took.find()) { // the guest's own clock: what the 1 MB took, for docs/benchmarks.md
            System.out.printf("LinuxNetworkTest: 1 MB host to guest in %.2f s of guest time%n",
                    Double.parseDouble(took.group(2)) - Double.parseDouble(took.group(1)));
        }
        assertEquals(0, jkvm.exitValue(), out);
        assertTrue(out.contains("jkvm: eth0 52:54:00:ab:cd:ef"), out);
        assertTrue(out.contains("jkvm: ping: 3 packets transmitted, 3 packets received"), out);
        Matcher received = Pattern.compile("jkvm: received ([0-9a-f]{32})").matcher(out);
        assertTrue(received.find(), out);
        assertEquals(md5(hostData), received.group(1), "what the guest received, by its own MD5");
        Matcher sent = Pattern.compile("jkvm: sent ([0-9a-f]{32})").matcher(out);
        assertTrue(sent.find() && out.contains("jkvm: send done"), out);
        assertTrue(receiver.waitFor(30, TimeUnit.SECONDS), "the host's receiver did not see the connection end");
        byte[] got = Files.readAllBytes(fromGuest);
        assertEquals(256 * 1024, got.length, "bytes the host received");
        assertEquals(sent.group(1), md5(got), "what the host received, against the guest's MD5 of what it sent");
        assertTrue(sender.waitFor(30, TimeUnit.SECONDS));
        // The host's side of the TAP counts what it handed the guest: with segmentation offload the 1 MB came in
        // TCP segments of up to 64 KiB, so its packets average more than one Ethernet frame's 1514 bytes
        long bytes = Long.parseLong(run(List.of("ip", "netns", "exec", namespace, "cat", "/sys/class/net/" + TAP + "/statistics/tx_bytes")).strip());
        long packets = Long.parseLong(run(List.of("ip", "netns", "exec", namespace, "cat", "/sys/class/net/" + TAP + "/statistics/tx_packets")).strip());
        assertTrue(packets > 0 && bytes / packets > 1514, "the TAP handed the guest " + bytes + " bytes in " + packets
                + " packets: no larger than whole frames, so the driver took no segmentation offload");
    }
}

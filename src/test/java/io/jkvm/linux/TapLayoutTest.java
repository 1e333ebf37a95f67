package io.jkvm.linux;

import io.jkvm.testing.CHeaders;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** The TAP's ioctl, flags and struct ifreq as gcc lays them out from linux/if_tun.h and net/if.h. */
class TapLayoutTest {
    @TempDir
    Path dir;

    @Test
    void tunsetiffAndIfreqAreTheKernelHeadersOwn() throws Exception {
        Map<String, Long> ours = new LinkedHashMap<>();
        ours.put("TUNSETIFF", Tap.TUNSETIFF);
        ours.put("IFF_TAP", (long) Tap.IFF_TAP);
        ours.put("IFF_NO_PI", (long) Tap.IFF_NO_PI);
        ours.put("IFF_VNET_HDR", (long) Tap.IFF_VNET_HDR);
        ours.put("TUNSETOFFLOAD", Tap.TUNSETOFFLOAD);
        ours.put("TUNSETVNETHDRSZ", Tap.TUNSETVNETHDRSZ);
        ours.put("TUN_F_CSUM", (long) Tap.TUN_F_CSUM);
        ours.put("TUN_F_TSO4", (long) Tap.TUN_F_TSO4);
        ours.put("TUN_F_TSO6", (long) Tap.TUN_F_TSO6);
        ours.put("sizeof(struct virtio_net_hdr_v1)", (long) Tap.VNET_HEADER);
        ours.put("sizeof(struct ifreq)", (long) Tap.IFREQ_SIZE);
        ours.put("offsetof(struct ifreq, ifr_flags)", (long) Tap.IFR_FLAGS);
        ours.put("IFNAMSIZ", (long) Tap.IFNAMSIZ);
        ours.put("POLLIN", 1L);
        ours.put("sizeof(struct pollfd)", 8L);
        ours.put("offsetof(struct pollfd, revents)", 6L);
        ours.put("SYS_read", (long) io.jkvm.linux.uapi.Uapi.SYS_read());
        ours.put("SYS_write", (long) io.jkvm.linux.uapi.Uapi.SYS_write());
        ours.put("SYS_poll", (long) io.jkvm.linux.uapi.Uapi.SYS_poll());
        assertEquals(ours, CHeaders.evaluate(dir, List.of("sys/ioctl.h", "net/if.h", "linux/if_tun.h", "linux/virtio_net.h", "poll.h", "sys/syscall.h"), ours.keySet()));
    }
}

package io.jkvm.devices.virtio;

import io.jkvm.testing.CHeaders;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** virtio-net's configuration space, header and feature bits as gcc lays them out from linux/virtio_net.h. */
class VirtioNetLayoutTest {
    @TempDir
    Path dir;

    @Test
    void theConfigurationAndHeaderAreTheKernelHeadersOwn() throws Exception {
        Map<String, Long> ours = new LinkedHashMap<>();
        ours.put("offsetof(struct virtio_net_config, mac)", (long) VirtioNet.CONFIG_MAC);
        ours.put("offsetof(struct virtio_net_config, status)", (long) VirtioNet.CONFIG_STATUS);
        ours.put("offsetof(struct virtio_net_config, max_virtqueue_pairs)", (long) VirtioNet.CONFIG_SIZE);
        ours.put("VIRTIO_NET_S_LINK_UP", (long) VirtioNet.LINK_UP);
        ours.put("sizeof(struct virtio_net_hdr_v1)", (long) VirtioNet.HEADER);
        ours.put("offsetof(struct virtio_net_hdr_v1, num_buffers)", 10L);
        ours.put("1ULL << VIRTIO_NET_F_MAC", VirtioNet.F_MAC);
        ours.put("1ULL << VIRTIO_NET_F_STATUS", VirtioNet.F_STATUS);
        ours.put("1ULL << VIRTIO_NET_F_CSUM", VirtioNet.F_CSUM);
        ours.put("1ULL << VIRTIO_NET_F_GUEST_CSUM", VirtioNet.F_GUEST_CSUM);
        ours.put("1ULL << VIRTIO_NET_F_GUEST_TSO4", VirtioNet.F_GUEST_TSO4);
        ours.put("1ULL << VIRTIO_NET_F_GUEST_TSO6", VirtioNet.F_GUEST_TSO6);
        ours.put("1ULL << VIRTIO_NET_F_HOST_TSO4", VirtioNet.F_HOST_TSO4);
        ours.put("1ULL << VIRTIO_NET_F_HOST_TSO6", VirtioNet.F_HOST_TSO6);
        ours.put("VIRTIO_ID_NET", 1L);
        ours.put("VIRTIO_ID_BLOCK", 2L);
        ours.put("VIRTIO_ID_RNG", 4L);
        assertEquals(ours, CHeaders.evaluate(dir, List.of("linux/virtio_net.h", "linux/virtio_ids.h"), ours.keySet()));
    }
}

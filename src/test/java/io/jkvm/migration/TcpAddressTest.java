package io.jkvm.migration;

import org.junit.jupiter.api.Test;

import java.util.Optional;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** tcp:HOST:PORT, the one spelling of a migration endpoint for run --incoming and migrate. */
class TcpAddressTest {
    @Test
    void hostAndPortOrNothing() {
        assertEquals(Optional.of(new TcpAddress("127.0.0.1", 4444)), TcpAddress.parse("tcp:127.0.0.1:4444"));
        assertEquals(Optional.of(new TcpAddress("dest.example", 1)), TcpAddress.parse("tcp:dest.example:1"));
        assertEquals(Optional.of(new TcpAddress("0.0.0.0", 65535)), TcpAddress.parse("tcp:0.0.0.0:65535"));
        for (String bad : new String[]{"127.0.0.1:4444", "tcp:", "tcp:host", "tcp::4444", "tcp:host:0", "tcp:host:65536",
                "tcp:host:-1", "tcp:host:44a", "tcp:a:b:4444", "udp:host:4444", "tcp:host:123456"}) {
            assertEquals(Optional.empty(), TcpAddress.parse(bad), bad);
        }
    }
}

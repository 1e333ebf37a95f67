package io.jkvm.migration;

import java.util.Optional;

/** A migration endpoint as users write it, {@code tcp:HOST:PORT}: for run --incoming and for migrate. */
public record TcpAddress(String host, int port) {
    /** {@code text} as tcp:HOST:PORT with a host and a port from 1 to 65535; empty when it is not one. */
    public static Optional<TcpAddress> parse(String text) {
        if (!text.startsWith("tcp:")) {
            return Optional.empty();
        }
        String rest = text.substring(4);
        int colon = rest.lastIndexOf(':');
        if (colon <= 0 || !rest.substring(colon + 1).matches("\\d{1,5}")) {
            return Optional.empty();
        }
        int port = Integer.parseInt(rest.substring(colon + 1));
        String host = rest.substring(0, colon);
        return port < 1 || port > 65535 || host.contains(":") ? Optional.empty() : Optional.of(new TcpAddress(host, port));
    }
}

package io.jkvm.api;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

/** A client that sends exactly the bytes a test gives, to see how the server takes what ApiClient never sends. */
final class SocketClient {
    private SocketClient() {
    }

    /** Sends {@code text} as it is, then reads the response line. */
    static JsonNode exchange(Path socket, String text) throws IOException {
        return exchange(socket, text.getBytes(StandardCharsets.UTF_8), false);
    }

    /** Sends {@code bytes}, closes the sending side when asked, and parses the line that comes back. */
    static JsonNode exchange(Path socket, byte[] bytes, boolean shutdownOutput) throws IOException {
        try (SocketChannel channel = SocketChannel.open(UnixDomainSocketAddress.of(socket))) {
            ByteBuffer out = ByteBuffer.wrap(bytes);
            try {
                while (out.hasRemaining()) {
                    channel.write(out);
                }
            } catch (IOException e) { // a server that refuses the connection answers and closes before reading: the answer waits
                if (!"Broken pipe".equals(e.getMessage())) {
                    throw e;
                }
            }
            if (shutdownOutput) {
                channel.shutdownOutput();
            }
            return new ObjectMapper().readTree(readLine(channel));
        }
    }

    /** The bytes up to the first newline; the server may reset the connection after it (it did not read everything). */
    static String readLine(SocketChannel channel) throws IOException {
        ByteArrayOutputStream line = new ByteArrayOutputStream();
        ByteBuffer one = ByteBuffer.allocate(1);
        while (true) {
            one.clear();
            if (channel.read(one) < 0) {
                break;
            }
            if (one.get(0) == '\n') {
                break;
            }
            line.write(one.get(0));
        }
        return line.toString(StandardCharsets.UTF_8);
    }
}

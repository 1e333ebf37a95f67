package io.jkvm.api;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.ConnectException;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;

/** Sends one request to a VM's control socket and returns its response (docs/api.md). */
public final class ApiClient {
    /** A response is a few hundred bytes; more than this is not a jkvm answering. */
    private static final int MAX_RESPONSE_BYTES = 1024 * 1024;

    private final Path socket;

    public ApiClient(Path socket) {
        this.socket = socket;
    }

    /** A request for {@code command}, to add arguments to. */
    public static ObjectNode request(String command) {
        return ControlCommands.MAPPER.createObjectNode().put("command", command);
    }

    /**
     * Sends {@code request} and returns the response object, {@code ok} true or false. Waits as long as the command
     * takes (a snapshot of a large VM takes a while). Throws an {@link ApiException} with one line naming the socket
     * and the fix when it cannot be reached or does not answer with a response.
     */
    public JsonNode send(ObjectNode request) {
        byte[] line;
        try {
            line = (ControlCommands.MAPPER.writeValueAsString(request) + "\n").getBytes(java.nio.charset.StandardCharsets.UTF_8);
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException("a request that is not JSON: " + e.getMessage(), e);
        }
        try (SocketChannel channel = connect()) {
            ByteBuffer out = ByteBuffer.wrap(line);
            while (out.hasRemaining()) {
                channel.write(out);
            }
            return parse(readLine(channel));
        } catch (IOException e) {
            throw new ApiException("the connection to " + socket + " broke (" + ControlCommands.oneLine(e.getMessage())
                    + "): is the VM still running?", e);
        }
    }

    private SocketChannel connect() {
        try {
            return SocketChannel.open(UnixDomainSocketAddress.of(socket));
        } catch (ConnectException e) {
            if (Files.isRegularFile(socket, LinkOption.NOFOLLOW_LINKS) || Files.isDirectory(socket)) {
                throw new ApiException(socket + " is not a socket: give the path passed to jkvm run --api-socket", e);
            }
            throw new ApiException("nothing listens at " + socket + " (the VM has ended, or another program left it): "
                    + "start the VM with jkvm run --api-socket " + socket, e);
        } catch (IOException e) {
            String reason = ControlCommands.oneLine(e.getMessage());
            if (!Files.exists(socket, LinkOption.NOFOLLOW_LINKS)) {
                throw new ApiException("no API socket at " + socket + ": is the VM running with jkvm run --api-socket "
                        + socket + "?", e);
            }
            if (reason.contains("Permission denied")) {
                throw new ApiException("no permission to connect to " + socket + ": the socket is its owner's only, "
                        + "run jkvm ctl as the user that runs the VM", e);
            }
            throw new ApiException("cannot connect to " + socket + " (" + reason + "): give the path passed to jkvm run --api-socket", e);
        }
    }

    /** The response line: bytes up to the first newline (the server may reset the connection right after it). */
    private byte[] readLine(SocketChannel channel) throws IOException {
        ByteArrayOutputStream line = new ByteArrayOutputStream();
        ByteBuffer buffer = ByteBuffer.allocate(4096);
        while (true) {
            buffer.clear();
            int n = channel.read(buffer);
            if (n < 0) {
                if (line.size() == 0) {
                    throw new ApiException(socket + " closed the connection without an answer: is it a jkvm API socket?");
                }
                return line.toByteArray(); // a response without its newline is still a whole JSON object, or fails to parse
            }
            for (int i = 0; i < n; i++) {
                if (buffer.get(i) == '\n') {
                    line.write(buffer.array(), 0, i);
                    return line.toByteArray();
                }
            }
            line.write(buffer.array(), 0, n);
            if (line.size() > MAX_RESPONSE_BYTES) {
                throw new ApiException(socket + " answered more than " + MAX_RESPONSE_BYTES + " bytes: is it a jkvm API socket?");
            }
        }
    }

    private JsonNode parse(byte[] response) {
        try {
            JsonNode node = ControlCommands.MAPPER.readTree(response);
            if (node != null && node.isObject() && node.path("ok").isBoolean()
                    && (node.get("ok").asBoolean() || node.path("error").isTextual())) {
                return node;
            }
        } catch (IOException e) {
            // not JSON: said below
        }
        throw new ApiException(socket + " answered something that is not a jkvm response: is it a jkvm API socket?");
    }
}

package io.jkvm.api;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The control socket of a VM: a Unix domain socket that only its owner can connect to, answering one JSON request
 * per connection with one JSON response (docs/api.md has the protocol). Start it next to the machine's run and
 * close it when the run ends:
 *
 * <pre>{@code
 * try (ApiServer api = ApiServer.start(Path.of("/run/vm.sock"), machine)) {
 *     outcome = machine.run();
 * }
 * }</pre>
 *
 * It serves on daemon threads (one per connection, {@value #MAX_CONNECTIONS} at most), so it never keeps the JVM
 * alive; closing it (or JVM shutdown) stops listening and deletes the socket file.
 */
public final class ApiServer implements AutoCloseable {
    /** The largest request, not counting its newline. */
    public static final int MAX_REQUEST_BYTES = 64 * 1024;
    /** How long a client has, from connecting, to send its whole request. */
    public static final Duration REQUEST_TIMEOUT = Duration.ofSeconds(5);
    /** Connections served at once; more are answered with an error at once. */
    public static final int MAX_CONNECTIONS = 16;
    /** How long {@link #close()} lets commands in progress (a stop, say) send their responses. */
    private static final Duration CLOSE_GRACE = Duration.ofSeconds(2);

    private final OwnerOnlySocket socket;
    private final ControlCommands commands;
    private final Duration requestTimeout;
    private final Set<Connection> connections = ConcurrentHashMap.newKeySet();
    private final Thread acceptor;
    private final Thread shutdownHook;
    private volatile boolean closed;

    private ApiServer(OwnerOnlySocket socket, ControlTarget target, Duration requestTimeout) {
        this.socket = socket;
        this.commands = new ControlCommands(target);
        this.requestTimeout = requestTimeout;
        this.acceptor = Thread.ofPlatform().daemon().name("jkvm-api-accept").unstarted(this::acceptLoop);
        this.shutdownHook = new Thread(this::close, "jkvm-api-shutdown");
    }

    /**
     * Listens at {@code socket} (mode 0600, replacing a stale socket left there) and serves {@code target} until
     * closed. Throws an {@link ApiException} with one line naming the path and the fix when the directory is missing,
     * the path exists and is not a socket, something listens there already, or the path is too long.
     */
    public static ApiServer start(Path socket, ControlTarget target) {
        return start(socket, target, REQUEST_TIMEOUT);
    }

    /** {@link #start(Path, ControlTarget)} with another request timeout, for tests. */
    static ApiServer start(Path socket, ControlTarget target, Duration requestTimeout) {
        ApiServer server = new ApiServer(OwnerOnlySocket.bind(socket), target, requestTimeout);
        try {
            Runtime.getRuntime().addShutdownHook(server.shutdownHook);
        } catch (IllegalStateException e) {
            server.socket.close();
            throw new ApiException("cannot start the API socket " + socket + ": jkvm is shutting down", e);
        }
        server.acceptor.start();
        return server;
    }

    /** Where clients connect (absolute). */
    public Path socket() {
        return socket.path();
    }

    /**
     * Stops listening and deletes the socket file; connections still waiting for their request are closed, and
     * commands in progress get {@link #CLOSE_GRACE} to answer. Idempotent.
     */
    @Override
    public void close() {
        synchronized (this) {
            if (closed) {
                return;
            }
            closed = true;
        }
        socket.close();
        try {
            Runtime.getRuntime().removeShutdownHook(shutdownHook);
        } catch (IllegalStateException | SecurityException e) {
            // the JVM is shutting down (maybe this is the hook): nothing to remove
        }
        connections.stream().filter(c -> !c.answering).forEach(Connection::close);
        long deadline = System.nanoTime() + CLOSE_GRACE.toNanos();
        synchronized (connections) {
            while (!connections.isEmpty() && System.nanoTime() < deadline) {
                try {
                    connections.wait(10);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    break;
                }
            }
        }
        connections.forEach(Connection::close);
    }

    private void acceptLoop() {
        while (!closed) {
            SocketChannel channel;
            try {
                channel = socket.channel().accept();
            } catch (ClosedChannelException e) { // close() closed it (AsynchronousCloseException is one)
                return;
            } catch (IOException e) { // out of descriptors, say: wait a little rather than spin
                sleepQuietly(100);
                continue;
            }
            Connection connection = new Connection(channel);
            boolean room;
            synchronized (connections) {
                room = connections.size() < MAX_CONNECTIONS;
                if (room) {
                    connections.add(connection);
                }
            }
            if (!room) {
                connection.send(ControlCommands.error("the API socket serves " + MAX_CONNECTIONS
                        + " connections at once: try again when one has finished"));
                connection.close();
                continue;
            }
            try {
                Thread.ofPlatform().daemon().name("jkvm-api-connection").start(() -> serve(connection));
            } catch (OutOfMemoryError | RuntimeException e) { // no thread to be had: this client gets no answer
                finished(connection);
            }
        }
    }

    private void serve(Connection connection) {
        try {
            ObjectNode response;
            try {
                byte[] request = connection.readRequest(requestTimeout);
                connection.answering = true;
                response = commands.answer(request);
            } catch (RequestProblem p) {
                response = ControlCommands.error(p.getMessage());
            }
            connection.send(response);
        } catch (IOException e) {
            // the client went away (or close() closed it): nobody to answer
        } finally {
            finished(connection);
        }
    }

    private void finished(Connection connection) {
        connection.close();
        synchronized (connections) {
            connections.remove(connection);
            connections.notifyAll();
        }
    }

    private static void sleepQuietly(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** A request the server answers with an error without looking at it as JSON: too large, too late. */
    private static final class RequestProblem extends Exception {
        private static final long serialVersionUID = 1L;

        RequestProblem(String message) {
            super(message, null, false, false);
        }
    }

    /** One client: its request is read with a deadline, its response written once. */
    private static final class Connection {
        private final SocketChannel channel;
        /** Set once the whole request is in: close() then lets the command finish and answer. */
        volatile boolean answering;

        Connection(SocketChannel channel) {
            this.channel = channel;
        }

        /** The bytes up to the first newline, or up to the end of input when the client closes its side first. */
        byte[] readRequest(Duration timeout) throws IOException, RequestProblem {
            ByteBuffer buffer = ByteBuffer.allocate(MAX_REQUEST_BYTES + 1); // room for the newline after a full-size request
            long deadline = System.nanoTime() + timeout.toNanos();
            channel.configureBlocking(false);
            try (Selector selector = Selector.open()) {
                channel.register(selector, SelectionKey.OP_READ);
                while (true) {
                    long left = deadline - System.nanoTime();
                    if (left <= 0) {
                        throw new RequestProblem("no complete request within " + timeout.toMillis()
                                + " ms: send one JSON object and a newline, or close your side after it");
                    }
                    selector.select(Math.max(1, Duration.ofNanos(left).toMillis()));
                    selector.selectedKeys().clear();
                    int start = buffer.position();
                    int n = channel.read(buffer);
                    if (n < 0) {
                        return Arrays.copyOf(buffer.array(), buffer.position());
                    }
                    for (int i = start; i < buffer.position(); i++) {
                        if (buffer.get(i) == '\n') {
                            return Arrays.copyOf(buffer.array(), i);
                        }
                    }
                    if (!buffer.hasRemaining()) {
                        throw new RequestProblem("the request is larger than " + MAX_REQUEST_BYTES + " bytes");
                    }
                }
            } finally {
                if (channel.isOpen()) {
                    channel.configureBlocking(true); // the selector is closed, so the channel may block again
                }
            }
        }

        /** Writes the response and its newline; the client reads up to the newline. */
        void send(ObjectNode response) {
            try {
                byte[] json = ControlCommands.MAPPER.writeValueAsBytes(response);
                ByteBuffer out = ByteBuffer.allocate(json.length + 1).put(json).put((byte) '\n').flip();
                while (out.hasRemaining()) {
                    channel.write(out);
                }
            } catch (JsonProcessingException e) {
                throw new IllegalStateException("a response that is not JSON: " + e.getMessage(), e); // a bug
            } catch (IOException e) {
                // the client went away before its answer: nothing more to do for it
            }
        }

        void close() {
            try {
                channel.close();
            } catch (IOException e) {
                // nothing to release beyond the descriptor, which close() releases anyway
            }
        }
    }
}

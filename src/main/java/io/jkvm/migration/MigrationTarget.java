package io.jkvm.migration;

import io.jkvm.snapshot.MachineShape;
import io.jkvm.snapshot.MachineState;
import io.jkvm.snapshot.SnapshotFile;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.function.Consumer;

/**
 * The receiving side of a live migration: listens, refuses (and keeps listening past) any peer that does not hold the
 * key, then takes one machine: its shape (which the caller accepts by giving guest RAM for it), the pages round after
 * round, and its state once the source has stopped it. The caller builds the machine from that state and says
 * {@link Incoming#resumed()} before it runs it, or {@link Incoming#failed} and discards what came.
 */
public final class MigrationTarget {
    private MigrationTarget() {
    }

    /** Guest RAM as the destination fills it. */
    public interface Memory {
        long size();

        void writePage(long offset, byte[] page, int at);
    }

    /** What the caller decides on seeing the machine's shape: guest RAM for it, or a refusal (one line) by throwing. */
    public interface Acceptor {
        Memory accept(MachineShape shape);
    }

    /** A machine whose state has arrived, its source stopped and waiting for the word that it runs here. */
    public static final class Incoming implements AutoCloseable {
        private final SecureChannel channel;
        private final MachineState state;
        private final String from;
        private final int rounds;
        private final long pages;

        private Incoming(SecureChannel channel, MachineState state, String from, int rounds, long pages) {
            this.channel = channel;
            this.state = state;
            this.from = from;
            this.rounds = rounds;
            this.pages = pages;
        }

        public MachineState state() {
            return state;
        }

        public String from() {
            return from;
        }

        public int rounds() {
            return rounds;
        }

        public long pages() {
            return pages;
        }

        /** Tells the source the guest runs here now (it then ends). */
        public void resumed() {
            try {
                channel.send(MessageType.RESUMED, new byte[0]);
            } catch (IOException e) {
                throw new MigrationException("the source went away before it heard the guest runs here (" + e.getMessage()
                        + "): the guest runs here; check the source has ended");
            } finally {
                channel.close();
            }
        }

        /** Tells the source this side cannot run the guest (it resumes it there). */
        public void failed(String why) {
            try {
                channel.send(MessageType.ERROR, why.getBytes(StandardCharsets.UTF_8));
            } catch (IOException | MigrationException e) {
                // the source sees the connection close instead, and resumes the guest all the same
            } finally {
                channel.close();
            }
        }

        @Override
        public void close() {
            channel.close();
        }
    }

    /**
     * Waits on {@code host}:{@code port} for a source holding {@code key} and receives its machine. Peers without the
     * key are refused ({@code log} gets a line for each) and the wait goes on; a failure after the handshake (the
     * connection drops, the stream is corrupt, the state does not fit) is a {@link MigrationException}: whatever
     * memory came is the caller's to discard.
     */
    public static Incoming receive(String host, int port, byte[] key, Acceptor acceptor,
                                   java.util.function.Function<String, Class<? extends Record>> deviceTypes, Consumer<String> log) {
        try (ServerSocket server = new ServerSocket()) {
            server.setReuseAddress(true);
            server.bind(new InetSocketAddress(host, port));
            while (true) {
                Socket socket = server.accept();
                String from = socket.getRemoteSocketAddress().toString();
                SecureChannel channel;
                try {
                    socket.setSoTimeout(MigrationSource.READ_TIMEOUT_MS);
                    channel = SecureChannel.server(socket, key);
                } catch (IOException | MigrationException e) {
                    log.accept("refused a migration from " + from + ": " + e.getMessage());
                    closeQuietly(socket);
                    continue;
                }
                return take(channel, from, acceptor, deviceTypes);
            }
        } catch (IOException e) {
            throw new MigrationException("cannot listen on " + host + ":" + port + " (" + e.getMessage()
                    + "): choose a free port and an address of this host");
        }
    }

    private static Incoming take(SecureChannel channel, String from, Acceptor acceptor, java.util.function.Function<String, Class<? extends Record>> deviceTypes) {
        try {
            SecureChannel.Message first = channel.receive();
            if (first.type() != MessageType.MACHINE) {
                throw new MigrationException("the source sent " + MessageType.name(first.type()) + " before its machine");
            }
            MachineShape shape = MachineShape.fromJson(first.payload());
            Memory memory;
            try {
                memory = acceptor.accept(shape);
            } catch (RuntimeException e) {
                channel.send(MessageType.ERROR, e.getMessage().getBytes(StandardCharsets.UTF_8));
                throw e;
            }
            channel.send(MessageType.ACCEPT, new byte[0]);
            int rounds = 0;
            long pages = 0;
            while (true) {
                SecureChannel.Message m = channel.receive();
                switch (m.type()) {
                    case MessageType.PAGES -> pages += writePages(memory, m.payload());
                    case MessageType.ROUND_END -> rounds = ByteBuffer.wrap(m.payload()).getInt() + 1;
                    case MessageType.STATE -> {
                        MachineState state = SnapshotFile.decode("the migrated state", m.payload(), deviceTypes).state();
                        if (state.memorySize() != memory.size() || state.vcpus().size() != shape.vcpus()) {
                            throw new MigrationException("the state does not match the machine the source described");
                        }
                        return new Incoming(channel, state, from, rounds, pages);
                    }
                    case MessageType.ERROR -> throw new MigrationException("the source gave up: "
                            + new String(m.payload(), StandardCharsets.UTF_8));
                    default -> throw new MigrationException("the source sent " + MessageType.name(m.type()) + " out of order");
                }
            }
        } catch (IOException | RuntimeException e) { // a corrupt state (SnapshotException) too
            channel.close();
            throw new MigrationException("the migration from " + from + " failed: " + e.getMessage() + "; nothing was run here", e);
        }
    }

    /** Writes a PAGES message's pages; an offset outside guest RAM or off a page boundary is a corrupt stream. */
    private static int writePages(Memory memory, byte[] payload) {
        int record = 8 + MigrationSource.PAGE;
        if (payload.length % record != 0) {
            throw new MigrationException("the stream is corrupt (a page batch of " + payload.length + " bytes)");
        }
        ByteBuffer b = ByteBuffer.wrap(payload);
        for (int at = 0; at < payload.length; at += record) {
            long offset = b.getLong(at);
            if (offset < 0 || (offset & (MigrationSource.PAGE - 1)) != 0 || offset > memory.size() - MigrationSource.PAGE) {
                throw new MigrationException(String.format("the stream is corrupt (a page at 0x%x, outside guest RAM)", offset));
            }
            memory.writePage(offset, payload, at + 8);
        }
        return payload.length / record;
    }

    private static void closeQuietly(Socket s) {
        try {
            s.close();
        } catch (IOException e) {
            // a refused peer
        }
    }
}

package io.jkvm.migration;

import io.jkvm.snapshot.MachineShape;
import io.jkvm.snapshot.MachineState;
import io.jkvm.snapshot.SnapshotFile;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.function.Consumer;

/**
 * The sending side of a live migration (pre-copy): after the handshake and the destination's consent, every page of
 * guest RAM that is not all zero goes across while the guest runs; then, round after round, the pages it wrote in the
 * meantime (its dirty log), until what is left would take no longer than the downtime allowed; then the vCPUs stop,
 * the last dirty pages and the whole machine state go across, and the destination resumes the guest. Any failure
 * before the destination has resumed it (a dropped connection, a refusal, a wrong key, a timeout) lets the guest run
 * on here, unharmed, with one line saying what happened.
 */
public final class MigrationSource {
    private MigrationSource() {
    }

    static final int PAGE = 4096;
    /** Pages per PAGES message: 256 pages, a little over 1 MiB. */
    static final int BATCH = 256;
    static final int MAX_ROUNDS = 30;
    static final int CONNECT_TIMEOUT_MS = 10_000, READ_TIMEOUT_MS = 60_000;

    /** What a migration needs of the running machine. */
    public interface Vm {
        /** Guest RAM's size, the vCPUs and the CPU model: what the destination must be able to hold. */
        MachineShape shape();

        /** Copies the 4096 bytes of the page at {@code offset} into {@code into} at {@code at}. */
        void readPage(long offset, byte[] into, int at);

        /** Whether the page at {@code offset} is all zero. */
        boolean isZeroPage(long offset);

        /** Starts recording the pages the guest writes; the log's first take has those written since this call. */
        DirtyLog trackDirtyPages();

        void stopTrackingDirtyPages();

        boolean pause();

        void resume();

        MachineState capture();

        /**
         * Why the migration stops here, or null to go on: the user's cancel, or the guest ended (checked at every page
         * it sends or skips, and before the stop).
         */
        String stopReason();

        /** The connection to the destination, which the VM may close to end the migration at once (its guest ended). */
        void connected(java.io.Closeable connection);

        /** The destination runs the guest now: this machine ends. */
        void migratedTo(String destination, Report report);
    }

    /** The pages written since the last take: bit n of word w is page 64w + n. */
    public interface DirtyLog {
        long[] take();
    }

    /** How the migration went. */
    public record Report(int rounds, long pagesSent, long bytesSent, long downtimeMillis, long totalMillis) {
    }

    /**
     * Migrates {@code vm} to the destination listening at {@code host}:{@code port}, which holds {@code key} too.
     * Returns once the destination runs the guest; throws a {@link MigrationException} (the VM runs on here) if not.
     */
    public static Report migrate(Vm vm, String host, int port, byte[] key, long maxDowntimeMillis, Consumer<String> progress) {
        long start = System.nanoTime();
        Socket socket = new Socket();
        try {
            socket.connect(new InetSocketAddress(host, port), CONNECT_TIMEOUT_MS);
            socket.setSoTimeout(READ_TIMEOUT_MS);
            socket.setTcpNoDelay(true);
            vm.connected(socket);
        } catch (IOException e) {
            closeQuietly(socket);
            throw new MigrationException("cannot reach the destination " + host + ":" + port + " (" + e.getMessage()
                    + "): start it with jkvm run --incoming tcp:" + host + ":" + port);
        }
        try (SecureChannel channel = SecureChannel.client(socket, key)) {
            channel.send(MessageType.MACHINE, vm.shape().toJson());
            expect(channel, MessageType.ACCEPT, "the destination refused the machine");
            return copyThenStop(vm, channel, maxDowntimeMillis, progress, start, host + ":" + port);
        } catch (IOException e) {
            String stop = vm.stopReason(); // the VM closed the connection to stop at once
            throw new MigrationException("the migration to " + host + ":" + port + " failed"
                    + (stop != null ? ": " + stop : " (" + e.getMessage() + ")") + stays(stop));
        } catch (MigrationException e) {
            throw new MigrationException("the migration to " + host + ":" + port + " failed: " + e.getMessage()
                    + stays(e.getMessage()), e);
        } finally {
            closeQuietly(socket); // a handshake that failed made no channel to close it
        }
    }

    /** Why a migration stops when its guest ends on the source (nothing is left to run there or to send). */
    public static final String GUEST_ENDED = "the guest ended during the migration";

    /** What a failed migration's line ends with: the VM runs on here, unless it failed because the guest ended. */
    private static String stays(String why) {
        return GUEST_ENDED.equals(why) ? "" : "; the VM runs on here";
    }

    /** Throws the reason the VM gives for stopping (a cancel, its guest's end), if it gives one. */
    private static void stopIfAsked(Vm vm) {
        String stop = vm.stopReason();
        if (stop != null) {
            throw new MigrationException(stop);
        }
    }

    private static Report copyThenStop(Vm vm, SecureChannel channel, long maxDowntimeMillis, Consumer<String> progress,
                                       long start, String destination) throws IOException {
        long pages = (vm.shape().memorySize() + PAGE - 1) / PAGE;
        DirtyLog log = vm.trackDirtyPages();
        long[] sent = {0, 0};
        byte[] batch = new byte[BATCH * (PAGE + 8)];
        try {
            long roundStart = System.nanoTime();
            progress.accept("round 0: sending guest RAM");
            sendPages(vm, channel, batch, null, pages, true, sent); // round 0: all that is not zero (the destination starts zeroed)
            endRound(channel, 0, sent[0]);
            int rounds = 1;
            long[] dirty = log.take();
            while (rounds < MAX_ROUNDS) {
                long elapsedMs = Math.max(1, (System.nanoTime() - roundStart) / 1_000_000);
                double bytesPerMs = (double) sent[1] / elapsedMs;
                long pending = count(dirty);
                long expectedDowntimeMs = pending == 0 ? 0 : bytesPerMs > 0 ? (long) Math.ceil(pending * PAGE / bytesPerMs) : Long.MAX_VALUE;
                progress.accept(new MigrationProgress(rounds, sent[0], sent[0] * (PAGE + 8L), bytesPerMs / 1000, pending,
                        pending * 1000 / elapsedMs, expectedDowntimeMs).line());
                if (pending * PAGE <= bytesPerMs * maxDowntimeMillis) {
                    break; // what is left fits in the downtime: stop and copy
                }
                roundStart = System.nanoTime();
                sent[1] = 0;
                sendPages(vm, channel, batch, dirty, pages, false, sent);
                endRound(channel, rounds++, sent[0]);
                dirty = log.take(); // written while that round went out

            }
            stopIfAsked(vm);
            progress.accept(String.format("stopping the vCPUs: %d pages left, then the state", count(dirty)));
            long pausedAt = System.nanoTime();
            if (!vm.pause()) {
                throw new MigrationException(GUEST_ENDED);
            }
            boolean resumed = false;
            try {
                dirty = or(dirty, log.take());
                sendPages(vm, channel, batch, dirty, pages, false, sent);
                channel.send(MessageType.STATE, SnapshotFile.encodeState(vm.capture()));
                expect(channel, MessageType.RESUMED, "the destination could not resume the guest");
                resumed = true;
                long now = System.nanoTime();
                Report report = new Report(rounds, sent[0], sent[0] * (PAGE + 8L), (now - pausedAt) / 1_000_000,
                        (now - start) / 1_000_000);
                vm.migratedTo(destination, report);
                return report;
            } finally {
                if (!resumed) {
                    vm.resume();
                }
            }
        } finally {
            vm.stopTrackingDirtyPages();
        }
    }

    /**
     * Sends the pages set in {@code which} (all of them when null; then only those that are not zero), each an 8-byte
     * offset and its bytes, copied from guest RAM straight into {@code batch} (one buffer for the whole migration).
     */
    private static void sendPages(Vm vm, SecureChannel channel, byte[] batch, long[] which, long pages, boolean skipZero,
                                  long[] sent) throws IOException {
        ByteBuffer offsets = ByteBuffer.wrap(batch);
        int used = 0;
        for (long p = 0; p < pages; p++) {
            if (which != null && (which[(int) (p >>> 6)] & (1L << (p & 63))) == 0) {
                continue;
            }
            stopIfAsked(vm); // at every page: a sparse round 0 may scan gigabytes between two batches
            if (skipZero && vm.isZeroPage(p * PAGE)) {
                continue;
            }
            offsets.putLong(used, p * PAGE);
            vm.readPage(p * PAGE, batch, used + 8);
            used += PAGE + 8;
            sent[0]++;
            sent[1] += PAGE + 8;
            if (used == batch.length) {
                channel.send(MessageType.PAGES, batch, used);
                used = 0;
            }
        }
        if (used > 0) {
            channel.send(MessageType.PAGES, batch, used);
        }
    }

    private static void endRound(SecureChannel channel, int round, long pagesSoFar) throws IOException {
        channel.send(MessageType.ROUND_END, ByteBuffer.allocate(12).putInt(round).putLong(pagesSoFar).array());
    }

    private static void expect(SecureChannel channel, int type, String refused) throws IOException {
        SecureChannel.Message m = channel.receive();
        if (m.type() == MessageType.ERROR) {
            throw new MigrationException(refused + ": " + new String(m.payload(), StandardCharsets.UTF_8));
        }
        if (m.type() != type) {
            throw new MigrationException("the destination sent " + MessageType.name(m.type()) + " where " + MessageType.name(type)
                    + " was due");
        }
    }

    private static long count(long[] bits) {
        long n = 0;
        for (long w : bits) {
            n += Long.bitCount(w);
        }
        return n;
    }

    private static long[] or(long[] a, long[] b) {
        long[] out = a.clone();
        for (int i = 0; i < out.length && i < b.length; i++) {
            out[i] |= b[i];
        }
        return out;
    }

    private static void closeQuietly(Socket s) {
        try {
            s.close();
        } catch (IOException e) {
            // nothing was sent on it
        }
    }
}

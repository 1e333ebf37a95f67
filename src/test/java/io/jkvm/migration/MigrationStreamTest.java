package io.jkvm.migration;

import io.jkvm.machine.Machine;
import io.jkvm.snapshot.MachineShape;
import io.jkvm.snapshot.MachineState;
import io.jkvm.x86.CpuModel;
import io.jkvm.x86.CpuidFixtures;
import io.jkvm.x86.VcpuState;
import io.jkvm.testing.EmuVm;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.IOException;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The migration stream between a source and a destination in one process, with a fake machine on each side: memory
 * and state arrive exactly, over pre-copy rounds; a sender without the key is refused before any state is read and
 * the destination waits on; a destination that goes away, refuses or corrupts the stream leaves the source running.
 */
class MigrationStreamTest {
    private static final byte[] KEY = "0123456789abcdef0123456789abcdef".getBytes();
    private static final CpuModel MODEL = CpuidFixtures.amdModel();
    private static final long RAM = 2L << 20;
    /** A thread per side: the common pool has one thread on a 2-core machine, and both sides block. */
    private static final java.util.concurrent.Executor THREADS = r -> Thread.ofPlatform().daemon().start(r);

    /** A source machine: RAM as bytes, a dirty log the test scripts, and a record of what the migration did to it. */
    static final class FakeVm implements MigrationSource.Vm {
        final byte[] ram = new byte[(int) RAM];
        final List<String> calls = new ArrayList<>();
        final VcpuState vcpu;
        /** The pages each take() reports, in order; then none. */
        final List<long[]> dirtyRounds = new ArrayList<>();

        FakeVm() {
            for (int page = 0; page < RAM / 4096; page += 3) {
                Arrays.fill(ram, page * 4096, page * 4096 + 100, (byte) (page + 1)); // some pages used, the rest zero
            }
            try (EmuVm vm = new EmuVm(MODEL, new byte[]{(byte) 0xF4})) {
                vcpu = vm.vcpu.saveState();
            }
        }

        @Override
        public MachineShape shape() {
            return new MachineShape(MODEL, RAM, 1);
        }

        @Override
        public void readPage(long offset, byte[] into, int at) {
            System.arraycopy(ram, (int) offset, into, at, 4096);
        }

        /** Pages the migration asked isZeroPage about; once it reaches cancelAt (when set), the user cancels. */
        int zeroChecks;
        int cancelAt = -1;

        @Override
        public boolean isZeroPage(long offset) {
            if (++zeroChecks == cancelAt) {
                cancel = true;
            }
            for (int i = 0; i < 4096; i++) {
                if (ram[(int) offset + i] != 0) {
                    return false;
                }
            }
            return true;
        }

        @Override
        public MigrationSource.DirtyLog trackDirtyPages() {
            calls.add("track");
            AtomicInteger round = new AtomicInteger();
            return () -> {
                int r = round.getAndIncrement();
                return r < dirtyRounds.size() ? dirtyRounds.get(r) : new long[(int) (RAM / 4096 / 64)];
            };
        }

        @Override
        public void stopTrackingDirtyPages() {
            calls.add("untrack");
        }

        @Override
        public boolean pause() {
            calls.add("pause");
            return true;
        }

        @Override
        public void resume() {
            calls.add("resume");
        }

        @Override
        public MachineState capture() {
            calls.add("capture");
            return new MachineState(MODEL, RAM, List.of(vcpu), new LinkedHashMap<>(), 1_000_000);
        }

        volatile boolean cancel;

        @Override
        public String stopReason() {
            return cancel ? "it was cancelled" : null;
        }

        @Override
        public void connected(java.io.Closeable connection) {
        }

        @Override
        public void migratedTo(String destination, MigrationSource.Report report) {
            calls.add("migrated");
        }
    }

    /** Destination RAM as bytes. */
    static final class FakeMemory implements MigrationTarget.Memory {
        final byte[] ram = new byte[(int) RAM];

        @Override
        public long size() {
            return RAM;
        }

        @Override
        public void writePage(long offset, byte[] page, int at) {
            System.arraycopy(page, at, ram, (int) offset, 4096);
        }
    }

    private static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }

    private static CompletableFuture<MigrationTarget.Incoming> destination(int port, byte[] key, FakeMemory memory, List<String> log) {
        return CompletableFuture.supplyAsync(() -> MigrationTarget.receive("127.0.0.1", port, key, shape -> {
            assertEquals(RAM, shape.memorySize());
            return memory;
        }, Machine.DEVICE_STATES, log::add), THREADS);
    }

    private static MigrationSource.Report migrate(FakeVm vm, int port, byte[] key) {
        return migrate(vm, port, key, line -> { });
    }

    private static MigrationSource.Report migrate(FakeVm vm, int port, byte[] key, java.util.function.Consumer<String> progress) {
        long deadline = System.currentTimeMillis() + 10_000;
        while (true) { // the destination may not listen yet
            try {
                return MigrationSource.migrate(vm, "127.0.0.1", port, key, 300, progress);
            } catch (MigrationException e) {
                if (!e.getMessage().contains("cannot reach") || System.currentTimeMillis() > deadline) {
                    throw e;
                }
                Thread.onSpinWait();
            }
        }
    }

    @Test
    @Timeout(60)
    void memoryAndStateArriveExactlyOverPreCopyRounds() throws Exception {
        int port = freePort();
        FakeVm vm = new FakeVm();
        long[] round1 = new long[(int) (RAM / 4096 / 64)];
        round1[0] = 0b1011; // pages 0, 1, 3 written during round 0: they go again
        vm.dirtyRounds.add(round1);
        FakeMemory memory = new FakeMemory();
        List<String> log = new ArrayList<>();
        CompletableFuture<MigrationTarget.Incoming> incoming = destination(port, KEY, memory, log);
        List<String> progress = java.util.Collections.synchronizedList(new ArrayList<>());
        CompletableFuture<MigrationSource.Report> sent = CompletableFuture.supplyAsync(() -> migrate(vm, port, KEY, progress::add), THREADS);
        MigrationTarget.Incoming in = incoming.get();
        in.resumed();
        MigrationSource.Report report = sent.get();
        assertEquals("round 0: sending guest RAM", progress.getFirst());
        assertTrue(progress.get(1).matches("round 1: \\d+ pages \\([0-9.]+ MB\\) sent at [0-9.]+ MB/s; 3 dirty, "
                + "dirtied at \\d+ pages/s; expected downtime \\d+ ms"), "the first pre-copy round: " + progress);
        assertArrayEquals(Arrays.copyOf(vm.ram, (int) RAM), memory.ram, "guest RAM as the source had it when it stopped");
        assertEquals(Optional.empty(), vm.vcpu.firstDifference(in.state().vcpus().getFirst()));
        assertEquals(List.of("track", "pause", "capture", "migrated", "untrack"), vm.calls);
        assertTrue(report.rounds() >= 1 && report.pagesSent() > RAM / 4096 / 3, report.toString());
        assertEquals(List.of(), log);
    }

    @Test
    @Timeout(60)
    void aSenderWithoutTheKeyIsRefusedAndTheDestinationWaitsOn() throws Exception {
        int port = freePort();
        FakeMemory memory = new FakeMemory();
        List<String> log = new java.util.concurrent.CopyOnWriteArrayList<>();
        CompletableFuture<MigrationTarget.Incoming> incoming = destination(port, KEY, memory, log);
        FakeVm stranger = new FakeVm();
        byte[] wrong = KEY.clone();
        wrong[0] ^= 1;
        MigrationException e = assertThrows(MigrationException.class, () -> migrate(stranger, port, wrong));
        assertTrue(e.getMessage().contains("the peer does not hold the migration key") && e.getMessage().endsWith("the VM runs on here"),
                e.getMessage());
        assertEquals(List.of(), stranger.calls, "nothing of the VM was touched");
        FakeVm owner = new FakeVm();
        CompletableFuture<MigrationSource.Report> sent = CompletableFuture.supplyAsync(() -> migrate(owner, port, KEY), THREADS);
        incoming.get().resumed();
        sent.get();
        assertEquals(1, log.size(), log.toString());
        assertTrue(log.getFirst().startsWith("refused a migration from /127.0.0.1:") && log.getFirst().contains("migration key"), log.toString());
        assertArrayEquals(owner.ram, memory.ram);
    }

    @Test
    @Timeout(60)
    void aDestinationThatGoesAwayOrRefusesLeavesTheSourceRunning() throws Exception {
        // Goes away after the handshake
        try (ServerSocket server = new ServerSocket(0)) {
            int port = server.getLocalPort();
            CompletableFuture<Void> peer = CompletableFuture.runAsync(() -> {
                try (Socket s = server.accept()) {
                    SecureChannel c = SecureChannel.server(s, KEY);
                    c.receive(); // the machine's shape, then the connection drops
                } catch (IOException e) {
                    throw new RuntimeException(e);
                }
            }, THREADS);
            FakeVm vm = new FakeVm();
            MigrationException e = assertThrows(MigrationException.class, () -> migrate(vm, port, KEY));
            peer.get();
            assertTrue(e.getMessage().startsWith("the migration to 127.0.0.1:" + port + " failed") && e.getMessage().endsWith("the VM runs on here"),
                    e.getMessage());
            assertTrue(!vm.calls.contains("migrated"), vm.calls.toString());
        }
        // Refuses the machine
        int port = freePort();
        CompletableFuture<MigrationTarget.Incoming> refusing = CompletableFuture.supplyAsync(() -> MigrationTarget.receive("127.0.0.1", port,
                KEY, shape -> {
                    throw new IllegalStateException("--mem 2M is too small here");
                }, Machine.DEVICE_STATES, line -> { }), THREADS);
        FakeVm vm = new FakeVm();
        MigrationException refused = assertThrows(MigrationException.class, () -> migrate(vm, port, KEY));
        assertTrue(refused.getMessage().contains("the destination refused the machine: --mem 2M is too small here"), refused.getMessage());
        assertTrue(assertThrows(java.util.concurrent.ExecutionException.class, refusing::get).getCause() instanceof MigrationException);
        assertEquals(List.of(), vm.calls, "refused before any memory went: the VM was not touched");
    }

    @Test
    @Timeout(60)
    void aCancelledMigrationStopsAndLeavesTheSourceRunning() throws Exception {
        int port = freePort();
        CompletableFuture<MigrationTarget.Incoming> incoming = destination(port, KEY, new FakeMemory(), new ArrayList<>());
        FakeVm vm = new FakeVm();
        vm.cancel = true; // asked before the first batch goes
        MigrationException e = assertThrows(MigrationException.class, () -> migrate(vm, port, KEY));
        assertEquals("the migration to 127.0.0.1:" + port + " failed: it was cancelled; the VM runs on here", e.getMessage());
        assertEquals(List.of("track", "untrack"), vm.calls, "the vCPUs were never stopped");
        java.util.concurrent.ExecutionException gone = assertThrows(java.util.concurrent.ExecutionException.class, incoming::get);
        assertTrue(gone.getCause().getMessage().endsWith("nothing was run here"), gone.getCause().getMessage());
    }

    /**
     * A cancel in the middle of a sparse first round (one page used, the rest zero, so no batch fills) stops the scan
     * at the next page, not after the whole of RAM.
     */
    @Test
    @Timeout(60)
    void aCancelDuringASparseFirstRoundStopsTheScanAtOnce() throws Exception {
        int port = freePort();
        CompletableFuture<MigrationTarget.Incoming> incoming = destination(port, KEY, new FakeMemory(), new ArrayList<>());
        FakeVm vm = new FakeVm();
        Arrays.fill(vm.ram, 4096, vm.ram.length, (byte) 0);
        vm.cancelAt = 2;
        MigrationException e = assertThrows(MigrationException.class, () -> migrate(vm, port, KEY));
        assertEquals("the migration to 127.0.0.1:" + port + " failed: it was cancelled; the VM runs on here", e.getMessage());
        assertEquals(2, vm.zeroChecks, "the scan stopped at the page after the cancel, of " + RAM / 4096);
        assertThrows(java.util.concurrent.ExecutionException.class, incoming::get);
    }

    @Test
    @Timeout(60)
    void aSourceThatStopsSendingMidWayLeavesNothingRunningOnTheDestination() throws Exception {
        int port = freePort();
        FakeMemory memory = new FakeMemory();
        CompletableFuture<MigrationTarget.Incoming> incoming = destination(port, KEY, memory, new ArrayList<>());
        try (Socket s = connect(port)) {
            SecureChannel c = SecureChannel.client(s, KEY);
            c.send(MessageType.MACHINE, new MachineShape(MODEL, RAM, 1).toJson());
            assertEquals(MessageType.ACCEPT, c.receive().type());
            c.send(MessageType.PAGES, new byte[8 + 4096]); // one page, then the source dies
        }
        java.util.concurrent.ExecutionException e = assertThrows(java.util.concurrent.ExecutionException.class, incoming::get);
        assertTrue(e.getCause().getMessage().contains("the connection closed in the middle of the migration; nothing was run here"),
                e.getCause().getMessage());
    }

    private static Socket connect(int port) throws Exception {
        long deadline = System.currentTimeMillis() + 10_000;
        while (true) {
            try {
                return new Socket("127.0.0.1", port);
            } catch (IOException e) {
                if (System.currentTimeMillis() > deadline) {
                    throw e;
                }
                Thread.sleep(20);
            }
        }
    }
}

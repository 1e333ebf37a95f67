package io.jkvm.api;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The protocol: every command's response, state changes, and bad requests answered while the server serves on. */
class ApiServerTest {
    @TempDir
    Path dir;
    Path socket;
    FakeControlTarget vm;
    ApiServer server;

    @BeforeEach
    void start() {
        socket = dir.resolve("vm.sock");
        vm = new FakeControlTarget();
        server = ApiServer.start(socket, vm, Duration.ofMillis(500));
    }

    @AfterEach
    void close() {
        server.close();
    }

    private JsonNode send(String request) throws IOException {
        return SocketClient.exchange(socket, request + "\n");
    }

    private static void assertError(JsonNode response, String start) {
        assertFalse(response.get("ok").asBoolean(), response.toString());
        assertTrue(response.get("error").asText().startsWith(start), response.toString());
        assertFalse(response.get("error").asText().contains("\n"), response.toString());
        assertEquals(2, response.size(), response.toString());
    }

    /** The server still answers a good request: what went before did not end it. */
    private void assertStillServing() throws IOException {
        assertTrue(send("{\"command\": \"info\"}").get("ok").asBoolean());
    }

    @Test
    void infoReportsTheVm() throws IOException {
        JsonNode r = send("{\"command\": \"info\"}");
        assertEquals("{\"ok\":true,\"state\":\"running\",\"backend\":\"emulator\",\"vcpus\":2,\"memoryBytes\":67108864,"
                + "\"cpuModel\":\"host,+apx\"}", r.toString());
    }

    /** A jkvm waiting for a snapshot: info says empty, restore fills it once, the VM's commands wait for it. */
    @Test
    void anEmptyTargetTakesOneRestoreAndRefusesWhatNeedsAVm() throws IOException {
        vm.empty();
        assertEquals("{\"ok\":true,\"state\":\"empty\",\"vcpus\":0,\"memoryBytes\":0}", send("{\"command\": \"info\"}").toString());
        for (String command : List.of("pause", "resume")) {
            assertError(send("{\"command\": \"" + command + "\"}"), "no VM here yet: this jkvm waits for a restore command");
        }
        assertError(send("{\"command\": \"snapshot\", \"file\": \"/tmp/x.snap\"}"), "no VM here yet");
        assertError(send("{\"command\": \"restore\"}"), "restore needs \"file\": the absolute path of the snapshot to restore");
        assertError(send("{\"command\": \"restore\", \"file\": \"vm.snap\"}"), "\"file\" must be an absolute path");
        assertError(send("{\"command\": \"restore\", \"file\": \"/a.snap\", \"checkMemory\": \"no\"}"),
                "\"checkMemory\" must be true or false, not a string");
        assertError(send("{\"command\": \"restore\", \"file\": \"/a.snap\", \"resume\": true}"), "unknown field 'resume'");
        vm.restoreFailure = "/a.snap: not a jkvm snapshot";
        assertError(send("{\"command\": \"restore\", \"file\": \"/a.snap\"}"), "/a.snap: not a jkvm snapshot");
        assertEquals(VmInfo.State.EMPTY, vm.state(), "a failed restore leaves it empty");
        vm.restoreFailure = null;

        JsonNode restored = send("{\"command\": \"restore\", \"file\": \"/b.snap\", \"checkMemory\": false}");
        assertEquals("{\"ok\":true,\"state\":\"running\",\"file\":\"/b.snap\",\"backend\":\"emulator\",\"restoreMillis\":4}",
                restored.toString());
        assertEquals("running", send("{\"command\": \"info\"}").get("state").asText());
        assertError(send("{\"command\": \"restore\", \"file\": \"/b.snap\"}"), "this jkvm runs a VM already");
        assertEquals(List.of("restore /a.snap", "restore /b.snap unchecked"), vm.calls(), "a refused command never reaches the machine");
    }

    @Test
    void aTargetWithAVmRefusesARestore() throws IOException {
        assertError(send("{\"command\": \"restore\", \"file\": \"/b.snap\"}"), "this jkvm runs a VM already: restore into a jkvm that waits");
        assertEquals(List.of(), vm.calls());
    }

    @Test
    void pauseAndResumeChangeTheState() throws IOException {
        JsonNode paused = send("{\"command\": \"pause\"}");
        assertEquals("{\"ok\":true,\"state\":\"paused\"}", paused.toString());
        assertEquals(VmInfo.State.PAUSED, vm.state());
        assertEquals("paused", send("{\"command\": \"info\"}").get("state").asText());
        assertError(send("{\"command\": \"pause\"}"), "the VM is already paused");

        assertEquals("{\"ok\":true,\"state\":\"running\"}", send("{\"command\": \"resume\"}").toString());
        assertEquals(VmInfo.State.RUNNING, vm.state());
        assertError(send("{\"command\": \"resume\"}"), "the VM is not paused");
        assertEquals(List.of("pause", "resume"), vm.calls(), "a refused command never reaches the machine");
    }

    @Test
    void aGuestThatEndsWhilePausingIsAnError() throws IOException {
        vm.guestEndsDuringPause = true;
        assertError(send("{\"command\": \"pause\"}"), "the guest ended before it could be paused");
        assertEquals("ended", send("{\"command\": \"info\"}").get("state").asText());
    }

    @Test
    void anEndedGuestRefusesEverythingButInfo() throws IOException {
        vm.end();
        assertError(send("{\"command\": \"pause\"}"), "the guest has ended: there is nothing to pause");
        assertError(send("{\"command\": \"resume\"}"), "the guest has ended: there is nothing to resume");
        assertError(send("{\"command\": \"snapshot\", \"file\": \"/tmp/x.snap\"}"), "the guest has ended: there is nothing to snapshot");
        assertError(send("{\"command\": \"stop\"}"), "the guest has already ended");
        assertEquals("ended", send("{\"command\": \"info\"}").get("state").asText());
        assertEquals(List.of(), vm.calls());
    }

    @Test
    void snapshotWritesTheFileItIsGiven() throws IOException {
        Path file = dir.resolve("vm.snap");
        JsonNode r = send("{\"command\": \"snapshot\", \"file\": \"" + file + "\"}");
        assertEquals("{\"ok\":true,\"file\":\"" + file + "\",\"pausedMillis\":7,\"totalMillis\":9}", r.toString());
        assertEquals(List.of(file), vm.snapshots());
    }

    @Test
    void aFailedSnapshotIsAnErrorResponseAndTheVmRunsOn() throws IOException {
        vm.snapshotFailure = "cannot write /full/vm.snap: No space left on device";
        assertError(send("{\"command\": \"snapshot\", \"file\": \"/full/vm.snap\"}"), "cannot write /full/vm.snap: No space left on device");
        assertEquals(VmInfo.State.RUNNING, vm.state());
        assertStillServing();
    }

    @Test
    void snapshotArgumentsAreChecked() throws IOException {
        assertError(send("{\"command\": \"snapshot\"}"), "snapshot needs \"file\"");
        assertError(send("{\"command\": \"snapshot\", \"file\": 7}"), "snapshot needs \"file\"");
        assertError(send("{\"command\": \"snapshot\", \"file\": \"\"}"), "snapshot needs \"file\"");
        assertError(send("{\"command\": \"snapshot\", \"file\": \"vm.snap\"}"), "\"file\" must be an absolute path, not vm.snap");
        assertError(send("{\"command\": \"snapshot\", \"file\": \"/a\\u0000b\"}"), "\"file\" is not a usable path");
        assertError(send("{\"command\": \"snapshot\", \"file\": \"/x\", \"compress\": true}"), "unknown field 'compress' in a snapshot request");
        assertEquals(List.of(), vm.calls());
    }

    @Test
    void stopEndsTheVm() throws IOException {
        assertEquals("{\"ok\":true}", send("{\"command\": \"stop\"}").toString());
        assertEquals(VmInfo.State.ENDED, vm.state());
    }

    @Test
    void stopIsAnsweredWhenTheRunClosesTheServerRightAway() throws IOException {
        vm.onStop = t -> Thread.ofPlatform().start(server::close); // as jkvm run does when the machine's run returns
        assertEquals("{\"ok\":true}", send("{\"command\": \"stop\"}").toString());
    }

    @Test
    void infoIsAnsweredWhileAMigrationRuns() throws Exception {
        vm.migrationGate = new java.util.concurrent.CountDownLatch(1);
        java.util.concurrent.CompletableFuture<JsonNode> migrating = java.util.concurrent.CompletableFuture.supplyAsync(() -> {
            try {
                return send("{\"command\": \"migrate\", \"target\": \"tcp:host:4444\"}");
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        }, r -> Thread.ofPlatform().daemon().start(r));
        Thread.sleep(200); // the migrate request is in, holding the command lock
        assertEquals("running", send("{\"command\": \"info\"}").get("state").asText(), "info does not wait for the migration");
        vm.migrationGate.countDown();
        assertTrue(migrating.get().get("ok").asBoolean());
    }

    @Test
    void migrateAnswersHowItWentOrWhyNot() throws IOException {
        assertEquals("{\"ok\":true,\"destination\":\"tcp:host:4444\",\"rounds\":3,\"pagesSent\":1000,\"bytesSent\":4104000,"
                + "\"downtimeMillis\":12,\"totalMillis\":340}", send("{\"command\": \"migrate\", \"target\": \"tcp:host:4444\"}").toString());
        assertError(send("{\"command\": \"migrate\", \"target\": \"host:4444\"}"), "migrate needs \"target\": the destination as tcp:HOST:PORT");
        assertError(send("{\"command\": \"migrate\"}"), "migrate needs \"target\"");
        assertEquals(ControlTarget.DEFAULT_MAX_DOWNTIME_MS, vm.lastMaxDowntimeMillis);
    }

    @Test
    void cancelStopsTheMigrationUnderWay() throws Exception {
        assertError(send("{\"command\": \"cancel\"}"), "no migration is under way");
        vm.migrationGate = new java.util.concurrent.CountDownLatch(1);
        java.util.concurrent.CompletableFuture<JsonNode> migrating = java.util.concurrent.CompletableFuture.supplyAsync(() -> {
            try {
                return send("{\"command\": \"migrate\", \"target\": \"tcp:host:4444\"}");
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        }, r -> Thread.ofPlatform().daemon().start(r));
        Thread.sleep(200);
        assertEquals("{\"ok\":true}", send("{\"command\": \"cancel\"}").toString(), "answered while migrate holds the lock");
        assertError(migrating.get(), "the migration to tcp:host:4444 was cancelled; the VM runs on here");
        assertEquals(VmInfo.State.RUNNING, vm.state());
    }

    @Test
    void migrateTakesTheDowntimeToAimAt() throws IOException {
        assertError(send("{\"command\": \"migrate\", \"target\": \"tcp:h:1\", \"maxDowntimeMillis\": -1}"),
                "\"maxDowntimeMillis\" must be 0 or more milliseconds");
        assertTrue(send("{\"command\": \"migrate\", \"target\": \"tcp:h:1\", \"maxDowntimeMillis\": 50}").get("ok").asBoolean());
        assertEquals(50, vm.lastMaxDowntimeMillis);
    }

    @Test
    void badRequestsAreAnsweredWithErrorsAndTheServerServesOn() throws IOException {
        assertError(send("{\"command\": \"pause\""), "malformed JSON: Unexpected end-of-input");
        assertError(send("not json"), "malformed JSON: Unrecognized token 'not'");
        assertError(send("{\"command\": \"info\"} {\"command\": \"stop\"}"), "malformed JSON: more follows the request object (one request per connection)");
        assertError(send("{\"command\": \"info\", \"command\": \"stop\"}"), "malformed JSON: Duplicate field 'command'");
        assertError(send("[\"info\"]"), "a request is a JSON object such as {\"command\": \"info\"}, not an array");
        assertError(send("{}"), "the request has no \"command\": known commands are info, pause, resume, snapshot, stop, migrate, cancel, restore");
        assertError(send("{\"command\": 1}"), "\"command\" must be a string, not a number");
        assertError(send("{\"command\": \"reboot\"}"), "unknown command 'reboot': known commands are info, pause, resume, snapshot, stop, migrate, cancel, restore");
        assertError(send("{\"command\": \"reboot\\nnow\"}"), "unknown command 'reboot now'");
        assertError(send("{\"command\": \"pause\", \"force\": true}"), "unknown field 'force' in a pause request (it takes no arguments)");
        assertError(send(""), "empty request");
        assertError(SocketClient.exchange(socket, new byte[]{'{', '"', 'c', '"', ':', '"', (byte) 0xc3, '(', '"', '}', '\n'}, false), "malformed JSON: Invalid UTF-8 middle byte");
        assertEquals(List.of(), vm.calls());
        assertStillServing();
    }

    @Test
    void aRequestWithoutNewlineEndsWhereTheClientClosesItsSide() throws IOException {
        JsonNode r = SocketClient.exchange(socket, "{\"command\": \"pause\"}".getBytes(StandardCharsets.UTF_8), true);
        assertEquals("paused", r.get("state").asText());
    }

    @Test
    void anOversizedRequestIsRefusedWithoutReadingItAll() throws IOException {
        byte[] huge = new byte[ApiServer.MAX_REQUEST_BYTES * 2];
        java.util.Arrays.fill(huge, (byte) ' ');
        assertError(SocketClient.exchange(socket, huge, false), "the request is larger than 65536 bytes");
        assertStillServing();
    }

    @Test
    void aRequestOfExactlyTheLimitIsServed() throws IOException {
        String request = "{\"command\": \"info\"}";
        String padded = " ".repeat(ApiServer.MAX_REQUEST_BYTES - request.length()) + request;
        assertEquals(ApiServer.MAX_REQUEST_BYTES, padded.length());
        assertTrue(send(padded).get("ok").asBoolean());
        assertError(send(" " + padded), "the request is larger than 65536 bytes");
    }

    @Test
    void anIdleClientBlocksNobodyAndIsTimedOut() throws IOException {
        try (SocketChannel idle = SocketChannel.open(UnixDomainSocketAddress.of(socket))) {
            idle.write(ByteBuffer.wrap("{\"comm".getBytes(StandardCharsets.UTF_8))); // half a request, then nothing
            long start = System.nanoTime();
            assertStillServing();
            assertTrue(System.nanoTime() - start < Duration.ofMillis(400).toNanos(), "the idle client held up another");
            JsonNode timedOut = new com.fasterxml.jackson.databind.ObjectMapper().readTree(SocketClient.readLine(idle));
            assertError(timedOut, "no complete request within 500 ms");
        }
        assertStillServing();
    }

    @Test
    void moreConnectionsThanTheLimitAreToldToComeBack() throws IOException {
        List<SocketChannel> idle = new ArrayList<>();
        try {
            for (int i = 0; i < ApiServer.MAX_CONNECTIONS; i++) {
                idle.add(SocketChannel.open(UnixDomainSocketAddress.of(socket)));
            }
            assertError(send("{\"command\": \"info\"}"), "the API socket serves 16 connections at once");
        } finally {
            for (SocketChannel c : idle) {
                c.close();
            }
        }
        long deadline = System.nanoTime() + Duration.ofSeconds(5).toNanos();
        while (true) { // the server counts a connection off once its thread has seen the client go
            JsonNode r = send("{\"command\": \"info\"}");
            if (r.get("ok").asBoolean() || System.nanoTime() > deadline) {
                assertTrue(r.get("ok").asBoolean(), r.toString());
                break;
            }
        }
    }

    @Test
    void whatTheMachineThrowsBecomesTheErrorLine() throws IOException {
        vm.infoFailure = new IllegalStateException("cannot read the vCPU state:\nbad file descriptor");
        assertError(send("{\"command\": \"info\"}"), "cannot read the vCPU state: bad file descriptor");
        vm.infoFailure = new NullPointerException();
        assertError(send("{\"command\": \"pause\"}"), "pause failed: NullPointerException (a jkvm bug: please report it)");
        vm.infoFailure = null;
        assertStillServing();
    }

    @Test
    void closeDeletesTheSocketAndIsIdempotent() {
        assertTrue(Files.exists(socket));
        server.close();
        assertFalse(Files.exists(socket));
        server.close();
    }
}

package io.jkvm.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.jkvm.api.ApiClient;
import io.jkvm.linux.SparseFile;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.ServerSocket;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * Snapshot, restore and live migration of the same guests on jkvm's software core and on QEMU TCG, in one run,
 * several times each, with medians (docs/benchmarks.md). The guests (src/jmh/guests) fill their RAM above 2 MiB with a
 * non-zero pattern, print "ready", then idle or keep dirtying 16 MiB; QEMU starts the same ELF through its PVH note.
 * Usage: MigrationBench JKVM_JAR GUEST_DIR WORK_DIR RUNS SIZE_MIB...
 */
public final class MigrationBench {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final long MAX_DOWNTIME_MS = 300; // jkvm's default and QEMU's downtime-limit alike
    private static final Pattern RESTORED = Pattern.compile("jkvm: restored .* in ([0-9.]+) ms");

    private final Path jar;
    private final Path guests;
    private final Path work;
    private final int runs;

    private MigrationBench(Path jar, Path guests, Path work, int runs) {
        this.jar = jar;
        this.guests = guests;
        this.work = work;
        this.runs = runs;
    }

    public static void main(String[] args) throws Exception {
        if (args.length < 5) {
            System.err.println("usage: MigrationBench JKVM_JAR GUEST_DIR WORK_DIR RUNS SIZE_MIB...");
            System.exit(2);
        }
        MigrationBench b = new MigrationBench(Path.of(args[0]), Path.of(args[1]), Path.of(args[2]), Integer.parseInt(args[3]));
        Files.createDirectories(b.work);
        List<String> rows = new ArrayList<>();
        for (int i = 4; i < args.length; i++) {
            long mib = Long.parseLong(args[i]);
            rows.addAll(b.snapshotAndRestore(mib));
            rows.addAll(b.liveMigration(mib, "idle"));
            rows.addAll(b.liveMigration(mib, "busy"));
        }
        System.out.println();
        System.out.println("| guest | measurement | jkvm (software core) | QEMU TCG | jkvm / QEMU |");
        System.out.println("|---|---|---|---|---|");
        rows.forEach(System.out::println);
    }

    /** Milliseconds of each run: the median, with the range. */
    record Times(double[] ms) {
        double median() {
            double[] s = ms.clone();
            Arrays.sort(s);
            return s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
        }

        String show() {
            double min = Arrays.stream(ms).min().orElseThrow(), max = Arrays.stream(ms).max().orElseThrow();
            return String.format(Locale.ROOT, "%.1f (%.1f-%.1f)", median(), min, max);
        }
    }

    private static String row(String guest, String what, Times jkvm, Times qemu) {
        return String.format(Locale.ROOT, "| %s | %s | %s | %s | %.2f |", guest, what, jkvm.show(), qemu.show(),
                jkvm.median() / qemu.median());
    }

    private List<String> snapshotAndRestore(long mib) throws Exception {
        String guest = mib + " MiB idle";
        Path elf = guests.resolve("migrate_idle.elf");
        double[] jkvmSnap = new double[runs], jkvmPaused = new double[runs], jkvmRestore = new double[runs], jkvmStart = new double[runs];
        double[] jkvmWaiting = new double[runs], jkvmUnchecked = new double[runs];
        long dataBytes = 0;
        Path socket = work.resolve("jkvm.sock");
        try (Proc vm = Proc.start(jkvm("run", "--api-socket", socket.toString(), "--image", elf.toString(),
                "--mem", mib + "M", "--backend", "emulator"))) {
            vm.awaitOut("ready", 600);
            for (int i = 0; i < runs; i++) {
                Path file = work.resolve("jkvm-" + i + ".snap");
                long t0 = System.nanoTime();
                JsonNode r = ok(new ApiClient(socket).send(ApiClient.request("snapshot").put("file", file.toString())));
                jkvmSnap[i] = millisSince(t0);
                jkvmPaused[i] = r.get("pausedMillis").asDouble();
            }
            new ApiClient(socket).send(ApiClient.request("stop"));
        }
        for (int i = 0; i < runs; i++) {
            Path file = work.resolve("jkvm-" + i + ".snap");
            dataBytes = dataBytes(file);
            long t0 = System.nanoTime();
            try (Proc restored = Proc.start(jkvm("restore", file.toString(), "--backend", "emulator", "--trace"))) {
                Matcher m = restored.awaitErr(RESTORED, 120);
                jkvmStart[i] = millisSince(t0);
                jkvmRestore[i] = Double.parseDouble(m.group(1));
            }
            jkvmWaiting[i] = restoreIntoWaitingJkvm(file, true);
            jkvmUnchecked[i] = restoreIntoWaitingJkvm(file, false);
            deleteSnapshot(file);
        }
        System.err.printf(Locale.ROOT, "bench-migrate: %s: jkvm memory file holds %.1f MiB of data%n", guest, dataBytes / 1048576.0);

        double[] qemuSnap = new double[runs], qemuRestore = new double[runs], qemuStart = new double[runs];
        Path qmpSocket = work.resolve("qemu.qmp");
        try (Proc vm = Proc.start(qemu(mib, elf, qmpSocket)); Qmp qmp = Qmp.connect(qmpSocket)) {
            vm.awaitOut("ready", 600);
            for (int i = 0; i < runs; i++) {
                Path file = work.resolve("qemu-" + i + ".mig");
                long t0 = System.nanoTime();
                qmp.execute("stop", null);
                qmp.execute("migrate", JSON.createObjectNode().put("uri", "exec:dd of=" + file + " bs=1M conv=fsync status=none"));
                qmp.awaitMigration();
                qmp.execute("cont", null);
                qemuSnap[i] = millisSince(t0);
            }
            qmp.execute("quit", null);
        }
        for (int i = 0; i < runs; i++) {
            Path file = work.resolve("qemu-" + i + ".mig");
            Path restoreQmp = work.resolve("qemu-restore.qmp");
            long t0 = System.nanoTime();
            List<String> command = qemu(mib, elf, restoreQmp);
            command.addAll(List.of("-incoming", "defer"));
            try (Proc vm = Proc.start(command); Qmp qmp = Qmp.connect(restoreQmp)) {
                long t1 = System.nanoTime();
                qmp.execute("migrate-incoming", JSON.createObjectNode().put("uri", "exec:cat " + file));
                String status;
                while ((status = qmp.execute("query-status", null).get("status").asText()).equals("inmigrate")) {
                    Thread.sleep(1);
                }
                if (!status.equals("running")) {
                    qmp.execute("cont", null); // a guest saved paused arrives paused
                }
                qemuRestore[i] = millisSince(t1);
                qemuStart[i] = millisSince(t0);
                qmp.execute("quit", null);
            }
            Files.delete(file);
        }
        return List.of(
                row(guest, "snapshot: request to file in place, guest paused throughout (ms)", new Times(jkvmSnap), new Times(qemuSnap)),
                row(guest, "restore: snapshot read to guest ready to run, in the process (ms)", new Times(jkvmRestore), new Times(qemuRestore)),
                row(guest, "restore: process start to guest ready to run (ms)", new Times(jkvmStart), new Times(qemuStart)),
                row(guest, "restore into a waiting process: request to guest ready to run (ms)", new Times(jkvmWaiting), new Times(qemuRestore)),
                row(guest, "the same, jkvm without its memory check (ms)", new Times(jkvmUnchecked), new Times(qemuRestore)));
    }

    /**
     * A restore into a jkvm started beforehand and waiting ({@code jkvm restore --api-socket}), as QEMU's
     * {@code -incoming defer} waits: the time from sending the request to its answer, the guest ready to run.
     */
    private double restoreIntoWaitingJkvm(Path file, boolean checkMemory) throws Exception {
        Path socket = work.resolve("waiting.sock");
        try (Proc vm = Proc.start(jkvm("restore", "--api-socket", socket.toString(), "--backend", "emulator"))) {
            vm.awaitErr(Pattern.compile("waiting for a restore command"), 120);
            ObjectNode request = ApiClient.request("restore").put("file", file.toString()).put("checkMemory", checkMemory);
            long t0 = System.nanoTime();
            ok(new ApiClient(socket).send(request));
            double millis = millisSince(t0);
            new ApiClient(socket).send(ApiClient.request("stop"));
            return millis;
        }
    }

    private List<String> liveMigration(long mib, String kind) throws Exception {
        String guest = mib + " MiB " + kind;
        Path elf = guests.resolve("migrate_" + kind + ".elf");
        Path key = work.resolve("migration.key");
        Files.write(key, new java.security.SecureRandom().generateSeed(32));
        Files.setPosixFilePermissions(key, java.nio.file.attribute.PosixFilePermissions.fromString("rw-------"));
        double[] jTotal = new double[runs], jDown = new double[runs], jMiB = new double[runs];
        double[] qTotal = new double[runs], qDown = new double[runs], qMiB = new double[runs];
        for (int i = 0; i < runs; i++) {
            int port = freePort();
            Path socket = work.resolve("jkvm-src.sock");
            try (Proc destination = Proc.start(jkvm("run", "--incoming", "tcp:127.0.0.1:" + port, "--migration-key", key.toString(),
                    "--backend", "emulator"));
                 Proc source = Proc.start(jkvm("run", "--api-socket", socket.toString(), "--migration-key", key.toString(),
                         "--image", elf.toString(), "--mem", mib + "M", "--backend", "emulator"))) {
                source.awaitOut("ready", 600);
                awaitListening(port, destination);
                JsonNode r = ok(new ApiClient(socket).send(ApiClient.request("migrate")
                        .put("target", "tcp:127.0.0.1:" + port).put("maxDowntimeMillis", MAX_DOWNTIME_MS)));
                jTotal[i] = r.get("totalMillis").asDouble();
                jDown[i] = r.get("downtimeMillis").asDouble();
                jMiB[i] = r.get("bytesSent").asDouble() / 1048576.0;
                if (!source.process.waitFor(30, TimeUnit.SECONDS) || source.process.exitValue() != 0) {
                    throw new IllegalStateException("the jkvm source did not end with status 0 after migrating:\n" + source.err);
                }
                if (!destination.process.isAlive()) {
                    throw new IllegalStateException("the jkvm destination did not run the guest on:\n" + destination.err);
                }
            }

            port = freePort();
            Path srcQmp = work.resolve("qemu-src.qmp"), dstQmp = work.resolve("qemu-dst.qmp");
            List<String> destinationCommand = qemu(mib, elf, dstQmp);
            destinationCommand.addAll(List.of("-incoming", "tcp:127.0.0.1:" + port));
            try (Proc destination = Proc.start(destinationCommand); Qmp dst = Qmp.connect(dstQmp);
                 Proc source = Proc.start(qemu(mib, elf, srcQmp)); Qmp src = Qmp.connect(srcQmp)) {
                source.awaitOut("ready", 600);
                src.execute("migrate-set-parameters", JSON.createObjectNode().put("downtime-limit", MAX_DOWNTIME_MS)
                        .put("max-bandwidth", 64L << 30)); // no bandwidth cap, as jkvm has none
                src.execute("migrate", JSON.createObjectNode().put("uri", "tcp:127.0.0.1:" + port));
                JsonNode done = src.awaitMigration();
                qTotal[i] = done.get("total-time").asDouble();
                qDown[i] = done.get("downtime").asDouble();
                qMiB[i] = done.get("ram").get("transferred").asDouble() / 1048576.0;
                String status;
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
                while (!(status = dst.execute("query-status", null).get("status").asText()).equals("running")) {
                    if (System.nanoTime() > deadline) {
                        throw new IllegalStateException("the QEMU destination is " + status + ", not running, after migrating");
                    }
                    Thread.sleep(5);
                }
                src.execute("quit", null);
                dst.execute("quit", null);
            }
        }
        return List.of(
                row(guest, "live migration: total (ms)", new Times(jTotal), new Times(qTotal)),
                row(guest, "live migration: downtime (ms)", new Times(jDown), new Times(qDown)),
                row(guest, "live migration: MiB sent", new Times(jMiB), new Times(qMiB)));
    }

    private List<String> jkvm(String... args) {
        List<String> c = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Xmx256m", "--enable-native-access=ALL-UNNAMED"));
        String aot = System.getProperty("jkvm.aotCache", "");
        if (!aot.isEmpty()) { // the start-up cache scripts/jkvm uses (made for these same options)
            c.add("-XX:AOTCache=" + aot);
        }
        c.addAll(List.of("-jar", jar.toString()));
        c.addAll(List.of(args));
        return c;
    }

    /** QEMU TCG on a microvm with no interrupt source (no PIT, PIC or RTC), COM1 on stdout and QMP on a socket. */
    private static List<String> qemu(long mib, Path elf, Path qmp) throws IOException {
        Files.deleteIfExists(qmp);
        return new ArrayList<>(List.of("qemu-system-x86_64", "-accel", "tcg", "-M", "microvm,pit=off,pic=off,rtc=off,isa-serial=on",
                "-m", mib + "M", "-nodefaults", "-no-user-config", "-display", "none", "-serial", "stdio",
                "-kernel", elf.toString(), "-qmp", "unix:" + qmp + ",server=on,wait=off"));
    }

    private static JsonNode ok(JsonNode response) {
        if (!response.path("ok").asBoolean()) {
            throw new IllegalStateException("jkvm answered " + response);
        }
        return response;
    }

    private static double millisSince(long t0) {
        return (System.nanoTime() - t0) / 1e6;
    }

    /** Bytes of data (not holes) in a snapshot's memory file. */
    private static long dataBytes(Path snapshot) throws IOException {
        try (Stream<Path> files = Files.list(snapshot.getParent())) {
            Path mem = files.filter(p -> p.getFileName().toString().startsWith(snapshot.getFileName() + ".mem-")).findFirst().orElseThrow();
            return SparseFile.dataExtents(mem, Files.size(mem)).stream().mapToLong(e -> e.end() - e.start()).sum();
        }
    }

    private static void deleteSnapshot(Path snapshot) throws IOException {
        try (Stream<Path> files = Files.list(snapshot.getParent())) {
            for (Path p : files.filter(p -> p.getFileName().toString().startsWith(snapshot.getFileName().toString())).toList()) {
                Files.delete(p);
            }
        }
    }

    private static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }

    /**
     * Waits until something listens on local port {@code port} (/proc/net/tcp and tcp6, state 0A: the JVM listens on
     * an IPv6 socket), without connecting to it: a probe would count as a failed source at the destination.
     */
    private static void awaitListening(int port, Proc owner) throws Exception {
        String local = String.format(":%04X", port);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (Stream.of("/proc/net/tcp", "/proc/net/tcp6").flatMap(f -> lines(Path.of(f))).map(l -> l.trim().split("\\s+"))
                .noneMatch(f -> f.length > 3 && f[1].endsWith(local) && f[3].equals("0A"))) {
            if (!owner.process.isAlive() || System.nanoTime() > deadline) {
                throw new IllegalStateException("the destination never listened on port " + port + ":\n" + owner.err);
            }
            Thread.sleep(10);
        }
    }

    private static Stream<String> lines(Path file) {
        try {
            return Files.readAllLines(file).stream();
        } catch (IOException e) {
            return Stream.empty(); // no IPv6 here
        }
    }

    /** A process with its stdout and stderr collected as they come. */
    record Proc(Process process, StringBuffer out, StringBuffer err) implements AutoCloseable {
        static Proc start(List<String> command) throws IOException {
            Process p = new ProcessBuilder(command).start();
            Proc proc = new Proc(p, new StringBuffer(), new StringBuffer());
            drain(p.getInputStream(), proc.out);
            drain(p.getErrorStream(), proc.err);
            return proc;
        }

        private static void drain(InputStream in, StringBuffer into) {
            Thread.ofPlatform().daemon().start(() -> {
                byte[] b = new byte[8192];
                int n;
                try (in) {
                    while ((n = in.read(b)) >= 0) {
                        into.append(new String(b, 0, n, StandardCharsets.UTF_8));
                    }
                } catch (IOException e) {
                    // the process ended
                }
            });
        }

        void awaitOut(String text, int seconds) throws InterruptedException {
            await(() -> out.indexOf(text) >= 0 ? "" : null, seconds, "'" + text + "' on stdout");
        }

        Matcher awaitErr(Pattern pattern, int seconds) throws InterruptedException {
            Matcher[] found = new Matcher[1];
            await(() -> {
                Matcher m = pattern.matcher(err);
                return m.find() ? (found[0] = m).group() : null;
            }, seconds, pattern + " on stderr");
            return found[0];
        }

        private void await(Supplier<String> check, int seconds, String what) throws InterruptedException {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
            while (check.get() == null) {
                if (!process.isAlive() || System.nanoTime() > deadline) {
                    throw new IllegalStateException(String.join(" ", process.info().commandLine().orElse("the process"))
                            + " never showed " + what + ":\n" + out + err);
                }
                Thread.sleep(1);
            }
        }

        @Override
        public void close() throws InterruptedException {
            process.destroy();
            if (!process.waitFor(10, TimeUnit.SECONDS)) {
                process.destroyForcibly().waitFor();
            }
        }
    }

    /** A QMP connection: commands answered in order; events skipped. */
    static final class Qmp implements AutoCloseable {
        private final SocketChannel channel;
        private final BufferedReader in;
        private final OutputStream out;

        private Qmp(SocketChannel channel) {
            this.channel = channel;
            this.in = new BufferedReader(new InputStreamReader(Channels.newInputStream(channel), StandardCharsets.UTF_8));
            this.out = Channels.newOutputStream(channel);
        }

        static Qmp connect(Path socket) throws Exception {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            while (true) {
                try {
                    Qmp q = new Qmp(SocketChannel.open(UnixDomainSocketAddress.of(socket)));
                    q.in.readLine(); // the greeting
                    q.execute("qmp_capabilities", null);
                    return q;
                } catch (IOException e) {
                    if (System.nanoTime() > deadline) {
                        throw new IllegalStateException("QEMU never opened its QMP socket " + socket, e);
                    }
                    Thread.sleep(5);
                }
            }
        }

        JsonNode execute(String command, ObjectNode arguments) throws IOException {
            ObjectNode request = JSON.createObjectNode().put("execute", command);
            if (arguments != null) {
                request.set("arguments", arguments);
            }
            out.write((request + "\n").getBytes(StandardCharsets.UTF_8));
            out.flush();
            while (true) {
                String line = in.readLine();
                if (line == null) {
                    if (command.equals("quit")) {
                        return JSON.createObjectNode();
                    }
                    throw new IOException("QEMU closed QMP while answering " + command);
                }
                JsonNode r = JSON.readTree(line);
                if (r.has("return")) {
                    return r.get("return");
                }
                if (r.has("error")) {
                    throw new IllegalStateException("QEMU refused " + command + ": " + r.get("error"));
                }
            }
        }

        /** Polls query-migrate until the migration completes; its answer then. */
        JsonNode awaitMigration() throws Exception {
            while (true) {
                JsonNode r = execute("query-migrate", null);
                String status = r.path("status").asText();
                if (status.equals("completed")) {
                    return r;
                }
                if (status.equals("failed") || status.equals("cancelled")) {
                    throw new IllegalStateException("QEMU's migration " + status + ": " + r);
                }
                Thread.sleep(1);
            }
        }

        @Override
        public void close() throws IOException {
            channel.close();
        }
    }
}

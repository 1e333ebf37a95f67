package io.jkvm.fuzz;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * Runs `jkvm run` in a process of its own, as a user would: killed at the time limit or when its RSS passes the
 * bound, its peak RSS read from /proc/PID/status (VmHWM) while it runs, its output drained and capped.
 */
final class JkvmProcess {
    /** Output kept for the report; the rest is only counted (a guest may print without end). */
    private static final int KEPT_OUTPUT = 64 * 1024;
    private static final long POLL_MILLIS = 20;

    /** How one run ended. {@code status} is -1 when the process was killed. */
    record Result(int status, boolean timedOut, boolean killedForMemory, long peakRssKib, long stdoutBytes,
                  String stdoutHead, String stderr, List<Path> crashFiles, long millis) {
    }

    private final List<String> command;

    /** {@code command}: how to start jkvm (java, its options, -jar or the main class), without the subcommand. */
    JkvmProcess(List<String> command) {
        this.command = List.copyOf(command);
    }

    Result run(Path image, List<String> arguments, byte[] stdin, Duration limit, long rssLimitKib, Path workDir)
            throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(command.subList(0, 1));
        // A JVM crash must leave its report where this run can find it, not in the working directory.
        cmd.add("-XX:ErrorFile=" + workDir.resolve("hs_err_pid%p.log"));
        cmd.addAll(command.subList(1, command.size()));
        cmd.addAll(List.of("run", "--image", image.toString()));
        cmd.addAll(arguments);
        ProcessBuilder pb = new ProcessBuilder(cmd).directory(workDir.toFile());
        if (stdin.length == 0) {
            pb.redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")));
        }
        long start = System.nanoTime();
        Process p = pb.start();
        Drain out = new Drain(p.getInputStream());
        Drain err = new Drain(p.getErrorStream());
        Thread feeder = stdin.length == 0 ? null : Thread.ofPlatform().daemon().start(() -> feed(p.getOutputStream(), stdin));
        Path status = Path.of("/proc", Long.toString(p.pid()), "status");
        long peak = 0;
        boolean timedOut = false;
        boolean overMemory = false;
        long deadline = start + limit.toNanos();
        while (!p.waitFor(POLL_MILLIS, TimeUnit.MILLISECONDS)) {
            long[] rss = readRss(status);
            peak = Math.max(peak, rss[1]);
            if (rss[0] > rssLimitKib) {
                overMemory = true; // killed before it can take the host's memory
                break;
            }
            if (System.nanoTime() > deadline) {
                timedOut = true;
                break;
            }
        }
        if (timedOut || overMemory) {
            p.destroyForcibly();
            p.waitFor();
        }
        long millis = (System.nanoTime() - start) / 1_000_000;
        out.join();
        err.join();
        if (feeder != null) {
            feeder.interrupt();
        }
        List<Path> crashes;
        try (Stream<Path> files = Files.list(workDir)) {
            crashes = files.filter(f -> f.getFileName().toString().startsWith("hs_err_pid")).toList();
        }
        int exit = timedOut || overMemory ? -1 : p.exitValue();
        return new Result(exit, timedOut, overMemory, peak, out.total, out.head(), err.head(), crashes, millis);
    }

    /** {VmRSS, VmHWM} in KiB, or zeros once the process is gone. */
    private static long[] readRss(Path status) {
        long rss = 0;
        long hwm = 0;
        try {
            for (String line : Files.readAllLines(status)) {
                if (line.startsWith("VmRSS:")) {
                    rss = kib(line);
                } else if (line.startsWith("VmHWM:")) {
                    hwm = kib(line);
                }
            }
        } catch (IOException e) {
            // the process ended between waitFor and the read
        }
        return new long[]{rss, hwm};
    }

    private static long kib(String line) {
        return Long.parseLong(line.replaceAll("[^0-9]", ""));
    }

    private static void feed(OutputStream in, byte[] bytes) {
        try (in) {
            for (int at = 0; at < bytes.length; at += 4096) {
                in.write(bytes, at, Math.min(4096, bytes.length - at));
            }
        } catch (IOException e) {
            // jkvm ended before it read everything: that is its right
        }
    }

    /** Reads a stream to its end on a thread of its own, keeping the first {@link #KEPT_OUTPUT} bytes. */
    private static final class Drain {
        private final ByteArrayOutputStream kept = new ByteArrayOutputStream();
        private final Thread thread;
        private long total;

        Drain(InputStream in) {
            thread = Thread.ofPlatform().daemon().start(() -> {
                byte[] buffer = new byte[8192];
                try (in) {
                    int n;
                    while ((n = in.read(buffer)) >= 0) {
                        int keep = (int) Math.min(n, Math.max(0, KEPT_OUTPUT - total));
                        kept.write(buffer, 0, keep);
                        total += n;
                    }
                } catch (IOException e) {
                    // the process was killed
                }
            });
        }

        void join() throws InterruptedException {
            thread.join();
        }

        String head() {
            return kept.toString(StandardCharsets.UTF_8);
        }
    }
}

package io.jkvm.fuzz;

import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Random;
import java.util.SplittableRandom;
import java.util.TreeMap;
import java.util.stream.Stream;

/**
 * The guest fuzzer behind scripts/fuzz-guests and GuestFuzzRoundTest: seeded rounds of random, mutated and hostile
 * guests, each run through `jkvm run` on the software core or KVM (some with --cpus 4) and checked against the
 * contract (ContractCheck). One line per violation, with the seed and case to reproduce it; the images of failing
 * cases, their sources and what happened are kept in the failures directory.
 */
public final class GuestFuzzer {
    /** The CI round: GuestFuzzRoundTest and `scripts/fuzz-guests --ci`. */
    public static final long CI_SEED = 13;
    public static final int CI_RUNS = 40;
    public static final Duration CI_TIME_LIMIT = Duration.ofSeconds(5);
    static final int LONG_RUNS = 2000;
    public static final long RSS_LIMIT_MIB = 1024;

    /** What a round does: the seed, the number of runs (or one case), the limits, how to start jkvm. */
    public record Options(long seed, int runs, int onlyCase, String onlyKind, Duration timeLimit, long rssLimitMib,
                          Path project, Path failures, List<String> launcher, boolean verbose) {
    }

    /** A broken rule in one case, and the line that reports it. */
    public record Finding(int index, String kind, String rule, String line) {
    }

    /** What a round found, and its figures. */
    public record Round(List<Finding> violations, int runs, int onKvm, int smp, int ranOn, long maxRssKib, long millis,
                        String summary) {
    }

    private final Options o;
    private final PrintStream log;
    private final boolean kvm;
    private final List<Path> testGuests;
    private final JkvmProcess jkvm;

    private GuestFuzzer(Options o, PrintStream log) {
        this.o = o;
        this.log = log;
        Path dev = Path.of("/dev/kvm");
        this.kvm = Files.isReadable(dev) && Files.isWritable(dev);
        this.testGuests = listTestGuests(o.project().resolve("target/test-classes/guests"));
        this.jkvm = new JkvmProcess(o.launcher());
    }

    public static Round run(Options o, PrintStream log) throws IOException, InterruptedException {
        return new GuestFuzzer(o, log).round();
    }

    private Round round() throws IOException, InterruptedException {
        long start = System.nanoTime();
        List<Finding> findings = new ArrayList<>();
        TreeMap<Integer, Integer> statuses = new TreeMap<>();
        int ranOn = 0;
        int runs = 0;
        int onKvm = 0;
        int smp = 0;
        long maxRss = 0;
        Path work = Files.createTempDirectory("fuzz-guests");
        try {
            int first = o.onlyCase() >= 0 ? o.onlyCase() : 0;
            int last = o.onlyCase() >= 0 ? o.onlyCase() : o.runs() - 1;
            for (int i = first; i <= last; i++) {
                Path dir = Files.createDirectories(work.resolve("case-" + i));
                FuzzCase c = newCase(i, dir);
                if (c == null) {
                    continue; // not of the kind asked for
                }
                Path image = dir.resolve(c.imageName());
                Files.write(image, c.image());
                JkvmProcess.Result r = jkvm.run(image, c.runArguments(), c.stdin(), o.timeLimit(), o.rssLimitMib() << 10, dir);
                if (r.timedOut() && !c.expect().mayRunOn()) { // a busy host is not a hang: confirm it with three times the time
                    log.printf("fuzz-guests: case %d ran past %d s; running it again with %d s%n", i,
                            o.timeLimit().toSeconds(), 3 * o.timeLimit().toSeconds());
                    r = jkvm.run(image, c.runArguments(), c.stdin(), o.timeLimit().multipliedBy(3), o.rssLimitMib() << 10, dir);
                }
                runs++;
                onKvm += c.backend().equals("kvm") ? 1 : 0;
                smp += c.cpus() > 1 ? 1 : 0;
                ranOn += r.timedOut() ? 1 : 0;
                maxRss = Math.max(maxRss, r.peakRssKib());
                statuses.merge(r.status(), 1, Integer::sum);
                List<ContractCheck.Violation> violations = ContractCheck.check(c, r, o.rssLimitMib() << 10);
                if (o.verbose()) {
                    log.printf("fuzz-guests: case %d (%s): %s in %d ms, peak RSS %d MiB%s%n", i, c.describe(),
                            r.timedOut() ? "killed at the time limit" : "status " + r.status(), r.millis(), r.peakRssKib() >> 10,
                            r.stderr().isBlank() ? "" : ": " + r.stderr().lines().findFirst().orElse(""));
                }
                if (!violations.isEmpty()) {
                    Path kept = keep(c, r, violations, image);
                    for (ContractCheck.Violation v : violations) {
                        String line = String.format("fuzz-guests: VIOLATION %s: seed %d case %d (%s): %s; image %s;"
                                        + " reproduce: scripts/fuzz-guests --seed %d --case %d --time-limit %d%s",
                                v.rule(), o.seed(), i, c.describe(), v.detail(), kept, o.seed(), i, o.timeLimit().toSeconds(),
                                o.rssLimitMib() == RSS_LIMIT_MIB ? "" : " --rss-limit " + o.rssLimitMib());
                        log.println(line);
                        findings.add(new Finding(i, c.kind(), v.rule(), line));
                    }
                }
                deleteTree(dir);
            }
        } finally {
            deleteTree(work);
        }
        long millis = (System.nanoTime() - start) / 1_000_000;
        String summary = String.format("fuzz-guests: seed %d: %d runs (%d on KVM%s, %d with --cpus 4) in %.1f s; statuses %s"
                        + " (-1: killed); %d ran on past the time limit; peak RSS at most %d MiB; %d violations",
                o.seed(), runs, onKvm, kvm ? "" : ", which ran on the software core: /dev/kvm is not usable here", smp,
                millis / 1000.0, statuses, ranOn, maxRss >> 10, findings.size());
        log.println(summary);
        return new Round(List.copyOf(findings), runs, kvm ? onKvm : 0, smp, ranOn, maxRss, millis, summary);
    }

    /**
     * Case {@code index} of the round's seed: the same guest and arguments on every machine with the same build; null
     * when its kind is not the one asked for.
     */
    private FuzzCase newCase(int index, Path dir) throws IOException, InterruptedException {
        Random r = new Random(new SplittableRandom(o.seed() ^ (index * 0x9E3779B97F4A7C15L)).nextLong());
        boolean onKvm = index % 2 == 1;
        String backend = onKvm && kvm ? "kvm" : "emulator";
        int cpus = r.nextInt(5) == 0 ? 4 : 1;
        long memory = List.of(2L, 16L, 64L, 64L, 64L, 256L).get(r.nextInt(6)) << 20;
        byte[] stdin = new byte[r.nextInt(4) == 0 ? 1024 + r.nextInt(256 * 1024) : 0];
        r.nextBytes(stdin);
        String mem = (memory >> 20) + "M";
        int pick = r.nextInt(20);
        if (pick < 11) {
            HostileSnippets.Snippet s = HostileSnippets.generate(r, memory, onKvm);
            boolean elf = r.nextBoolean();
            if (!("snippet:" + s.theme()).startsWith(o.onlyKind())) {
                return null;
            }
            byte[] image = assemble(s.source(), dir, elf);
            return new FuzzCase(o.seed(), index, "snippet:" + s.theme(), image, elf, s.source(), backend, cpus, mem, stdin, s.expect());
        }
        RandomImages.Image image = pick < 15 || testGuests.isEmpty() ? RandomImages.random(r)
                : mutation(r);
        if (!image.kind().startsWith(o.onlyKind())) {
            return null;
        }
        var expect = new FuzzCase.Expectation(java.util.Set.of(0, 2), RandomImages.canWriteDebugExit(image.bytes()), true, -1, -1);
        return new FuzzCase(o.seed(), index, image.kind(), image.bytes(), image.elf(), "", backend, cpus, mem, stdin, expect);
    }

    private RandomImages.Image mutation(Random r) throws IOException {
        Path guest = testGuests.get(r.nextInt(testGuests.size()));
        return RandomImages.mutate(r, guest.getFileName().toString(), Files.readAllBytes(guest));
    }

    /** GNU as source to an image, with the build's own scripts/build-guests (the ELF, or its flat binary). */
    private byte[] assemble(String source, Path dir, boolean elf) throws IOException, InterruptedException {
        Path src = Files.createDirectories(dir.resolve("src"));
        Files.writeString(src.resolve("fuzz.S"), source);
        Path out = dir.resolve("out");
        Process p = new ProcessBuilder("bash", o.project().resolve("scripts/build-guests").toString(), src.toString(), out.toString())
                .redirectErrorStream(true).start();
        String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (p.waitFor() != 0) {
            Path kept = Files.createDirectories(o.failures()).resolve("unassembled-seed" + o.seed() + ".S");
            Files.writeString(kept, source);
            throw new IllegalStateException("fuzz-guests: a generated guest does not assemble (a fuzzer bug), source in "
                    + kept + ": " + output.lines().filter(l -> l.contains("Error")).findFirst().orElse(output));
        }
        return Files.readAllBytes(out.resolve(elf ? "fuzz.elf" : "fuzz.bin"));
    }

    /** Copies a failing case's image, source and report into the failures directory; returns the image's path there. */
    private Path keep(FuzzCase c, JkvmProcess.Result r, List<ContractCheck.Violation> violations, Path image) throws IOException {
        Path dir = Files.createDirectories(o.failures());
        Path kept = dir.resolve(c.imageName());
        Files.copy(image, kept, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        String base = c.imageName().replaceAll("\\.(elf|bin)$", "");
        if (!c.source().isEmpty()) {
            Files.writeString(dir.resolve(base + ".S"), c.source());
        }
        if (c.stdin().length > 0) {
            Files.write(dir.resolve(base + ".stdin"), c.stdin());
        }
        StringBuilder report = new StringBuilder();
        report.append("seed ").append(c.seed()).append(" case ").append(c.index()).append(": ").append(c.describe()).append('\n');
        violations.forEach(v -> report.append("violation ").append(v.rule()).append(": ").append(v.detail()).append('\n'));
        report.append("command: ").append(String.join(" ", o.launcher())).append(" run --image ").append(kept).append(' ')
                .append(String.join(" ", c.runArguments())).append(c.stdin().length > 0 ? " < " + dir.resolve(base + ".stdin") : "").append('\n');
        report.append("status ").append(r.status()).append(r.timedOut() ? " (killed at the time limit)" : "")
                .append(", ").append(r.millis()).append(" ms, peak RSS ").append(r.peakRssKib()).append(" KiB, ")
                .append(r.stdoutBytes()).append(" bytes on stdout\n");
        report.append("expected: ").append(c.expect().describeAllowed()).append('\n');
        report.append("--- stderr\n").append(r.stderr()).append("\n--- stdout (first 64 KiB)\n").append(r.stdoutHead()).append('\n');
        for (Path crash : r.crashFiles()) {
            Files.copy(crash, dir.resolve(base + "-" + crash.getFileName()), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        }
        Files.writeString(dir.resolve(base + ".txt"), report.toString());
        return kept;
    }

    private static List<Path> listTestGuests(Path dir) {
        if (!Files.isDirectory(dir)) {
            return List.of();
        }
        try (Stream<Path> files = Files.list(dir)) {
            return files.filter(f -> f.toString().endsWith(".elf") || f.toString().endsWith(".bin")).sorted().toList();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * The JVM options `jkvm` runs with: JKVM_JAVA_OPTS when set, else scripts/jvm.options, the java @argument file
     * scripts/jkvm starts java with, so the fuzzer runs jkvm exactly as users do.
     */
    public static List<String> jkvmJavaOptions(Path project) {
        String options = System.getenv("JKVM_JAVA_OPTS");
        if (options == null) {
            return List.of("@" + project.resolve("scripts/jvm.options"));
        }
        return options.isBlank() ? List.of() : List.of(options.strip().split("\\s+"));
    }

    private static void deleteTree(Path root) throws IOException {
        if (!Files.exists(root)) {
            return;
        }
        try (Stream<Path> all = Files.walk(root)) {
            for (Path p : all.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        }
    }

    // ---- command line ----------------------------------------------------------------------------------------

    private static final String USAGE = """
            usage: scripts/fuzz-guests [--seed N] [--runs N] [--time-limit S] [--case N] [--kind PREFIX] [--rss-limit MIB] [--ci] [--long] [--verbose]
              --seed N        the round's seed (default: a fresh one, printed)
              --runs N        runs in the round (default 200; --long: %d)
              --time-limit S  seconds before a run is killed (default 5)
              --case N        run only case N of the seed (to reproduce a violation)
              --kind PREFIX   run only the cases whose kind starts with PREFIX (snippet, snippet:mmio, random, mutated)
              --rss-limit MIB kill and report a run whose RSS passes this (default %d)
              --ci            the CI round: seed %d, %d runs, %d s (what GuestFuzzRoundTest runs)
              --long          %d runs with a fresh seed
              --verbose       one line per run
            Exit status: 0 without violations, 1 with, 2 on bad usage.""".formatted(LONG_RUNS, RSS_LIMIT_MIB, CI_SEED, CI_RUNS,
            CI_TIME_LIMIT.toSeconds(), LONG_RUNS);

    public static void main(String[] args) throws Exception {
        long seed = new SecureRandom().nextLong() & Long.MAX_VALUE;
        int runs = 200;
        int onlyCase = -1;
        String onlyKind = "";
        long limit = 5;
        long rss = RSS_LIMIT_MIB;
        boolean verbose = false;
        try {
            for (int i = 0; i < args.length; i++) {
                switch (args[i]) {
                    case "--seed" -> seed = Long.parseLong(args[++i]);
                    case "--runs" -> runs = Integer.parseInt(args[++i]);
                    case "--time-limit" -> limit = Long.parseLong(args[++i]);
                    case "--case" -> onlyCase = Integer.parseInt(args[++i]);
                    case "--rss-limit" -> rss = Long.parseLong(args[++i]);
                    case "--kind" -> onlyKind = args[++i];
                    case "--ci" -> {
                        seed = CI_SEED;
                        runs = CI_RUNS;
                        limit = CI_TIME_LIMIT.toSeconds();
                    }
                    case "--long" -> runs = LONG_RUNS;
                    case "--verbose", "-v" -> verbose = true;
                    case "--help", "-h" -> {
                        System.out.println(USAGE);
                        return;
                    }
                    default -> throw new IllegalArgumentException("unknown option " + args[i]);
                }
            }
            if (runs < 1 || limit < 1 || rss < 64) {
                throw new IllegalArgumentException("--runs and --time-limit must be positive, --rss-limit at least 64");
            }
        } catch (RuntimeException e) {
            System.err.println("fuzz-guests: " + (e instanceof ArrayIndexOutOfBoundsException ? "an option lacks its value" : e.getMessage()));
            System.err.println(USAGE);
            System.exit(2);
        }
        Path project = Path.of(System.getProperty("jkvm.project.dir", ".")).toAbsolutePath().normalize();
        Path jar = project.resolve("target/jkvm.jar");
        List<String> launcher = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString()));
        launcher.addAll(jkvmJavaOptions(project));
        launcher.addAll(List.of("--enable-native-access=ALL-UNNAMED", "-cp", jar.toString(), "io.jkvm.cli.Main"));
        Options o = new Options(seed, runs, onlyCase, onlyKind, Duration.ofSeconds(limit), rss, project,
                project.resolve("target/fuzz-failures"), launcher, verbose);
        System.err.printf("fuzz-guests: seed %d, %s, %d s per run, RSS bound %d MiB, jkvm as %s%n", seed,
                onlyCase >= 0 ? "case " + onlyCase : runs + " runs", limit, rss, String.join(" ", launcher.subList(1, launcher.size())));
        Round round = run(o, System.err);
        System.exit(round.violations().isEmpty() ? 0 : 1);
    }
}

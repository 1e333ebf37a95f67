package io.jkvm.fuzz;

import java.util.ArrayList;
import java.util.List;

/**
 * README's contract for `jkvm run`, applied to one run: an exit status the guest could have caused (0 for HLT with
 * interrupts off, 2 for a failure, (v << 1) | 1 only after a write of v to port 0xF4), at most one line on stderr
 * and exactly one for status 2, that line jkvm's own, no Java stack trace or JVM crash, no hang, RSS under the bound.
 */
final class ContractCheck {
    private ContractCheck() {
    }

    /**
     * A broken rule: {@code rule} is a short stable name (status, stderr, stack-trace, internal-error, crash, hang,
     * memory, output).
     */
    record Violation(String rule, String detail) {
    }

    static List<Violation> check(FuzzCase c, JkvmProcess.Result r, long rssLimitKib) {
        List<Violation> found = new ArrayList<>();
        FuzzCase.Expectation e = c.expect();
        if (r.killedForMemory()) {
            found.add(new Violation("memory", "RSS passed " + (rssLimitKib >> 10) + " MiB after " + r.millis() + " ms; killed"));
        }
        if (r.timedOut() && !e.mayRunOn()) {
            found.add(new Violation("hang", "did not end within the time limit (" + r.millis() + " ms); this guest always ends"));
        }
        if (!r.crashFiles().isEmpty() || r.stdoutHead().contains("# A fatal error has been detected by the Java Runtime")) {
            found.add(new Violation("crash", "the JVM crashed (" + r.crashFiles() + ")"));
        }
        String stderr = r.stderr();
        if (stderr.contains("Exception in thread") || stderr.contains("at io.jkvm") || stderr.contains("\tat ")) {
            found.add(new Violation("stack-trace", "a Java stack trace on stderr: " + firstLines(stderr, 3)));
        }
        if (INTERNAL_ERROR.matcher(stderr).find()) {
            found.add(new Violation("internal-error", "a Java runtime exception's message as the error line: " + firstLines(stderr, 1)));
        }
        if (r.status() >= 0) {
            if (r.status() == e.wrongResultStatus()) {
                found.add(new Violation("status", "status " + r.status() + ": the guest computed a wrong result (it checks"
                        + " itself), expected " + e.describeAllowed()));
            } else if (!e.allows(r.status())) {
                found.add(new Violation("status", "status " + r.status() + ", expected " + e.describeAllowed()));
            }
            List<String> lines = stderr.lines().toList();
            if (lines.size() > 1) {
                found.add(new Violation("stderr", lines.size() + " lines on stderr: " + firstLines(stderr, 3)));
            } else if (r.status() == 2 && lines.isEmpty()) {
                found.add(new Violation("stderr", "status 2 without the line on stderr that says why"));
            } else if (lines.size() == 1 && !lines.getFirst().startsWith("jkvm: ")) {
                found.add(new Violation("stderr", "a stderr line that is not jkvm's: " + firstLines(stderr, 1)));
            }
            if (e.stdoutBytes() >= 0 && (r.status() & 1) == 1 && r.stdoutBytes() != e.stdoutBytes()) { // it reached its exit
                found.add(new Violation("output", "the guest wrote " + e.stdoutBytes() + " bytes to COM1, stdout had "
                        + r.stdoutBytes()));
            }
        }
        return found;
    }

    /**
     * A Java runtime exception reported as if it were jkvm's answer: the CLI's marker for an exception without a
     * message, or the JDK's own messages (index checks, nulls, casts, arithmetic).
     */
    private static final java.util.regex.Pattern INTERNAL_ERROR = java.util.regex.Pattern.compile(
            "\\(a jkvm bug|out of bounds for (length|byte)|Cannot invoke \"|Cannot read (field|the array)|because \"[^\"]*\" is null"
                    + "|NullPointerException|ClassCastException|ArithmeticException|/ by zero|IllegalStateException");

    private static String firstLines(String text, int n) {
        return String.join(" | ", text.lines().limit(n).map(String::strip).toList());
    }
}

package io.jkvm.testing;

import io.jkvm.cli.Main;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;

/** Runs the real CLI entry point in-process with captured streams. */
public final class Cli {
    private Cli() {
    }

    public record Result(int status, String out, String err) {
        /** The error output must be exactly one line. */
        public String errorLine() {
            String e = err.strip();
            if (e.contains("\n")) {
                throw new AssertionError("error output is not one line:\n" + err);
            }
            return e;
        }
    }

    public static Result run(String... args) {
        return runWithInput("", args);
    }

    public static Result runWithInput(String input, String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int status = Main.execute(args, new PrintStream(out, true, StandardCharsets.UTF_8),
                new PrintStream(err, true, StandardCharsets.UTF_8),
                new ByteArrayInputStream(input.getBytes(StandardCharsets.UTF_8)));
        return new Result(status, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }
}

package io.jkvm.sandbox;

import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Run in a child JVM by SandboxRunTest: enters the sandbox with the code `jkvm run --sandbox on` uses, then tries
 * what the filter forbids and what it allows, one line each: "NAME: allowed" or "NAME: " and the error.
 */
public final class SandboxProbe {
    private SandboxProbe() {
    }

    public static void main(String[] args) throws Exception {
        Path file = Path.of(args[0]); // a file this process could read before the sandbox
        Files.readString(file);
        probe("before", () -> { }); // loads this class's own helpers from test-classes while files still open
        Sandbox.Entered in = Sandbox.enter(Optional.empty(), true); // NIO loaded: a socket is refused by the filter itself
        System.out.println("entered: " + in.user() + " " + in.uid());
        probe("open", () -> Files.readString(file));
        probe("exec", () -> new ProcessBuilder("/bin/true").start().waitFor());
        probe("socket", () -> SocketChannel.open().close());
        AtomicBoolean ran = new AtomicBoolean();
        probe("thread", () -> {
            Thread t = Thread.ofPlatform().start(() -> ran.set(true));
            t.join();
            if (!ran.get()) {
                throw new IllegalStateException("the thread did not run");
            }
        });
        System.out.flush();
    }

    private interface Attempt {
        void run() throws Exception;
    }

    private static void probe(String name, Attempt attempt) {
        try {
            attempt.run();
            System.out.println(name + ": allowed");
        } catch (Exception e) {
            System.out.println(name + ": " + e.getMessage());
        }
    }
}

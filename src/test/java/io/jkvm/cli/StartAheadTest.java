package io.jkvm.cli;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class StartAheadTest {
    private static List<Thread> aheadThreads() {
        return Thread.getAllStackTraces().keySet().stream().filter(t -> t.getName().startsWith("jkvm-start-ahead")).toList();
    }

    @Test
    void aMachineCommandWorksAheadOnTwoThreadsAndTheWaitEndsOnlyOnceBothHaveEnded() {
        StartAhead.begin(new String[]{"run", "--backend", "emulator"});
        List<Thread> started = StartAhead.threads();
        assertEquals(List.of("jkvm-start-ahead", "jkvm-start-ahead-sandbox"), started.stream().map(Thread::getName).toList(),
                "the links' thread and the sandbox parts' thread");
        StartAhead.await();
        assertTrue(started.stream().noneMatch(Thread::isAlive), "a thread still runs after the wait");
        assertEquals(List.of(), aheadThreads(), "a start-ahead thread is left");
        StartAhead.await(); // nothing begun: returns at once
    }

    @Test
    void kvmsVcpuBindingsAreMadeAheadUnlessTheCommandLineNamesTheEmulator() {
        assertFalse(StartAhead.namesTheEmulator(new String[]{"run"}));
        assertFalse(StartAhead.namesTheEmulator(new String[]{"run", "--backend", "kvm", "--image", "g.elf"}));
        assertTrue(StartAhead.namesTheEmulator(new String[]{"run", "--backend", "emulator"}));
        assertTrue(StartAhead.namesTheEmulator(new String[]{"run", "--backend=emulator", "--mem", "64M"}));
    }

    @Test
    void nioSocketsAreOpenedAheadOnlyWhenTheCommandLineNamesASocket() {
        assertFalse(StartAhead.namesASocket(new String[]{"run", "--backend", "emulator"}));
        assertTrue(StartAhead.namesASocket(new String[]{"run", "--api-socket", "/tmp/s"}));
        assertTrue(StartAhead.namesASocket(new String[]{"run", "--api-socket=/tmp/s"}));
        assertTrue(StartAhead.namesASocket(new String[]{"run", "--incoming", "tcp:0.0.0.0:4444"}));
    }

    @Test
    void otherCommandsStartNoThread() {
        for (String first : new String[]{"info", "ctl", "--version", "help", "snapshot"}) {
            StartAhead.begin(new String[]{first, "run"});
            assertEquals(List.of(), aheadThreads(), first + " started one");
        }
        StartAhead.begin(new String[0]);
        assertEquals(List.of(), aheadThreads());
    }
}

package io.jkvm.bench;

import io.jkvm.testing.LongModeVm;
import io.jkvm.testing.TestGuests;
import io.jkvm.x86.VcpuExit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

import java.nio.file.Files;
import java.util.concurrent.TimeUnit;

/** One PIO exit round trip: the guest OUTs to port 0x80 in a loop; each op is KVM_RUN, decode the exit, read its data. */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = "--enable-native-access=ALL-UNNAMED")
public class PioBench {
    private LongModeVm guest;

    @Setup
    public void setUp() throws Exception {
        guest = new LongModeVm(Files.readAllBytes(TestGuests.path("pio_loop.bin")));
    }

    @TearDown
    public void tearDown() {
        guest.close();
    }

    @Benchmark
    public long pioRoundTripJkvm() {
        if (guest.vcpu.run() instanceof VcpuExit.Io io && io.port() == 0x80) {
            return io.data().get(0);
        }
        throw new IllegalStateException("the PIO loop guest left its loop");
    }
}

package io.jkvm.bench;

import io.jkvm.testing.LongModeVm;
import io.jkvm.x86.XsaveArea;
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

import java.util.concurrent.TimeUnit;

/** KVM_GET_XSAVE2 + KVM_SET_XSAVE on a live vCPU: the raw image, and through the typed XSAVE area. */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = "--enable-native-access=ALL-UNNAMED")
public class XsaveBench {
    private LongModeVm guest;

    @Setup
    public void setUp() {
        guest = new LongModeVm(LongModeVm.hex("f4"));
    }

    @TearDown
    public void tearDown() {
        guest.close();
    }

    @Benchmark
    public byte[] xsaveRoundTripJkvm() {
        byte[] image = guest.vcpu.xsave();
        guest.vcpu.setXsave(image);
        return image;
    }

    @Benchmark
    public XsaveArea xsaveRoundTripTypedJkvm() {
        XsaveArea area = guest.vcpu.xsaveArea();
        guest.vcpu.setXsave(area);
        return area;
    }
}

package io.jkvm.bench;

import io.jkvm.kvm.Capability;
import io.jkvm.kvm.Kvm;
import io.jkvm.kvm.KvmVcpu;
import io.jkvm.kvm.Vm;
import io.jkvm.x86.Registers;
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

/** ioctl call overhead: KVM_CHECK_EXTENSION (the cheapest) and KVM_GET_REGS on a live vCPU, jkvm's FFM vs JNA. */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = "--enable-native-access=ALL-UNNAMED")
public class IoctlBench {
    private Kvm kvm;
    private Vm vm;
    private KvmVcpu vcpu;
    private JnaKvm jna;

    @Setup
    public void setUp() {
        kvm = Kvm.open();
        vm = kvm.createVm();
        vcpu = vm.createVcpu(0);
        jna = new JnaKvm();
    }

    @TearDown
    public void tearDown() {
        jna.close();
        vm.close();
        kvm.close();
    }

    @Benchmark
    public int checkExtensionJkvm() {
        return kvm.checkExtension(Capability.XSAVE2);
    }

    /** The floor: a bare critical FFM downcall of ioctl, no errno capture, no error check. Not a usable API. */
    @Benchmark
    public int checkExtensionRawFfm() throws Throwable {
        return (int) RAW_IOCTL.invokeExact(jna.kvm, JnaKvm.KVM_CHECK_EXTENSION, (long) JnaKvm.KVM_CAP_XSAVE2);
    }

    private static final java.lang.invoke.MethodHandle RAW_IOCTL = java.lang.foreign.Linker.nativeLinker().downcallHandle(
            java.lang.foreign.Linker.nativeLinker().defaultLookup().find("ioctl").orElseThrow(),
            java.lang.foreign.FunctionDescriptor.of(java.lang.foreign.ValueLayout.JAVA_INT, java.lang.foreign.ValueLayout.JAVA_INT,
                    java.lang.foreign.ValueLayout.JAVA_LONG, java.lang.foreign.ValueLayout.JAVA_LONG),
            java.lang.foreign.Linker.Option.firstVariadicArg(2), java.lang.foreign.Linker.Option.critical(false));

    @Benchmark
    public int checkExtensionJna() {
        return jna.checkExtension();
    }

    @Benchmark
    public Registers getRegsJkvm() {
        return vcpu.registers();
    }

    @Benchmark
    public long getRegsJna() {
        return jna.getRegsRip();
    }
}

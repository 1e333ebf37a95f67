package io.jkvm.bench;

import io.jkvm.emu.EmulatedVcpu;
import io.jkvm.machine.GuestImage;
import io.jkvm.machine.GuestMemory;
import io.jkvm.machine.LongModeBoot;
import io.jkvm.kvm.Kvm;
import io.jkvm.kvm.KvmVcpu;
import io.jkvm.kvm.Vm;
import io.jkvm.x86.CpuidTable;
import io.jkvm.x86.VcpuExit;
import io.jkvm.x86.VirtualCpu;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

/**
 * Guest MIPS, both backends in one run: each benchmark guest runs on the software core and on this machine's KVM
 * (2 warm-up runs, then 5 measured; the median is reported). The instruction count comes from the software core,
 * which counts what it retires; the same guest with the same input retires the same instructions on KVM.
 * Usage: GuestMips GUEST_DIR
 */
public final class GuestMips {
    private GuestMips() {
    }

    record Result(long instructions, double seconds) {
        double mips() {
            return instructions / seconds / 1e6;
        }
    }

    public static void main(String[] args) throws Exception {
        Path dir = Path.of(args.length > 0 ? args[0] : "target/test-classes/guests");
        CpuidTable cpuid;
        try (Kvm kvm = Kvm.open()) {
            cpuid = kvm.supportedCpuid();
        }
        System.out.println("| guest | software core MIPS | KVM MIPS | core / KVM |");
        System.out.println("|---|---|---|---|");
        for (String[] g : new String[][]{{"mips_loop.bin", "30000000", "300000"}, {"mips_mixed.bin", "2000", "40"}}) {
            byte[] image = Files.readAllBytes(dir.resolve(g[0]));
            Result core = measure(image, Long.parseLong(g[1]), cpuid, false);
            Result kvm = measure(image, Long.parseLong(g[2]), cpuid, true);
            System.out.printf("| %s | %.1f (%d instructions in %.3f s) | %.2f (%d in %.3f s) | %.0f |%n", g[0].replace(".bin", ""),
                    core.mips(), core.instructions(), core.seconds(), kvm.mips(), kvm.instructions(), kvm.seconds(), core.mips() / kvm.mips());
        }
    }

    private static Result measure(byte[] image, long n, CpuidTable cpuid, boolean onKvm) {
        long instructions = count(image, n, cpuid);
        double[] times = new double[5];
        for (int i = -2; i < times.length; i++) {
            double t = onKvm ? runKvm(image, n, cpuid) : runCore(image, n, cpuid)[0];
            if (i >= 0) {
                times[i] = t;
            }
        }
        Arrays.sort(times);
        return new Result(instructions, times[times.length / 2]);
    }

    private static long count(byte[] image, long n, CpuidTable cpuid) {
        return (long) runCore(image, n, cpuid)[1];
    }

    private static GuestMemory memory(byte[] image) {
        GuestMemory m = GuestMemory.allocate(16L << 20);
        LongModeBoot.writeTables(m);
        GuestImage.parse("bench", image, GuestImage.DEFAULT_LOAD_ADDRESS).loadInto(m);
        return m;
    }

    private static void boot(VirtualCpu v, long n, long ram) {
        v.setSpecialRegisters(LongModeBoot.specialRegisters(v.specialRegisters(), false));
        v.setRegisters(LongModeBoot.registers(GuestImage.DEFAULT_LOAD_ADDRESS, ram).withGpr(7, n));
    }

    /** Seconds, and instructions retired. */
    private static double[] runCore(byte[] image, long n, CpuidTable cpuid) {
        try (GuestMemory m = memory(image)) {
            EmulatedVcpu v = new EmulatedVcpu(0, m.mapping(), new io.jkvm.x86.CpuModel("host", cpuid, io.jkvm.linux.HostCpu.mxcsrMask()));
            boot(v, n, m.size());
            long t0 = System.nanoTime();
            VcpuExit e = v.run();
            double s = (System.nanoTime() - t0) / 1e9;
            if (!(e instanceof VcpuExit.Io io && io.port() == 0x80)) {
                throw new IllegalStateException("benchmark guest ended with " + e);
            }
            return new double[]{s, v.instructions() + 1};
        }
    }

    private static double runKvm(byte[] image, long n, CpuidTable cpuid) {
        try (GuestMemory m = memory(image); Kvm kvm = Kvm.open(); Vm vm = kvm.createVm()) {
            vm.setUserMemoryRegion(0, 0, m.size(), m.hostAddress(), false);
            KvmVcpu v = vm.createVcpu(0);
            v.setCpuid(cpuid);
            boot(v, n, m.size());
            long t0 = System.nanoTime();
            VcpuExit e = v.run();
            double s = (System.nanoTime() - t0) / 1e9;
            if (!(e instanceof VcpuExit.Io io && io.port() == 0x80)) {
                throw new IllegalStateException("benchmark guest ended on KVM with " + e);
            }
            return s;
        }
    }
}

package io.jkvm.bench;

import io.jkvm.emu.EmulatedVcpu;
import io.jkvm.kvm.Kvm;
import io.jkvm.machine.GuestImage;
import io.jkvm.machine.GuestMemory;
import io.jkvm.machine.LongModeBoot;
import io.jkvm.x86.CpuModel;
import io.jkvm.x86.CpuidTable;
import io.jkvm.x86.VcpuExit;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The guest time of scripts/bench-core's guests, without the JVM's start: each guest runs RUNS times in this one
 * process on a fresh vCPU and fresh memory (so its blocks are decoded, compiled and JIT-compiled again each time), and
 * the seconds from its first instruction to its debug-exit are printed. What a change to the core's hot paths does,
 * with less of the launch-to-launch spread of whole-process times. Usage: CoreGuestTimes GUEST_DIR RUNS GUEST...
 */
public final class CoreGuestTimes {
    private CoreGuestTimes() {
    }

    public static void main(String[] args) throws Exception {
        Path dir = Path.of(args[0]);
        int runs = Integer.parseInt(args[1]);
        CpuidTable cpuid;
        try (Kvm kvm = Kvm.open()) {
            cpuid = kvm.supportedCpuid();
        }
        for (int g = 2; g < args.length; g++) {
            byte[] image = Files.readAllBytes(dir.resolve(args[g] + ".elf"));
            List<String> times = new ArrayList<>();
            for (int i = 0; i < runs; i++) {
                times.add(String.format("%.3f", run(image, cpuid)));
            }
            System.out.println(args[g] + ": " + String.join(" ", times));
        }
    }

    /** Seconds from the guest's entry to its write to the debug-exit port 0xf4. */
    private static double run(byte[] image, CpuidTable cpuid) {
        try (GuestMemory m = GuestMemory.allocate(64L << 20)) {
            LongModeBoot.writeTables(m);
            GuestImage guest = GuestImage.parse("bench", image, GuestImage.DEFAULT_LOAD_ADDRESS);
            guest.loadInto(m);
            EmulatedVcpu v = new EmulatedVcpu(0, m.mapping(), new CpuModel("host", cpuid, io.jkvm.linux.HostCpu.mxcsrMask()));
            v.setSpecialRegisters(LongModeBoot.specialRegisters(v.specialRegisters(), false));
            v.setRegisters(LongModeBoot.registers(guest.entry(), m.size()));
            long start = System.nanoTime();
            while (true) {
                VcpuExit e = v.run();
                if (e instanceof VcpuExit.Io io && io.port() == 0xf4) {
                    return (System.nanoTime() - start) / 1e9;
                }
                if (!(e instanceof VcpuExit.Io)) { // the result line's bytes go to COM1 on the way
                    throw new IllegalStateException(guest.name() + " ended with " + e);
                }
            }
        }
    }
}
